"""Any langchain-core chat model as the agents' backend (ChatAnthropic, ChatOpenAI, a host's own).

The runner sends the prompt laid out by ``prompting``, as the Claude runner does, so a
provider's prompt cache serves the same long prefix: every stage's tool, bound identically
on every call (same order, same bytes), with ``tool_choice`` naming the stage's own - or
``"auto"`` on Claude models that refuse a forced choice (Sonnet 5.5, Opus 5.5 and later; the
one table is :func:`prompting.forces_tool_choice`); the agent's persona and skills, then the
stage prompt; then the work item, a fan-out's shared context first. It validates the tool
call against the stage's output type, re-asks once with the validation error (also when the
reply called no tool, which ``auto`` allows; the reply goes back as it came, thinking blocks
included, and the re-ask is a user turn), and records usage from
``AIMessage.usage_metadata``. Models without tool calling get the schema in the prompt and
answer with JSON text instead (read from the text blocks only, never from thinking).

Same guardrails as the Claude runner: transient failures are retried by ``_retry`` with the
model's own retries switched off (:func:`without_sdk_retries`: the field, lazily built and
already built SDK clients), the budget is checked before each request and settled at what
it was billed, every billed response is counted (also when the step fails), and errors end
up in the agent error family the graph understands. Prompt-cache breakpoints (``cache_control``
on the last tool, both system blocks and a fan-out's shared context) are sent only to
Anthropic chat models (other providers reject unknown block keys); every model gets the same
stable prefix, which is what OpenAI's automatic prefix cache needs. ``warm_fanout=True``
holds a fan-out's siblings back until the first has answered, so they read its cache entry
(:mod:`.warmup`; off by default: it costs one model latency per fan-out).
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
from .warmup import FanoutWarmup

_TRANSIENT_NAMES = ("RateLimit", "Overloaded", "Timeout", "APIConnectionError",
                    "ServiceUnavailable", "InternalServerError")
_CHARS_PER_TOKEN = 3.5


def without_sdk_retries(model: BaseChatModel) -> BaseChatModel:
    """A copy of ``model`` whose provider clients do not retry (so retries never multiply).

    Three layers, because providers build their clients differently: the ``max_retries``
    field is set to 0; clients built lazily (cached properties, e.g. ChatAnthropic's
    ``_client``) are dropped so they are rebuilt from it; and clients already built (e.g.
    ChatOpenAI's ``root_client``/``client`` and async twins, made in its validator) are
    replaced by ``client.with_options(max_retries=0)`` - the API resources bound to them
    (``client.chat.completions``) are rebound to the replacement. The original is untouched.
    """
    fields = type(model).model_fields
    field_retries = "max_retries" in fields and getattr(model, "max_retries", 0) != 0
    if not field_retries and not _built_clients(model):
        return model
    copy = model.model_copy(update={"max_retries": 0} if "max_retries" in fields else {})
    for klass in type(model).__mro__:
        for attr, value in vars(klass).items():
            if isinstance(value, functools.cached_property):
                copy.__dict__.pop(attr, None)
    fresh: dict[int, Any] = {}

    def no_retries(client: Any) -> Any:
        if id(client) not in fresh:
            fresh[id(client)] = client.with_options(max_retries=0)
        return fresh[id(client)]

    for store in _stores(copy):
        for name, value in list(store.items()):
            if _retrying(value):
                store[name] = no_retries(value)
            elif _retrying(getattr(value, "_client", None)):
                store[name] = type(value)(no_retries(value._client))
    return copy


def _stores(model: BaseChatModel) -> list[dict[str, Any]]:
    """Where a pydantic model keeps its attributes: fields and cached values, private ones."""
    private = getattr(model, "__pydantic_private__", None)
    return [model.__dict__, *([private] if isinstance(private, dict) else [])]


def _retrying(value: Any) -> bool:
    """True for a provider SDK client (anthropic, openai, ...) that retries on its own."""
    retries = getattr(value, "max_retries", None)
    return (isinstance(retries, int) and not isinstance(retries, bool) and retries > 0
            and callable(getattr(value, "with_options", None)))


def _built_clients(model: BaseChatModel) -> bool:
    return any(_retrying(v) or _retrying(getattr(v, "_client", None))
               for store in _stores(model) for v in store.values())


def _billed_block(exc: BaseException) -> dict[str, int] | None:
    """Tokens of an error response that carried a usage block (the server billed it)."""
    seen: BaseException | None = exc
    visited: set[int] = set()
    while seen is not None and id(seen) not in visited:
        visited.add(id(seen))
        response = getattr(seen, "response", None)
        try:
            body = response.json() if response is not None else None
        except Exception:  # not JSON: nothing billed that we could count
            body = None
        block = body.get("usage") if isinstance(body, dict) else None
        if isinstance(block, dict):
            return _tokens_of_block(block)
        seen = seen.__cause__ or seen.__context__
    return None


def _tokens_of_block(block: dict[str, Any]) -> dict[str, int]:
    """Uncached input, output and cache tokens of a Messages or Chat Completions usage block."""
    if "prompt_tokens" in block:  # Chat Completions: prompt_tokens includes cached tokens
        details = block.get("prompt_tokens_details") or {}
        read = int(details.get("cached_tokens") or 0)
        write = int(details.get("cache_write_tokens") or 0)
        return {"input_tokens": max(0, int(block["prompt_tokens"] or 0) - read - write),
                "output_tokens": int(block.get("completion_tokens") or 0),
                "cache_read_tokens": read, "cache_write_tokens": write}
    return {"input_tokens": int(block.get("input_tokens") or 0),
            "output_tokens": int(block.get("output_tokens") or 0),
            "cache_read_tokens": int(block.get("cache_read_input_tokens") or 0),
            "cache_write_tokens": int(block.get("cache_creation_input_tokens") or 0)}


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
                 warm_fanout: bool = False, name: str | None = None) -> None:
        self.model = without_sdk_retries(model)
        self.model_name = _model_name(model)
        self.name = name or f"chat:{self.model_name}"
        self.prices = prices or default_price_table()
        self.retry = retry or RetryPolicy()
        self.budget = Budget(max_cost_usd, spent_usd)
        self.cache_control = (cache_control if cache_control is not None
                              else getattr(model, "_llm_type", "") == "anthropic-chat")
        self._tools = prompting.stage_tools()
        if not self.cache_control:
            for tool in self._tools:
                tool.pop("cache_control", None)
        self._tools_chars = len(json.dumps(self._tools))
        self._warmup = FanoutWarmup() if warm_fanout else None
        self._bound: dict[str, Any] = {}
        self._lock = threading.Lock()
        self._prefix_billed = False  # a request was billed: the provider has cached the tools

    def run(self, call: AgentCall) -> AgentResult:
        """Do one agent step on the chat model and return the validated output.

        Every billed response is added to the step's usage - on failure too: the error
        carries it as ``AgentError.usage``.
        """
        bound = self._bind(call.stage)
        messages: list[BaseMessage] = [self._system(call, tools=bound is not None),
                                       self._user(call)]
        usage, notes = Usage(model=self.model_name), list[str]()
        runnable = bound if bound is not None else self.model
        wave = self._warmup.wait_turn(call) if self._warmup is not None else None
        try:
            for ask in (1, 2):
                reply = self._send(runnable, messages, call, usage, wave)
                output, problem = self._parse(reply, call, tools=bound is not None)
                if output is not None:
                    return AgentResult(output=output, usage=usage, notes=notes)
                if ask == 2:
                    raise InvalidAgentOutput(
                        f"{call.stage} output from {self.model_name} invalid after a re-ask: "
                        f"{problem}")
                notes.append(f"re-asked: {problem}")
                # the reply goes back as it came (thinking blocks and all) unless it holds
                # nothing to answer to: an empty assistant turn is refused by some APIs
                answered = [reply] if reply.tool_calls or str(reply.text).strip() else []
                messages = [*messages, *answered,
                            *[ToolMessage(content=problem, tool_call_id=tc["id"] or "call",
                                          status="error") for tc in reply.tool_calls],
                            HumanMessage(content=prompting.reask_prompt(call.stage, problem))]
        except AgentError as exc:
            if usage.calls:
                exc.usage = usage
            raise
        finally:
            self._release(wave)  # also when no request was sent (budget refused it)
        raise AssertionError("unreachable")  # pragma: no cover

    # -- internals ----------------------------------------------------------------------

    def _bind(self, stage: str) -> Any:
        # Every stage gets the same tool list (one object, so the same bytes on every call)
        # and only tool_choice differs: tools come first in the prompt, and a per-stage
        # tool list would change the prefix every provider caches at every stage.
        choice = (prompting.tool_name(stage) if prompting.forces_tool_choice(self.model_name)
                  else "auto")
        with self._lock:
            if stage not in self._bound:
                try:
                    self._bound[stage] = self.model.bind_tools(self._tools, tool_choice=choice)
                except NotImplementedError:  # no tool calling: JSON in the text instead
                    self._bound[stage] = None
            return self._bound[stage]

    def _release(self, wave: str | None) -> None:
        if self._warmup is not None:
            self._warmup.release(wave)

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

    def _user(self, call: AgentCall) -> HumanMessage:
        """The work item; a fan-out's shared context first (its own block when cached)."""
        content = prompting.user_content(call)
        if isinstance(content, str):
            return HumanMessage(content=content)
        if self.cache_control:
            return HumanMessage(content=list[str | dict[Any, Any]](content))
        return HumanMessage(content="\n\n".join(b["text"] for b in content))

    def _send(self, runnable: Any, messages: list[BaseMessage], call: AgentCall,
              usage: Usage, wave: str | None) -> AIMessage:
        what = f"{call.agent}/{call.stage} on {self.model_name}"
        return self.retry.call(
            functools.partial(self._attempt, runnable, messages, usage, what, wave), what=what)

    def _attempt(self, runnable: Any, messages: list[BaseMessage], usage: Usage,
                 what: str, wave: str | None) -> AIMessage:
        """One request: reserved against the budget, settled at what it was billed."""
        estimate = self._estimate(messages, tools=runnable is not self.model)
        self.budget.reserve(estimate, what)
        cost = 0.0
        try:
            try:
                reply = runnable.invoke(messages)
            except Exception as exc:
                billed = _billed_block(exc)
                if billed is not None:  # the server billed the failed request: count it
                    cost = self._count(billed, usage)
                failure = classify(exc, what)
                if failure is exc:  # already one of ours
                    raise
                raise failure from exc
            if not isinstance(reply, AIMessage):
                raise AgentError(f"{what}: the model returned {type(reply).__name__}, "
                                 "not AIMessage")
            meta: Any = reply.usage_metadata or {}
            details: Any = meta.get("input_token_details") or {}
            read = int(details.get("cache_read") or 0)
            # ChatAnthropic moves cache writes to the per-TTL keys when the API gives them
            write = sum(int(details.get(k) or 0) for k in (
                "cache_creation", "ephemeral_5m_input_tokens", "ephemeral_1h_input_tokens"))
            cost = self._count({
                "input_tokens": max(0, int(meta.get("input_tokens", 0)) - read - write),
                "output_tokens": int(meta.get("output_tokens", 0)),
                "cache_read_tokens": read, "cache_write_tokens": write}, usage)
            return reply
        finally:
            self.budget.settle(estimate, cost)
            self._release(wave)  # a response came back (or none will): the siblings may go

    def _count(self, tokens: dict[str, int], usage: Usage) -> float:
        """Add one billed response to ``usage``; return its cost ($0 if the model has no price)."""
        cost = self.prices.cost(self.model_name, **tokens) if self._priced() else 0.0
        usage.add(**tokens, cost_usd=cost)
        with self._lock:
            self._prefix_billed = True
        return cost

    def _priced(self) -> bool:
        return self.prices.claims(self.model_name)

    def _estimate(self, messages: list[BaseMessage], *, tools: bool) -> float:
        if not self._priced():
            return 0.0  # no price known for this model: spend cannot be bounded
        rest = int(sum(len(str(m.content)) for m in messages) / _CHARS_PER_TOKEN)
        prefix = int(self._tools_chars / _CHARS_PER_TOKEN) if tools else 0
        with self._lock:
            cached = self._prefix_billed
        # The tools lead every prompt, byte-identical: once one request has been billed the
        # provider holds them in its prompt cache (a breakpoint, or OpenAI's automatic cache
        # of long prefixes); before that they are written, or plain input.
        tokens = ({"cache_read_tokens": prefix} if cached
                  else {"cache_write_tokens": prefix} if self.cache_control
                  else {"input_tokens": prefix})
        tokens["input_tokens"] = tokens.get("input_tokens", 0) + rest
        return self.prices.cost(self.model_name, **tokens, output_tokens=2048)

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
