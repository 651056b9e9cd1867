"""Graph state (what the checkpoint holds) and the run context (what is injected).

State is plain JSON-able data so the checkpoint, the plan JSON and a LangGraph server all
see the same thing. The TypedDicts come from ``typing_extensions`` so pydantic can turn them
into the JSON schemas a LangGraph server publishes (Studio's forms) on Python 3.11 too.
Guardrail bookkeeping - attempts, extra budget, failures, the current escalation - is state
too, so it survives a crash and shows in the plan.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar

from pydantic import ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema
from typing_extensions import TypedDict

from referral_orchestrator.launch.stages import MAX_RETRIES
from referral_orchestrator.launch.zones import aware_clock
from referral_orchestrator.runners import AgentRunner


def merge(left: dict[str, Any] | None, right: dict[str, Any] | None) -> dict[str, Any]:
    """Dict reducer: right wins per key; a ``None`` value deletes the key."""
    out = dict(left or {})
    for key, value in (right or {}).items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = value
    return out


class LaunchState(TypedDict, total=False):
    """Everything the launch knows, stage by stage."""

    run_id: str  # one per launch: ties a checkpoint thread to the plan that started it
    request: dict[str, Any]
    roster: dict[str, Any]
    landing_url: str
    probe_landing: bool  # QA probes landing_url over HTTP (the user gave a real one)
    status: str
    charter: dict[str, Any]
    tasks: list[dict[str, Any]]
    compressed_tasks: list[str]
    full_lead_launch: str  # earliest launch date that gives every task its lead time
    tooling: dict[str, Any]
    qa: Annotated[dict[str, Any], merge]  # stage -> {"passed", "checks", "attempt"}
    comms: Annotated[dict[str, Any], merge]  # work key -> {"assets", "agent"}
    enablement: dict[str, Any]
    partner_workflows: dict[str, Any]
    golive: dict[str, Any]
    approvals: Annotated[dict[str, Any], merge]  # approver -> approval record
    # guardrails
    outcome: Annotated[dict[str, str], merge]  # stage -> ok | failed | escalate
    attempts: Annotated[dict[str, int], merge]  # stage -> attempts made
    budget: Annotated[dict[str, int], merge]  # stage -> extra attempts granted by the ladder
    failures: Annotated[dict[str, Any], merge]  # stage or work key -> last failure notes
    excluded: Annotated[dict[str, list[str]], merge]  # stage or work key -> agents that failed
    assigned: Annotated[dict[str, str], merge]  # stage or work key -> substitute now doing it
    reassignment: dict[str, Any] | None  # the handover a stage asked the reassign node for
    waivers: Annotated[list[str], operator.add]  # QA check ids the exec sponsor accepted
    escalation: dict[str, Any] | None
    decision: dict[str, Any] | None
    # audit trail (append-only)
    substitutions: Annotated[list[dict[str, Any]], operator.add]
    escalations: Annotated[list[dict[str, Any]], operator.add]
    remediations: Annotated[list[dict[str, Any]], operator.add]
    changes: Annotated[list[dict[str, Any]], operator.add]
    transitions: Annotated[list[dict[str, Any]], operator.add]
    usage: Annotated[list[dict[str, Any]], operator.add]


class DraftState(TypedDict, total=False):
    """Input of one fanned-out communications task (sent with ``Send``)."""

    request: dict[str, Any]
    charter: dict[str, Any]
    landing_url: str
    key: str
    channel: str
    segment: str
    link: str
    attempt: int
    feedback: list[str]
    roster: dict[str, Any]
    excluded: dict[str, list[str]]
    assigned: dict[str, str]


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class RunContext:
    """Dependencies injected into every node through LangGraph's runtime context.

    The library injects a ``runner`` (and a ``clock``); a LangGraph server client sends
    plain data, ``{"model": "claude-...", "max_concurrency": 4}``, and the runner is
    resolved from ``model``. Only those two fields are in the published context schema.
    """

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(arbitrary_types_allowed=True)

    runner: SkipJsonSchema[AgentRunner | None] = None
    clock: SkipJsonSchema[Callable[[], dt.datetime]] = field(default=_utcnow)
    max_concurrency: Annotated[int, Field(ge=1, description="parallel drafts at most")] = 8
    model: Annotated[str, Field(
        description="offline (the deterministic drafter) or an Anthropic model id")] = "offline"
    # called as a model call starts: the orchestrator composes files while calls wait
    on_call: SkipJsonSchema[Callable[[], None] | None] = None

    def __post_init__(self) -> None:
        if self.clock is not _utcnow:  # a host's clock: a naive reading becomes UTC
            self.clock = aware_clock(self.clock)

    def get_runner(self) -> AgentRunner:
        """The runner, resolved from ``model`` (the offline drafter by default)."""
        if self.runner is None:
            from referral_orchestrator.runners import resolve_runner

            self.runner = resolve_runner(self.model)
        return self.runner


def attempts_allowed(state: LaunchState, stage: str) -> int:
    """First try + MAX_RETRIES + whatever the ladder granted for this stage."""
    return 1 + MAX_RETRIES + state.get("budget", {}).get(stage, 0)
