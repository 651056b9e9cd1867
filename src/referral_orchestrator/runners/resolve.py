"""``resolve_runner``: the user's ``model`` option -> a runner (the only place that picks one).

- ``"offline"`` (default) - the deterministic template drafter, no network, no key;
- an Anthropic model id (``claude-...``) - the Claude runner (:mod:`.anthropic`);
- a langchain-core ``BaseChatModel`` - the chat-model runner (:mod:`.chat_model`);
- any object with a ``run(call)`` method - used as is (see ``referral_orchestrator.testing``).
"""

from __future__ import annotations

from typing import Any

from referral_orchestrator.errors import ModelConfigError

from .base import AgentRunner


def resolve_runner(model: Any = None, **options: Any) -> AgentRunner:
    """Turn the ``model`` option into a runner (see the module docstring).

    ``options`` go to the model runners (e.g. ``max_cost_usd``); the offline drafter and
    ready-made runners ignore them. A runner may offer ``preflight()``, which the
    orchestrator calls before anything is written (missing or rejected API key -> exit 2).
    """
    if model is None or model == "offline":
        from .offline import OfflineDrafter

        return OfflineDrafter()
    if isinstance(model, str):
        if model.startswith("claude-"):
            from .anthropic import AnthropicRunner  # type: ignore[import-untyped,unused-ignore]

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
        from .chat_model import ChatModelRunner  # type: ignore[import-untyped,unused-ignore]

        chat: AgentRunner = ChatModelRunner(model, **options)
        return chat
    raise ModelConfigError(
        f"model option {type(model).__name__} is not supported: pass 'offline', an Anthropic "
        "model id, a langchain-core chat model, or an object with run(call)",
    )
