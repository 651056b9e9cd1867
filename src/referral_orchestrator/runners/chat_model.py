"""Any langchain-core chat model as the agents' backend (ChatAnthropic, ChatOpenAI, a host's own).

The runner binds the stage's output schema as a tool (``bind_tools`` with ``tool_choice``
forcing it), validates the tool call against the stage's output type, re-asks once with
the validation error, and records usage from ``AIMessage.usage_metadata``. Models without
tool calling get the schema in the prompt and answer with JSON text instead.

Same guardrails as the Claude runner: transient failures are retried by ``_retry`` with the
model's own retries switched off (a copy with ``max_retries=0`` when the model has that
field), the budget is checked before each call, and errors end up in the agent error family
the graph understands. Prompt-cache breakpoints are sent only to Anthropic chat models
(other providers reject unknown block keys); every model gets the same stable prefix.
"""

from __future__ import annotations

import functools
import json
import threading
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from pydantic import BaseModel, ValidationError

from referral_orchestrator.errors import AgentError, InvalidAgentOutput

from . import prompting
from .base import AgentCall, AgentResult, Usage
from .pricing import Budget, PriceTable, default_price_table
from .retry import RetryableFailure, RetryPolicy

_TRANSIENT_NAMES = ("RateLimit", "Overloaded", "Timeout", "APIConnectionError",
                    "ServiceUnavailable", "InternalServerError")
_CHARS_PER_TOKEN = 3.5


def without_sdk_retries(model: BaseChatModel) -> BaseChatModel:
    """A copy of ``model`` whose own client does not retry (so retries never stack)."""
    if "max_retries" not in type(model).model_fields or getattr(model, "max_retries", 0) == 0:
        return model
    copy = model.model_copy(update={"max_retries": 0})
    # Clients built lazily (cached properties) were built with the old setting: drop them.
    for klass in type(model).__mro__:
        for attr, value in vars(klass).items():
            if isinstance(value, functools.cached_property):
                copy.__dict__.pop(attr, None)
    return copy


def _status(exc: BaseException) -> int | None:
    for source in (exc, getattr(exc, "response", None)):
        status = getattr(source, "status_code", None)
        if isinstance(status, int):
            return status
    return None


def classify(exc: Exception, what: str) -> Exception:
    """Map a provider's exception to a retryable failure or an agent error."""
    if isinstance(exc, AgentError):
        return exc
    status = _status(exc)
    names = " ".join(k.__name__ for k in type(exc).__mro__)
    detail = f"{what}: {type(exc).__name__}: {exc}"
    timeout = isinstance(exc, TimeoutError) or "Timeout" in names or status == 408
    if (status is not None and (status in (408, 409, 429) or status >= 500)) or (
            status is None and (timeout or isinstance(exc, ConnectionError)
                                or any(n in names for n in _TRANSIENT_NAMES))):
        headers = getattr(getattr(exc, "response", None), "headers", None) or {}
        hint = headers.get("retry-after") if hasattr(headers, "get") else None
        try:
            wait = float(hint) if hint is not None else None
        except (TypeError, ValueError):
            wait = None
        return RetryableFailure(detail, status=status, retry_after=wait, timeout=timeout)
    if status in (401, 403):
        return AgentError(detail, code="model_auth")
    return AgentError(detail, code="model_error")


class ChatModelRunner:
    """An :class:`~referral_orchestrator.runners.AgentRunner` over a ``BaseChatModel``."""

    def __init__(self, model: BaseChatModel, *, max_cost_usd: float | None = None,
                 spent_usd: float = 0.0, prices: PriceTable | None = None,
                 retry: RetryPolicy | None = None, cache_control: bool | None = None,
                 name: str | None = None) -> None:
        self.model = without_sdk_retries(model)
        self.model_name = _model_name(model)
        self.name = name or f"chat:{self.model_name}"
        self.prices = prices or default_price_table()
        self.retry = retry or RetryPolicy()
        self.budget = Budget(max_cost_usd, spent_usd)
        self.cache_control = (cache_control if cache_control is not None
                              else getattr(model, "_llm_type", "") == "anthropic-chat")
        self._bound: dict[str, Any] = {}
        self._lock = threading.Lock()

    def run(self, call: AgentCall) -> AgentResult:
        """Do one agent step on the chat model and return the validated output."""
        bound = self._bind(call.stage)
        messages: list[BaseMessage] = [self._system(call, tools=bound is not None),
                                       HumanMessage(content=prompting.user_prompt(call))]
        usage, notes = Usage(model=self.model_name), list[str]()
        runnable = bound if bound is not None else self.model
        for ask in (1, 2):
            reply = self._send(runnable, messages, call, usage)
            output, problem = self._parse(reply, call, tools=bound is not None)
            if output is not None:
                return AgentResult(output=output, usage=usage, notes=notes)
            if ask == 2:
                raise InvalidAgentOutput(
                    f"{call.stage} output from {self.model_name} invalid after a re-ask: "
                    f"{problem}")
            notes.append(f"re-asked: {problem}")
            messages = [*messages, reply,
                        *[ToolMessage(content=problem, tool_call_id=tc["id"] or "call",
                                      status="error") for tc in reply.tool_calls],
                        HumanMessage(content=prompting.reask_prompt(call.stage, problem))]
        raise AssertionError("unreachable")  # pragma: no cover

    # -- internals ----------------------------------------------------------------------

    def _bind(self, stage: str) -> Any:
        with self._lock:
            if stage not in self._bound:
                tool = prompting.stage_tool(stage)
                try:
                    self._bound[stage] = self.model.bind_tools([tool], tool_choice=tool["name"])
                except NotImplementedError:  # no tool calling: JSON in the text instead
                    self._bound[stage] = None
            return self._bound[stage]

    def _system(self, call: AgentCall, *, tools: bool) -> SystemMessage:
        blocks = prompting.system_blocks(call.agent, call.stage)
        if not tools:
            schema = json.dumps(prompting.output_schema(call.output_type))
            blocks.append({"type": "text", "text": (
                "This model has no tool calling: answer with one JSON object, and nothing "
                f"else, that matches this JSON Schema:\n{schema}")})
        if self.cache_control:
            return SystemMessage(content=list[str | dict[Any, Any]](blocks))
        return SystemMessage(content="\n\n".join(b["text"] for b in blocks))

    def _send(self, runnable: Any, messages: list[BaseMessage], call: AgentCall,
              usage: Usage) -> AIMessage:
        what = f"{call.agent}/{call.stage} on {self.model_name}"
        estimate = self._estimate(messages)
        self.budget.reserve(estimate, what)
        cost = 0.0
        try:
            reply = self.retry.call(functools.partial(self._invoke, runnable, messages, what),
                                    what=what)
            meta: Any = reply.usage_metadata or {}
            details: Any = meta.get("input_token_details") or {}
            read, write = int(details.get("cache_read") or 0), int(
                details.get("cache_creation") or 0)
            tokens = {"input_tokens": max(0, int(meta.get("input_tokens", 0)) - read - write),
                      "output_tokens": int(meta.get("output_tokens", 0)),
                      "cache_read_tokens": read, "cache_write_tokens": write}
            if self._priced():
                cost = self.prices.cost(self.model_name, **tokens)
            usage.calls += 1
            usage.input_tokens += tokens["input_tokens"]
            usage.output_tokens += tokens["output_tokens"]
            usage.cache_read_tokens += read
            usage.cache_write_tokens += write
            usage.cost_usd = round(usage.cost_usd + cost, 8)
            return reply
        finally:
            self.budget.settle(estimate, cost)

    def _invoke(self, runnable: Any, messages: list[BaseMessage], what: str) -> AIMessage:
        try:
            reply = runnable.invoke(messages)
        except Exception as exc:
            raise classify(exc, what) from exc
        if not isinstance(reply, AIMessage):
            raise AgentError(f"{what}: the model returned {type(reply).__name__}, not AIMessage")
        return reply

    def _priced(self) -> bool:
        return self.model_name in self.prices.models or any(
            family in self.model_name for family in self.prices.families)

    def _estimate(self, messages: list[BaseMessage]) -> float:
        if not self._priced():
            return 0.0  # no price known for this model: spend cannot be bounded
        chars = sum(len(str(m.content)) for m in messages)
        return self.prices.cost(self.model_name, input_tokens=int(chars / _CHARS_PER_TOKEN),
                                output_tokens=2048)

    @staticmethod
    def _parse(reply: AIMessage, call: AgentCall, *,
               tools: bool) -> tuple[BaseModel | None, str]:
        name = prompting.tool_name(call.stage)
        if tools:
            calls = [tc for tc in reply.tool_calls if tc["name"] == name]
            if not calls:
                return None, f"no call to {name}"
            data: Any = calls[-1]["args"]
        else:
            text = str(reply.text)
            start, end = text.find("{"), text.rfind("}")
            try:
                data = json.loads(text[start:end + 1]) if start >= 0 else None
            except ValueError as exc:
                return None, f"the answer is not valid JSON: {exc}"
            if data is None:
                return None, "the answer holds no JSON object"
        try:
            return call.output_type.model_validate(data), ""
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                        for e in exc.errors()[:8]]
            return None, "; ".join(problems)


def _model_name(model: BaseChatModel) -> str:
    for attr in ("model_name", "model", "model_id"):
        value = getattr(model, attr, None)
        if isinstance(value, str) and value:
            return value
    return type(model).__name__
