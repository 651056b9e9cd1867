"""The Claude runner: every agent node on Anthropic's Messages API, through the ``anthropic`` SDK.

This is the only module that imports ``anthropic`` (ruff's banned-api rule enforces it).

Each call sends the prompt laid out by ``prompting`` (all stage tools + the agent's persona
and skills as a cached prefix, then the stage prompt and the work item), asks for the stage's
tool with ``tool_choice`` - forced on models that accept it, ``auto`` on those that answer a
forced choice with a 400 (Claude Sonnet 5.5, Opus 5.5 and later; see
:func:`prompting.forces_tool_choice`) - and validates the tool input against the stage's
output type. Responses are read by block type: ``thinking`` blocks (adaptive thinking is on
by default on current models, and notes between tool calls come back in them) are never
taken for an answer, and a re-ask echoes the assistant turn as received, thinking blocks
included, then ends with a user turn (no assistant prefill; no ``thinking`` field is sent).

Which model an agent runs on follows Claude Code's sub-agent rules:

- ``model: haiku`` / ``sonnet`` / ``opus`` in the agent's front matter -> the tier's id
  (``DEFAULT_TIERS``, overridable with ``tiers=`` or ``REFERRAL_ORCHESTRATOR_<TIER>_MODEL``);
- ``model: inherit`` -> the runner's main model (the ``--model`` id);
- ``pin=True`` or ``REFERRAL_ORCHESTRATOR_AGENT_MODEL`` -> one id for every agent.

Failure handling: transient errors (429 with ``retry-after``, 529, 5xx, timeouts, dropped
connections) are retried by ``_retry.RetryPolicy`` with the SDK's own retries off
(``max_retries=0``); 400/401/403/404 are not retried; output that does not validate is
re-asked once with the validation error (a reply with no call to the stage's tool, which
``auto`` allows, is re-asked the same way), then raised as :class:`InvalidAgentOutput`;
a request that would pass ``max_cost_usd`` raises :class:`BudgetExceeded` before it is sent.
Every billed response (answers, invalid answers, the re-ask, an error response with a usage
block) is counted in the step's usage and the budget, also when the step fails.
"""

from __future__ import annotations

import email.utils
import functools
import json
import os
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import anthropic
from pydantic import BaseModel, ValidationError

from referral_orchestrator.errors import (
    AgentError,
    BudgetExceeded,
    InvalidAgentOutput,
    ModelConfigError,
)
from referral_orchestrator.launch.content import load_agents

from . import prompting
from .base import AgentCall, AgentResult, Usage
from .pricing import Budget, PriceTable, default_price_table
from .retry import RetryableFailure, RetryPolicy

# Latest ids of each tier in this SDK's model list (anthropic.types.Model).
DEFAULT_TIERS: dict[str, str] = {
    "haiku": "claude-haiku-5-5",
    "sonnet": "claude-sonnet-5-5",
    "opus": "claude-opus-5-5",
}
DEFAULT_MODEL = DEFAULT_TIERS["sonnet"]
ENV_PREFIX = "REFERRAL_ORCHESTRATOR_"
PIN_ENV = ENV_PREFIX + "AGENT_MODEL"
DEFAULT_MAX_TOKENS = 8192
MAX_TOKENS_CEILING = 32000
_CHARS_PER_TOKEN = 3.5  # conservative: estimates a little high, never low
_RETRYABLE_STATUS = {408, 409, 429}

ClientFactory = Callable[[], anthropic.Anthropic]


def tiers_from_env(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """``DEFAULT_TIERS`` with ``REFERRAL_ORCHESTRATOR_{HAIKU,SONNET,OPUS}_MODEL`` applied."""
    env = os.environ if environ is None else environ
    return {tier: env.get(f"{ENV_PREFIX}{tier.upper()}_MODEL") or model
            for tier, model in DEFAULT_TIERS.items()}


def _check_id(model: str, where: str) -> str:
    if not isinstance(model, str) or not model.startswith("claude-"):
        raise ModelConfigError(f"{where} {model!r} is not an Anthropic model id (claude-...)")
    return model


def retry_after(headers: Any) -> float | None:
    """Seconds a response asks us to wait (``retry-after-ms``, ``retry-after`` s or date)."""
    if headers is None:
        return None
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            return max(0.0, float(value) * scale)
        except ValueError:
            parsed = email.utils.parsedate_tz(value)
            if parsed is not None:
                return max(0.0, float(email.utils.mktime_tz(parsed) - time.time()))
    return None


def _status_failure(exc: anthropic.APIStatusError, what: str) -> Exception:
    """Map an HTTP error to the error family the retry policy and the graph understand."""
    status, headers = exc.status_code, exc.response.headers
    hint = headers.get("x-should-retry")
    retryable = status in _RETRYABLE_STATUS or status >= 500
    if hint in ("true", "false"):
        retryable = hint == "true"
    detail = f"{what}: HTTP {status} {_error_type(exc)}"
    if retryable:
        return RetryableFailure(detail, status=status, retry_after=retry_after(headers),
                                timeout=status == 408)
    if status in (401, 403):
        return AgentError(f"{detail}: the API key was rejected", code="model_auth")
    if status == 402:  # out of credit: spending more cannot work, go up the ladder
        return BudgetExceeded(f"{detail}: the Anthropic account is out of credit",
                              code="model_credit")
    if status == 404:
        return AgentError(f"{detail}: unknown model id", code="model_not_found")
    return AgentError(f"{detail}: request refused", code="model_request_refused")


def _usage_block(response: Any) -> dict[str, Any] | None:
    """The usage block of an error response, if the server billed it (most do not)."""
    try:
        body = response.json()
    except Exception:  # not JSON: nothing was billed that we could count
        return None
    usage = body.get("usage") if isinstance(body, dict) else None
    return usage if isinstance(usage, dict) and "input_tokens" in usage else None


def _error_type(exc: anthropic.APIStatusError) -> str:
    body = exc.body if isinstance(exc.body, dict) else {}
    error = body.get("error") if isinstance(body.get("error"), dict) else body
    kind = error.get("type") if isinstance(error, dict) else None
    message = error.get("message") if isinstance(error, dict) else None
    return " ".join(str(p) for p in (kind, message) if p) or type(exc).__name__


class AnthropicRunner:
    """An :class:`~referral_orchestrator.runners.AgentRunner` backed by Claude.

    ``client`` (an ``anthropic.Anthropic``) or ``client_factory`` inject the client - tests
    pass one built on an ``httpx2.MockTransport``; by default the SDK reads
    ``ANTHROPIC_API_KEY``. Either way it is used with ``max_retries=0``: ``retry`` is the
    only retry layer. One runner may serve parallel threads.
    """

    def __init__(self, model: str = DEFAULT_MODEL, *, tiers: Mapping[str, str] | None = None,
                 pin: bool = False, client: anthropic.Anthropic | None = None,
                 client_factory: ClientFactory | None = None, api_key: str | None = None,
                 max_cost_usd: float | None = None, spent_usd: float = 0.0,
                 prices: PriceTable | None = None, retry: RetryPolicy | None = None,
                 max_tokens: int = DEFAULT_MAX_TOKENS, timeout: float = 120.0,
                 strict_tools: bool = False, environ: Mapping[str, str] | None = None) -> None:
        env = os.environ if environ is None else environ
        self.model = _check_id(model, "--model")
        self.tiers = {**tiers_from_env(env), **(tiers or {})}
        for tier, model_id in self.tiers.items():
            _check_id(model_id, f"model for tier {tier}")
        pinned = env.get(PIN_ENV)
        self.pinned: str | None = (_check_id(pinned, PIN_ENV) if pinned
                                   else self.model if pin else None)
        self.name = self.model
        self.max_tokens = max_tokens
        self.timeout = timeout
        self.strict_tools = strict_tools
        self.prices = prices or default_price_table(env)
        self.retry = retry or RetryPolicy()
        self.budget = Budget(max_cost_usd, spent_usd)
        self._given_client = client
        self._factory = client_factory
        self._api_key = api_key
        self._client: anthropic.Anthropic | None = None
        self._lock = threading.Lock()
        self._seen_prefixes: set[tuple[str, str]] = set()
        self._output_seen: dict[str, int] = {}
        self._checked = False

    # -- model choice -------------------------------------------------------------------

    def model_for(self, agent: str) -> str:
        """The model id ``agent`` runs on (pin, else its tier, else the main model)."""
        if self.pinned is not None:
            return self.pinned
        spec = load_agents().get(agent)
        tier = spec.model if spec is not None else "inherit"
        return self.tiers.get(tier, self.model)

    def models_in_use(self) -> list[str]:
        """Every model id some agent of the roster would call, sorted."""
        agents = [a for a in load_agents().values() if a.kind == "agent"]
        return sorted({self.model_for(a.name) for a in agents})

    # -- client and preflight -----------------------------------------------------------

    def client(self) -> anthropic.Anthropic:
        """The SDK client, built once, with the SDK's own retries switched off."""
        with self._lock:
            if self._client is None:
                if self._given_client is not None:
                    base = self._given_client
                elif self._factory is not None:
                    base = self._factory()
                else:
                    try:
                        base = anthropic.Anthropic(api_key=self._api_key)
                    except anthropic.CredentialsError as exc:
                        raise ModelConfigError(
                            f"no usable Anthropic credentials ({str(exc).splitlines()[0]}): set "
                            "ANTHROPIC_API_KEY, or run with --model offline",
                            code="model_key_missing") from exc
                self._client = base.with_options(max_retries=0, timeout=self.timeout)
            return self._client

    def close(self) -> None:
        """Close the SDK client this runner built (an injected ``client`` is the caller's)."""
        with self._lock:
            if self._client is not None and self._given_client is None:
                self._client.close()
            self._client = None

    def preflight(self) -> None:
        """Fail before any work if the key is missing or rejected, or a model id unknown."""
        if self._checked:
            return
        client = self.client()
        if client.api_key is None and client.auth_token is None and client.credentials is None:
            raise ModelConfigError(
                "no Anthropic API key: set ANTHROPIC_API_KEY, or run with --model offline",
                code="model_key_missing")
        for model in self.models_in_use():
            try:
                self.retry.call(functools.partial(self._retrieve, model),
                                what=f"checking {model}")
            except AgentError as exc:
                raise self._preflight_error(exc, model) from exc
        self._checked = True

    def _retrieve(self, model: str) -> None:
        try:
            self.client().models.retrieve(model)
        except anthropic.APITimeoutError as exc:
            raise RetryableFailure(f"checking {model}: timed out", timeout=True) from exc
        except anthropic.APIConnectionError as exc:
            raise RetryableFailure(f"checking {model}: connection failed: {exc}") from exc
        except anthropic.APIStatusError as exc:
            raise _status_failure(exc, f"checking {model}") from exc
        except anthropic.CredentialsError as exc:
            raise AgentError(f"checking {model}: {exc}", code="model_auth") from exc

    @staticmethod
    def _preflight_error(exc: AgentError, model: str) -> ModelConfigError:
        if exc.code == "model_auth":
            return ModelConfigError(
                "the Anthropic API key was rejected (401/403): check ANTHROPIC_API_KEY, or run "
                "with --model offline", code="model_key_rejected")
        if exc.code == "model_not_found":
            return ModelConfigError(
                f"model {model} is not available to this key: pass another --model or set "
                f"{ENV_PREFIX}<TIER>_MODEL", code="model_not_found")
        return ModelConfigError(
            f"cannot reach the Anthropic API ({exc.message}): try again, or run with "
            "--model offline", code="model_unreachable")

    # -- the agent seam -----------------------------------------------------------------

    def run(self, call: AgentCall) -> AgentResult:
        """Do one agent step on Claude and return the validated output with its usage.

        Every billed response is added to the step's usage - on failure too: the error
        carries it as ``AgentError.usage``.
        """
        model = self.model_for(call.agent)
        request: dict[str, Any] = {
            "model": model,
            "max_tokens": self.max_tokens,
            "system": prompting.system_blocks(call.agent, call.stage),
            "tools": self._tools(),
            "tool_choice": prompting.tool_choice(model, call.stage),
            "messages": [{"role": "user", "content": prompting.user_content(call)}],
        }
        usage, notes = Usage(model=model), list[str]()
        try:
            for ask in (1, 2):
                message = self._send(request, call, usage)
                output, problem = self._parse(message, call)
                if output is not None:
                    self._note_output(call.stage, message.usage.output_tokens or 0)
                    return AgentResult(output=output, usage=usage, notes=notes)
                if ask == 2:
                    raise InvalidAgentOutput(
                        f"{call.stage} output from {model} invalid after a re-ask: {problem}")
                notes.append(f"re-asked: {problem}")
                request = self._reask(request, message, call.stage, problem)
        except AgentError as exc:
            if usage.calls:
                exc.usage = usage
            raise
        raise AssertionError("unreachable")  # pragma: no cover

    # -- internals ----------------------------------------------------------------------

    def _tools(self) -> list[dict[str, Any]]:
        tools = prompting.stage_tools()
        if self.strict_tools:
            for tool in tools:
                tool["strict"] = True
        return tools

    def _send(self, request: dict[str, Any], call: AgentCall, usage: Usage) -> Any:
        what = f"{call.agent}/{call.stage} on {request['model']}"
        return self.retry.call(lambda: self._attempt(request, call, usage, what), what=what)

    def _attempt(self, request: dict[str, Any], call: AgentCall, usage: Usage,
                 what: str) -> Any:
        """One HTTP request: reserved against the budget, settled at what it was billed."""
        estimate = self._estimate(request, call)
        self.budget.reserve(estimate, what)
        cost = 0.0
        try:
            try:
                message = self.client().messages.create(**request)
            except anthropic.APIStatusError as exc:
                billed = _usage_block(exc.response)
                if billed is not None:  # the server billed the failed request: count it
                    cost = self._count(request["model"], billed, call, usage)
                raise _status_failure(exc, what) from exc
            except anthropic.APITimeoutError as exc:
                raise RetryableFailure(f"{what}: request timed out", timeout=True) from exc
            except anthropic.APIConnectionError as exc:
                raise RetryableFailure(f"{what}: connection failed: {exc}") from exc
            except anthropic.CredentialsError as exc:
                raise AgentError(f"{what}: credentials failed: {exc}", code="model_auth") from exc
            except anthropic.APIResponseValidationError as exc:  # pragma: no cover - SDK drift
                raise AgentError(f"{what}: unexpected response shape: {exc}") from exc
            cost = self._count(request["model"], message.usage.model_dump(), call, usage)
            return message
        finally:
            self.budget.settle(estimate, cost)

    def _count(self, model: str, block: Mapping[str, Any], call: AgentCall,
               usage: Usage) -> float:
        """Add one billed response's usage block to ``usage``; return its cost."""
        tokens = {"input_tokens": int(block.get("input_tokens") or 0),
                  "output_tokens": int(block.get("output_tokens") or 0),
                  "cache_read_tokens": int(block.get("cache_read_input_tokens") or 0),
                  "cache_write_tokens": int(block.get("cache_creation_input_tokens") or 0)}
        cost = self.prices.cost(model, **tokens)
        usage.add(**tokens, cost_usd=cost)
        if tokens["cache_write_tokens"] or tokens["cache_read_tokens"]:
            with self._lock:
                self._seen_prefixes.add((model, call.agent))
        return cost

    def _note_output(self, stage: str, output_tokens: int) -> None:
        # only valid answers: a short invalid one would make later estimates too low
        with self._lock:
            self._output_seen[stage] = max(self._output_seen.get(stage, 0), output_tokens)

    def _estimate(self, request: dict[str, Any], call: AgentCall) -> float:
        """A deliberately high guess of the next call's cost (for the budget check)."""
        prefix = len(json.dumps(request["tools"])) + len(request["system"][0]["text"])
        rest = len(json.dumps(request["system"][1:])) + len(json.dumps(request["messages"]))
        key = (request["model"], call.agent)
        with self._lock:  # cached only once a billed response wrote or read the prefix
            cached = key in self._seen_prefixes
            expected_out = self._output_seen.get(call.stage) or request["max_tokens"] // 4
        price = self.prices.price(request["model"])
        prefix_tokens = int(prefix / _CHARS_PER_TOKEN)
        return price.cost(input_tokens=int(rest / _CHARS_PER_TOKEN), output_tokens=expected_out,
                          cache_read_tokens=prefix_tokens if cached else 0,
                          cache_write_tokens=0 if cached else prefix_tokens)

    @staticmethod
    def _parse(message: Any, call: AgentCall) -> tuple[BaseModel | None, str]:
        name = prompting.tool_name(call.stage)
        uses = [b for b in message.content if getattr(b, "type", "") == "tool_use"
                and b.name == name]
        if message.stop_reason == "max_tokens":
            return None, f"the answer was cut off at max_tokens before {name} was complete"
        if not uses:
            return None, f"no call to {name} (stop_reason={message.stop_reason})"
        try:
            return call.output_type.model_validate(uses[-1].input), ""
        except ValidationError as exc:
            problems = [f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}"
                        for e in exc.errors()[:8]]
            more = len(exc.errors()) - len(problems)
            return None, "; ".join(problems) + (f"; and {more} more" if more > 0 else "")

    @staticmethod
    def _reask(request: dict[str, Any], message: Any, stage: str, problem: str) -> dict[str, Any]:
        """The follow-up request: the bad answer, its error as a tool result, one more ask."""
        if message.stop_reason == "max_tokens":  # same question, more room to answer
            bigger = min(request["max_tokens"] * 2, MAX_TOKENS_CEILING)
            return {**request, "max_tokens": bigger}
        # The assistant turn goes back as received: thinking blocks unmodified and first
        # (the API rejects a tool_result whose tool_use lost the thinking before it); only
        # empty text blocks, which the API refuses as input, are left out.
        assistant: list[dict[str, Any]] = []
        results: list[dict[str, Any]] = []
        for block in message.content:
            if block.type == "text" and not block.text.strip():
                continue
            assistant.append(block.to_dict(mode="json", exclude_none=True))
            if block.type == "tool_use":
                results.append({"type": "tool_result", "tool_use_id": block.id,
                                "is_error": True, "content": problem})
        follow_up = [*results, {"type": "text", "text": prompting.reask_prompt(stage, problem)}]
        messages = list(request["messages"])
        if any(b["type"] in ("text", "tool_use") for b in assistant):  # not thinking alone
            messages.append({"role": "assistant", "content": assistant})
        messages.append({"role": "user", "content": follow_up})
        return {**request, "messages": messages}
