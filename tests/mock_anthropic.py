"""A Messages API on an ``httpx2.MockTransport``: test the real ``anthropic`` client offline.

``MockAnthropic`` serves responses in the real API's shapes - ``tool_use`` blocks, usage with
the cache fields, ``error`` bodies with ``request-id`` and ``retry-after`` headers - and keeps
every request it saw so tests can assert on what the runner sent.

By default it answers like a well-behaved model: it reads the stage from a forced
``tool_choice``, or under ``auto`` from the tool the prompt asks for, the agent from the
system prompt and the inputs from the user message, and submits what the offline drafter
would write. It simulates prompt caching: the tokens up to the last ``cache_control``
breakpoint are a cache write the first time that prefix is seen and a cache read afterwards.
Script failures with :meth:`MockAnthropic.then`.

It also refuses what the real API refuses, per model (:func:`api_refusal`), with the real
400 ``invalid_request_error`` body: a forced ``tool_choice`` on the models that do not
support one, ``thinking: {"type": "disabled"}`` or a manual budget where thinking cannot be
turned off, sampling parameters where they are gone, an assistant prefill where it is not
supported, and a ``tool_result`` whose
``tool_use`` came back without the thinking block the model wrote before it. Models with
adaptive thinking on by default begin every answer with a ``thinking`` block (empty text,
a signature), as the real ones do at the default ``display: "omitted"``.
Sources: platform.claude.com/docs/en/models/sonnet-5-5/whats-new-sonnet-5-5,
.../opus-5-5/whats-new-opus-5-5, .../haiku-5-5/whats-new-haiku-5-5,
.../build-with-claude/thinking-tool-workflows.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anthropic
import httpx2

from referral_orchestrator.launch.stages import STAGE_OUTPUTS
from referral_orchestrator.runners import AgentCall
from referral_orchestrator.runners.offline import OfflineDrafter
from referral_orchestrator.runners.prompting import (
    inputs_from_prompt,
    stage_of_tool,
    tool_asked_for,
)

BASE_URL = "https://api.anthropic.test"
_ids = itertools.count(1)

# What the Messages API refuses, by model id (kept apart from the runners' own table on
# purpose: a mistake there must meet the API's rule here, not a copy of itself).
NO_FORCED_TOOL_CHOICE = frozenset({
    "claude-sonnet-5-5", "claude-opus-5-5", "claude-fable-5-1", "claude-fable-5-2",
    "claude-mythos-5-1", "claude-mythos-5-2"})
THINKING_ALWAYS_ON = NO_FORCED_TOOL_CHOICE  # "disabled" and manual budgets are refused
NO_PREFILL = frozenset({
    "claude-haiku-5-5", "claude-sonnet-5", "claude-sonnet-5-5", "claude-opus-5",
    "claude-opus-5-5", "claude-fable-5", "claude-fable-5-1", "claude-fable-5-2",
    "claude-mythos-5", "claude-mythos-5-1", "claude-mythos-5-2"})
THINKS_BY_DEFAULT = NO_PREFILL  # adaptive thinking on when the request says nothing
NO_SAMPLING = frozenset({  # non-default temperature / top_p, or any top_k, is refused
    "claude-haiku-5-5", "claude-sonnet-5-5", "claude-fable-5", "claude-fable-5-1",
    "claude-fable-5-2"})
FORCED_TOOL_CHOICE_ERROR = 'tool_choice: type "tool" and "any" are not supported for this model.'


def invalid_request(message: str) -> dict[str, Any]:
    """The body of a 400 ``invalid_request_error``."""
    return {"type": "error", "error": {"type": "invalid_request_error", "message": message},
            "request_id": f"req_{next(_ids):06d}"}


def api_refusal(body: dict[str, Any], signatures: dict[str, str]) -> dict[str, Any] | None:
    """The 400 body the real API answers ``body`` with, or ``None`` if it accepts it.

    ``signatures`` maps each ``tool_use`` id the server returned after a thinking block to
    that block's signature: the turn that carries the tool_use back must begin with it.
    """
    model = str(body.get("model", ""))
    choice = body.get("tool_choice") or {}
    if model in NO_FORCED_TOOL_CHOICE and choice.get("type") in ("tool", "any"):
        return invalid_request(FORCED_TOOL_CHOICE_ERROR)
    thinking = body.get("thinking") or {}
    if model in THINKING_ALWAYS_ON and thinking.get("type") in ("disabled", "enabled"):
        return invalid_request(
            f'"thinking.type.{thinking["type"]}" is not supported for this model. Use '
            '"thinking.type.adaptive" and "output_config.effort" to control thinking behavior.')
    sampling = [k for k in ("temperature", "top_p") if body.get(k) not in (None, 1)]
    if model in NO_SAMPLING and (sampling or body.get("top_k") is not None):
        return invalid_request(f"{(sampling or ['top_k'])[0]}: is not supported for this model.")
    messages = body.get("messages") or []
    if model in NO_PREFILL and messages and messages[-1].get("role") == "assistant":
        return invalid_request("This model does not support assistant message prefill. "
                               "The conversation must end with a user message.")
    assistant = [(i, m) for i, m in enumerate(messages) if m.get("role") == "assistant"]
    if assistant:
        index, turn = assistant[-1]
        blocks = turn["content"] if isinstance(turn["content"], list) else []
        wanted = {signatures[b["id"]] for b in blocks
                  if b.get("type") == "tool_use" and b.get("id") in signatures}
        first = blocks[0] if blocks else {}
        if wanted and (first.get("type") != "thinking" or first.get("signature") not in wanted):
            return invalid_request(
                f"messages.{index}.content.0.type: Expected `thinking` or `redacted_thinking`, "
                f"but found `{first.get('type')}`. When thinking is on, the assistant turn "
                "must start with the thinking block it was given.")
    return None


def requested_tool(body: dict[str, Any]) -> str:
    """The tool a good model calls: the forced one, else the one the prompt asks for."""
    choice = body.get("tool_choice") or {}
    if choice.get("type") == "tool":
        return str(choice["name"])
    first = body["messages"][0]["content"]
    name = tool_asked_for(first if isinstance(first, str) else [
        b for b in first if b.get("type") == "text"])
    assert name is not None, "the prompt names the tool to call"
    return name


def thinking_block(text: str = "") -> dict[str, Any]:
    """A ``thinking`` block as the API returns it (empty text at ``display: "omitted"``)."""
    return {"type": "thinking", "thinking": text, "signature": f"sig_{next(_ids):08d}"}


def tokens(text: str) -> int:
    """The simulator's tokenizer: about four characters a token."""
    return max(1, len(text) // 4)


@dataclass
class Reply:
    """One scripted answer of the Messages endpoint."""

    status: int = 200
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    raise_exc: type[Exception] | None = None
    tool_input: dict[str, Any] | None = None  # a tool_use with this (maybe wrong) input
    text_only: str | None = None
    stop_reason: str | None = None
    thinking: str = ""  # the text of the thinking block a thinking model begins with


def error(status: int, kind: str, message: str = "", **headers: str) -> Reply:
    """An API error response in the real shape."""
    return Reply(status, {"type": "error", "error": {"type": kind, "message": message or kind},
                          "request_id": f"req_{next(_ids):06d}"},
                 {k.replace("_", "-"): v for k, v in headers.items()})


def rate_limited(retry_after: str = "2") -> Reply:
    """429 rate_limit_error with ``retry-after``."""
    return error(429, "rate_limit_error", "Number of request tokens has exceeded your rate limit",
                 retry_after=retry_after)


def overloaded() -> Reply:
    """529 overloaded_error."""
    return error(529, "overloaded_error", "Overloaded")


def server_error() -> Reply:
    """500 api_error."""
    return error(500, "api_error", "Internal server error")


def timeout() -> Reply:
    """The connection times out before a response."""
    return Reply(raise_exc=httpx2.ReadTimeout)


def disconnect() -> Reply:
    """The connection drops."""
    return Reply(raise_exc=httpx2.ConnectError)


def malformed(tool_input: dict[str, Any]) -> Reply:
    """A tool call whose input does not match the schema."""
    return Reply(tool_input=tool_input)


def prose(text: str = "Here is the plan you asked for.") -> Reply:
    """A text answer with no tool call."""
    return Reply(text_only=text, stop_reason="end_turn")


def thought(thinking: str, tool_input: dict[str, Any] | None = None) -> Reply:
    """An answer whose thinking block has text (``display: "summarized"``, or the notes a
    model writes between tool calls, which come back as thinking)."""
    return Reply(tool_input=tool_input, thinking=thinking)


def cut_off() -> Reply:
    """A tool call cut off at max_tokens."""
    return Reply(tool_input={"assets": []}, stop_reason="max_tokens")


class MockAnthropic:
    """The Messages and Models endpoints, scripted, thread-safe, recording every request."""

    def __init__(self, *, models_reply: Reply | None = None,
                 answer: Callable[[dict[str, Any]], dict[str, Any]] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []  # {"method", "path", "headers", "json"}
        self.models_reply = models_reply
        self.answer = answer or drafter_answer
        self._script: list[Reply] = []
        self._cache: set[str] = set()
        self._signatures: dict[str, str] = {}  # tool_use id -> the thinking block before it
        self._lock = threading.Lock()

    # -- scripting ------------------------------------------------------------------------

    def then(self, *replies: Reply) -> MockAnthropic:
        """Queue replies for the next Messages calls (then the default answer resumes)."""
        with self._lock:
            self._script.extend(replies)
        return self

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Bodies of every POST /v1/messages, in order."""
        return [r["json"] for r in self.requests if r["path"] == "/v1/messages"]

    def client(self, **options: Any) -> anthropic.Anthropic:
        """A real ``anthropic.Anthropic`` client whose HTTP goes to this mock."""
        options.setdefault("api_key", "sk-ant-test")
        http = httpx2.Client(transport=httpx2.MockTransport(self.handle), base_url=BASE_URL)
        return anthropic.Anthropic(base_url=BASE_URL, http_client=http, **options)

    # -- the transport ----------------------------------------------------------------------

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        body = json.loads(request.content) if request.content else None
        record = {"method": request.method, "path": request.url.path,
                  "headers": dict(request.headers), "json": body}
        with self._lock:
            self.requests.append(record)
            reply = (self._script.pop(0) if self._script and request.url.path == "/v1/messages"
                     else None)
        if request.url.path.startswith("/v1/models/"):
            return self._model(request, self.models_reply)
        if request.url.path != "/v1/messages":
            return httpx2.Response(404, json={"type": "error", "error": {
                "type": "not_found_error", "message": request.url.path}})
        assert body is not None
        return self._message(request, body, reply)

    def _model(self, request: httpx2.Request, reply: Reply | None) -> httpx2.Response:
        if reply is not None and reply.status != 200:
            return httpx2.Response(reply.status, json=reply.body, headers=reply.headers)
        model = request.url.path.rsplit("/", 1)[-1]
        return httpx2.Response(200, json={
            "type": "model", "id": model, "display_name": model.replace("-", " ").title(),
            "created_at": "2026-01-01T00:00:00Z", "lifecycle": "active"})

    def _message(self, request: httpx2.Request, body: dict[str, Any],
                 reply: Reply | None) -> httpx2.Response:
        if reply is not None and reply.raise_exc is not None:
            raise reply.raise_exc("simulated", request=request)
        if reply is not None and reply.status != 200:
            return httpx2.Response(reply.status, json=reply.body,
                                   headers={"request-id": "req_mock", **reply.headers})
        with self._lock:
            refusal = api_refusal(body, self._signatures)
        if refusal is not None:
            return httpx2.Response(400, json=refusal, headers={"request-id": "req_mock"})
        content: list[dict[str, Any]] = []
        if body["model"] in THINKS_BY_DEFAULT or (reply is not None and reply.thinking):
            content.append(thinking_block(reply.thinking if reply is not None else ""))
        if reply is not None and reply.text_only is not None:
            content.append({"type": "text", "text": reply.text_only})
        else:
            tool_input = (reply.tool_input if reply is not None and reply.tool_input is not None
                          else self.answer(body))
            content.append({"type": "tool_use", "id": f"toolu_{next(_ids):08d}",
                            "name": requested_tool(body), "input": tool_input})
            if content[0]["type"] == "thinking":
                with self._lock:
                    self._signatures[content[-1]["id"]] = content[0]["signature"]
        stop = reply.stop_reason if reply is not None and reply.stop_reason else (
            "tool_use" if content[-1]["type"] == "tool_use" else "end_turn")
        return httpx2.Response(200, headers={"request-id": f"req_{next(_ids):06d}"}, json={
            "id": f"msg_{next(_ids):08d}", "type": "message", "role": "assistant",
            "model": body["model"], "content": content, "stop_reason": stop,
            "stop_sequence": None, "usage": self._usage(body, content)})

    def _usage(self, body: dict[str, Any], content: list[dict[str, Any]]) -> dict[str, Any]:
        """Token counts with simulated prompt caching, as the API does it.

        Every ``cache_control`` breakpoint names a prefix (tools, then system, then
        messages). The longest prefix seen before is read from the cache; the rest up to the
        last breakpoint is written; everything after it is plain input.
        """
        blocks = [(json.dumps(t), bool(t.get("cache_control"))) for t in body.get("tools", [])]
        system = body.get("system", [])
        if isinstance(system, str):
            system = [{"type": "text", "text": system}]
        blocks += [(b["text"], bool(b.get("cache_control"))) for b in system]
        for message in body["messages"]:
            parts = message["content"]
            if isinstance(parts, str):
                parts = [{"type": "text", "text": parts}]
            blocks += [(json.dumps(b), bool(b.get("cache_control"))) for b in parts]
        prefixes = [(i, body["model"] + "".join(text for text, _ in blocks[: i + 1]))
                    for i, (_, breakpoint) in enumerate(blocks) if breakpoint]
        last = prefixes[-1][0] + 1 if prefixes else 0
        with self._lock:
            hits = [i + 1 for i, p in prefixes if _digest(p) in self._cache]
            self._cache.update(_digest(p) for _, p in prefixes)
        read_upto = max(hits, default=0)
        size = [tokens(text) for text, _ in blocks]
        read, written = sum(size[:read_upto]), sum(size[read_upto:last])
        return {"input_tokens": sum(size[last:]), "output_tokens": tokens(json.dumps(content)),
                "cache_read_input_tokens": read, "cache_creation_input_tokens": written,
                "cache_creation": {"ephemeral_5m_input_tokens": written,
                                   "ephemeral_1h_input_tokens": 0},
                "service_tier": "standard"}


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def call_of(body: dict[str, Any]) -> AgentCall:
    """Rebuild the AgentCall behind a Messages request (stage, agent, inputs)."""
    stage = stage_of_tool(requested_tool(body))
    assert stage is not None, body.get("tool_choice")
    system = body["system"] if isinstance(body["system"], str) else body["system"][0]["text"]
    match = re.search(r"^# You are .+ \(([a-z0-9-]+)\)$", system, re.M)
    assert match is not None, "system prompt names the agent"
    return AgentCall(agent=match.group(1), stage=stage, output_type=STAGE_OUTPUTS[stage],
                     inputs=inputs_from_prompt(body["messages"][0]["content"]))


def drafter_answer(body: dict[str, Any]) -> dict[str, Any]:
    """What a good model would submit: the offline drafter's output for the same call."""
    output = OfflineDrafter().run(call_of(body)).output
    data: dict[str, Any] = output.model_dump(mode="json")
    return data
