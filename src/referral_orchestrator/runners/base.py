"""The model seam: one protocol every agent backend implements, and what flows through it.

A runner gets an :class:`AgentCall` (who, which stage, inputs, output type) and returns an
:class:`AgentResult` (the validated output and the :class:`Usage` it cost). Backends live
beside this module; :func:`~referral_orchestrator.runners.resolve.resolve_runner` picks one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel


@dataclass(frozen=True)
class AgentCall:
    """One unit of agent work: who, which stage, what inputs, which output type."""

    agent: str
    stage: str
    output_type: type[BaseModel]
    inputs: dict[str, Any]
    attempt: int = 1
    feedback: tuple[str, ...] = ()
    key: str = ""  # stable id of the work item (e.g. "communications:email:power-users")


@dataclass
class Usage:
    """Tokens and cost of the billed requests behind one agent step.

    A runner adds every response that carried a usage block - the answer, a re-ask, an
    invalid answer, a billed error - and attaches the total to the error when the step
    fails (``AgentError.usage``), so the plan counts what the provider billed.
    """

    model: str = ""
    calls: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_usd: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        """Plain data for state and the plan."""
        return dict(self.__dict__)

    def add(self, *, input_tokens: int = 0, output_tokens: int = 0, cache_read_tokens: int = 0,
            cache_write_tokens: int = 0, cost_usd: float = 0.0) -> None:
        """Count one billed request (``input_tokens`` = uncached input, as the Messages API)."""
        self.calls += 1
        self.input_tokens += input_tokens
        self.output_tokens += output_tokens
        self.cache_read_tokens += cache_read_tokens
        self.cache_write_tokens += cache_write_tokens
        self.cost_usd = round(self.cost_usd + cost_usd, 8)


@dataclass
class AgentResult:
    """What a runner returns: the validated output and, for real models, its usage."""

    output: BaseModel
    usage: Usage | None = None
    notes: list[str] = field(default_factory=list)


@runtime_checkable
class AgentRunner(Protocol):
    """Anything that can do an agent's work for a stage."""

    name: str

    def run(self, call: AgentCall) -> AgentResult:
        """Do the work and return an output of ``call.output_type``."""
        ...


def answers_at_once(runner: object) -> bool:
    """The runner's calls return without waiting on a model (``answers_at_once = True``:
    the offline drafter, scripted test runners), so work done while calls wait would only
    compete with the run for the interpreter. Any other runner is taken to wait."""
    return bool(getattr(runner, "answers_at_once", False))

