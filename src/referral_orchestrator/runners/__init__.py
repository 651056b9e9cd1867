"""The model seam: one protocol every agent backend implements, and the backends.

- :class:`AgentRunner` - the protocol (``name`` and ``run(call) -> AgentResult``);
- :func:`resolve_runner` - ``"offline"``, an Anthropic model id, a langchain-core chat
  model or any runner object -> a runner;
- backends: :mod:`.offline` (the deterministic drafter), :mod:`.anthropic` (Claude),
  :mod:`.chat_model` (any ``BaseChatModel``); :mod:`.retry` and :mod:`.pricing` are shared.
"""

from __future__ import annotations

from .base import AgentCall, AgentResult, AgentRunner, Usage
from .resolve import resolve_runner

__all__ = ["AgentCall", "AgentResult", "AgentRunner", "Usage", "resolve_runner"]
