"""Scripted agents for tests and demos: inject failures at the agent seam.

    from referral_orchestrator.testing import ScriptedRunner, fail, reply, unavailable

    runner = ScriptedRunner({
        ("lifecycle-ops", "tooling-qa"): [break_links(), break_links(), reply()],
        "partner-manager": [unavailable()],
    })
    Orchestrator(plans_dir, model=runner).launch(...)
    runner.assert_all_used()

A script key is ``(agent, stage)``, an agent name, or ``"*"``. Each call to that key takes
the next step; when a key's steps run out the offline drafter answers (``strict=True``
raises instead). Steps: :func:`reply`, :func:`reply_with`, :func:`fail`, :func:`timeout`,
:func:`unavailable`, :func:`invalid`, :func:`break_links`.

Ready-made runners for the escalation ladder: :func:`failing_qa` fails tooling QA a given
number of times; :func:`stuck_at_sponsor_runner` fails it until the run waits for the exec
sponsor (``QA_FAILURES_TO_SPONSOR`` failures: the first try, each retry, the architect's
rerun)::

    waiting = Orchestrator(plans_dir, model=stuck_at_sponsor_runner()).launch(...)
    assert waiting.status == "awaiting_decision"
    Orchestrator(plans_dir).escalation(waiting.plan_id, "proceed", by="Jordan")
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from .errors import AgentError, AgentTimeout, AgentUnavailable, InvalidAgentOutput
from .launch.stages import MAX_RETRIES
from .runners.base import AgentCall, AgentResult, AgentRunner, Usage
from .runners.offline import OfflineDrafter

__all__ = [
    "QA_FAILURES_TO_SPONSOR",
    "ScriptedRunner",
    "Step",
    "break_links",
    "fail",
    "failing_qa",
    "invalid",
    "reply",
    "reply_with",
    "stuck_at_sponsor_runner",
    "timeout",
    "unavailable",
]


@dataclass(frozen=True)
class Step:
    """One scripted answer: transform the drafter's output, or raise."""

    kind: str
    transform: Callable[[BaseModel, AgentCall], BaseModel] | None = None
    error: AgentError | None = None
    usage: Usage | None = None


def reply(usage: Usage | None = None) -> Step:
    """Answer with the offline drafter's output."""
    return Step("reply", usage=usage)


def reply_with(transform: Callable[[BaseModel, AgentCall], BaseModel]) -> Step:
    """Answer with ``transform(drafter_output, call)``."""
    return Step("reply", transform=transform)


def fail(message: str = "scripted failure") -> Step:
    """Raise an agent error (counts against the stage's retry budget)."""
    return Step("fail", error=AgentError(message))


def timeout() -> Step:
    """Raise a timeout (counts against the stage's retry budget)."""
    return Step("timeout", error=AgentTimeout("scripted timeout"))


def unavailable(reason: str = "scripted: unavailable") -> Step:
    """Raise ``AgentUnavailable``: the work moves to the agent's substitute."""
    return Step("unavailable", error=AgentUnavailable(reason))


def invalid() -> Step:
    """Return output that does not validate against the stage's type."""
    return Step("invalid", error=InvalidAgentOutput("scripted invalid output"))


def break_links() -> Step:
    """Tooling output whose tracking links lose their UTM parameters (QA fails)."""

    def strip(output: BaseModel, call: AgentCall) -> BaseModel:
        data = output.model_dump()
        for link in data.get("tracking_links", []):
            link["url"] = link["url"].split("?")[0]
        return type(output).model_validate(data)

    return Step("break_links", transform=strip)


@dataclass
class ScriptedRunner:
    """An :class:`AgentRunner` that follows a script, then falls back to the drafter."""

    script: Mapping[Any, Iterable[Step]] = field(default_factory=dict)
    strict: bool = False
    name: str = "scripted"
    answers_at_once: bool = True  # runners.base.answers_at_once

    def __post_init__(self) -> None:
        self._queues: dict[Any, list[Step]] = {k: list(v) for k, v in self.script.items()}
        self._lock = threading.Lock()
        self._drafter = OfflineDrafter()
        self.calls: list[tuple[str, str, str, str]] = []  # (agent, stage, key, step kind)

    def _next(self, call: AgentCall) -> Step | None:
        with self._lock:
            for key in ((call.agent, call.stage), call.agent, "*"):
                queue = self._queues.get(key)
                if queue:
                    step = queue.pop(0)
                    self.calls.append((call.agent, call.stage, call.key, step.kind))
                    return step
            self.calls.append((call.agent, call.stage, call.key, "drafter"))
        if self.strict:
            raise AssertionError(f"no scripted step for {call.agent}/{call.stage}")
        return None

    def run(self, call: AgentCall) -> AgentResult:
        """Take the next scripted step for this agent and stage."""
        step = self._next(call)
        if step is not None and step.error is not None:
            if step.kind == "invalid":
                return AgentResult(output=_Invalid())
            raise step.error
        result = self._drafter.run(call)
        if step is not None and step.transform is not None:
            result.output = step.transform(result.output, call)
        if step is not None and step.usage is not None:
            result.usage = step.usage
        return result

    def unused(self) -> dict[Any, int]:
        """Script keys with steps left over."""
        return {k: len(v) for k, v in self._queues.items() if v}

    def assert_all_used(self) -> None:
        """Fail if any scripted step was never taken."""
        left = self.unused()
        if left:
            raise AssertionError(f"scripted steps never used: {left}")


#: Tooling QA failures that reach the exec sponsor: the first try, each of the ``MAX_RETRIES``
#: retries, then the referral architect's rerun.
QA_FAILURES_TO_SPONSOR = 1 + MAX_RETRIES + 1


def failing_qa(times: int) -> ScriptedRunner:
    """A runner whose tooling output fails QA ``times`` times in a row, then passes.

    Fewer than ``1 + MAX_RETRIES`` failures are retried away; one more climbs to the referral
    architect, who reruns the stage once; :data:`QA_FAILURES_TO_SPONSOR` asks the exec sponsor.
    """
    return ScriptedRunner({("lifecycle-ops", "tooling-qa"): [break_links()] * times})


def stuck_at_sponsor_runner() -> ScriptedRunner:
    """A runner with which a launch stops at ``awaiting_decision``, waiting for the exec sponsor
    to proceed, postpone, descope or halt (tooling QA fails every attempt)."""
    return failing_qa(QA_FAILURES_TO_SPONSOR)


class _Invalid(BaseModel):
    """An output of the wrong shape (fails the stage's schema)."""

    nonsense: str = "not the stage's output"


def _check_protocol(runner: AgentRunner) -> AgentRunner:  # pragma: no cover - typing aid
    return runner


_check_protocol(ScriptedRunner())
