"""The model seam: one protocol every agent backend implements.

``resolve_runner`` turns the user's ``model`` option into a runner:

- ``"offline"`` (default) - the deterministic template drafter, no network, no key;
- an Anthropic model id (``claude-...``) - the Claude runner (``_anthropic``);
- a langchain-core ``BaseChatModel`` - the chat-model runner (``_chat_model``);
- any object with a ``run(call)`` method - used as is (see ``referral_orchestrator.testing``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from pydantic import BaseModel

from ._errors import ModelConfigError


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
    """Tokens and cost of the model calls behind one agent result."""

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


def resolve_runner(model: Any = None, **options: Any) -> AgentRunner:
    """Turn the ``model`` option into a runner (see the module docstring).

    ``options`` go to the model runners (e.g. ``max_cost_usd``); the offline drafter and
    ready-made runners ignore them. A runner may offer ``preflight()``, which the
    orchestrator calls before anything is written (missing or rejected API key -> exit 2).
    """
    if model is None or model == "offline":
        from ._drafter import OfflineDrafter

        return OfflineDrafter()
    if isinstance(model, str):
        if model.startswith("claude-"):
            from ._anthropic import AnthropicRunner  # type: ignore[import-untyped,unused-ignore]

            runner: AgentRunner = AnthropicRunner(model=model, **options)
            return runner
        raise ModelConfigError(
            f"unknown --model {model!r}: use 'offline' or an Anthropic model id such as "
            "claude-sonnet-5-5",
        )
    if isinstance(model, AgentRunner):
        return model
    try:
        from langchain_core.language_models import BaseChatModel
    except ImportError:  # pragma: no cover - langchain-core is a dependency
        BaseChatModel = None  # type: ignore[assignment,misc]
    if BaseChatModel is not None and isinstance(model, BaseChatModel):
        from ._chat_model import ChatModelRunner  # type: ignore[import-untyped,unused-ignore]

        chat: AgentRunner = ChatModelRunner(model, **options)
        return chat
    raise ModelConfigError(
        f"model option {type(model).__name__} is not supported: pass 'offline', an Anthropic "
        "model id, a langchain-core chat model, or an object with run(call)",
    )
