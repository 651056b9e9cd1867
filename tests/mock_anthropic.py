"""A Messages API on an ``httpx2.MockTransport``: test the real ``anthropic`` client offline.

``MockAnthropic`` serves responses in the real API's shapes - ``tool_use`` blocks, usage with
the cache fields, ``error`` bodies with ``request-id`` and ``retry-after`` headers - and keeps
every request it saw so tests can assert on what the runner sent.

By default it answers like a well-behaved model: it reads the stage from ``tool_choice``,
the agent from the system prompt and the inputs from the user message, and submits what the
offline drafter would write. It simulates prompt caching: the tokens up to the last
``cache_control`` breakpoint are a cache write the first time that prefix is seen and a
cache read afterwards. Script failures with :meth:`MockAnthropic.then`.
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
from referral_orchestrator.runners.prompting import inputs_from_prompt, stage_of_tool

BASE_URL = "https://api.anthropic.test"
_ids = itertools.count(1)


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
        name = body["tool_choice"]["name"]
        if reply is not None and reply.text_only is not None:
            content: list[dict[str, Any]] = [{"type": "text", "text": reply.text_only}]
        else:
            tool_input = (reply.tool_input if reply is not None and reply.tool_input is not None
                          else self.answer(body))
            content = [{"type": "tool_use", "id": f"toolu_{next(_ids):08d}", "name": name,
                        "input": tool_input}]
        stop = reply.stop_reason if reply is not None and reply.stop_reason else (
            "tool_use" if content[0]["type"] == "tool_use" else "end_turn")
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
    stage = stage_of_tool(body["tool_choice"]["name"])
    assert stage is not None, body["tool_choice"]
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
