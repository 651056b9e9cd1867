"""Loopback HTTP stand-ins of Anthropic's Messages API and OpenAI's Chat Completions API.

Real HTTP servers on 127.0.0.1 (port 0), so the real clients - ``anthropic.Anthropic``,
``langchain_anthropic.ChatAnthropic``, ``langchain_openai.ChatOpenAI`` - run unchanged,
connection pools, retry loops and timeouts included. Use them as context managers: the
server starts on enter and stops on exit.

Each stand-in answers in the real API's shapes - ``tool_use`` content blocks or
``tool_calls``, usage blocks with the cache fields, error bodies, ``retry-after`` headers -
and counts what it did: ``requests`` (every POST to the endpoint) and ``billed`` (responses
that carried a usage block, i.e. what the provider would charge for), with the usage blocks
it sent in ``usage_sent``. By default it answers like a good model (the offline drafter's
output for the same work item); script other replies with :meth:`StandIn.then`, or make one
reply the default with ``StandIn(default=...)``.

The Messages stand-in refuses what Anthropic's API refuses (``mock_anthropic.api_refusal``:
a forced ``tool_choice`` on Claude Sonnet 5.5 / Opus 5.5 and the like, thinking turned off
where it cannot be, assistant prefill, a tool_use sent back without its thinking block) with
the real 400 body, and begins its answers with a ``thinking`` block on models that think by
default. Under ``tool_choice: auto`` a good model calls the tool the prompt asks for.
"""

from __future__ import annotations

import itertools
import json
import re
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from mock_anthropic import THINKS_BY_DEFAULT, api_refusal, thinking_block
from referral_orchestrator.launch.stages import STAGE_OUTPUTS
from referral_orchestrator.runners import AgentCall
from referral_orchestrator.runners.offline import OfflineDrafter
from referral_orchestrator.runners.prompting import (
    inputs_from_prompt,
    stage_of_tool,
    tool_asked_for,
)

_ids = itertools.count(1)
HANG_LIMIT_S = 30.0  # a hung request is released at stop() at the latest


@dataclass(frozen=True)
class Reply:
    """One scripted answer: a good answer, an invalid one, an error, or no answer at all."""

    kind: str = "answer"  # answer | invalid | text | error | hang
    status: int = 200
    error_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)
    tool_input: dict[str, Any] | None = None
    billed: bool = False  # an error response that still carries a usage block
    output_tokens: int | None = None  # bill this many output tokens instead of the real count
    text: str = ""  # the reply's text (kind "text": no tool call at all)
    thinking: str = ""  # text of the thinking block a thinking model begins with


def answer() -> Reply:
    """A valid tool call: what the offline drafter writes for the work item."""
    return Reply()


def invalid(tool_input: dict[str, Any] | None = None) -> Reply:
    """A tool call whose input does not match the stage's schema (billed like any answer)."""
    return Reply(kind="invalid", tool_input=tool_input or {"assets": "none"})


def prose(text: str = "Here is the plan you asked for.", thinking: str = "") -> Reply:
    """A text answer that calls no tool (what ``tool_choice: auto`` allows; billed)."""
    return Reply(kind="text", text=text, thinking=thinking)


def rate_limited(retry_after: str = "1") -> Reply:
    """429 with ``retry-after``."""
    return Reply(kind="error", status=429, error_type="rate_limit_error",
                 headers={"retry-after": retry_after})


def server_error() -> Reply:
    """500 internal error."""
    return Reply(kind="error", status=500, error_type="api_error")


def overloaded() -> Reply:
    """529 overloaded (Anthropic's; other clients treat it as a 5xx)."""
    return Reply(kind="error", status=529, error_type="overloaded_error")


def billed_error() -> Reply:
    """A 500 whose body still carries a usage block: the server billed the failed request."""
    return Reply(kind="error", status=500, error_type="api_error", billed=True)


def pricey(output_tokens: int = 200_000) -> Reply:
    """A valid answer billed for far more output than any estimate expects."""
    return Reply(output_tokens=output_tokens)


def hang() -> Reply:
    """No response until the stand-in stops: the client's timeout fires."""
    return Reply(kind="hang")


def tokens(text: str) -> int:
    """The stand-ins' tokenizer: about four characters a token."""
    return max(1, len(text) // 4)


class StandIn:
    """A scripted, thread-safe API server on 127.0.0.1 that counts requests and billed replies."""

    endpoint = ""

    def __init__(self, *, default: Reply | None = None) -> None:
        self.default = default or answer()
        self.requests: list[dict[str, Any]] = []
        self.usage_sent: list[dict[str, Any]] = []
        self.billed_models: list[str] = []  # the model of each usage block sent
        self.statuses: list[int] = []
        self._script: list[Reply] = []
        self._seen_prefixes: set[str] = set()
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ----------------------------------------------------------------------

    def __enter__(self) -> StandIn:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                stand_in._get(self)

            def do_POST(self) -> None:
                stand_in._post(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._release.set()  # let hung handlers finish
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        """Base URL of the server (``http://127.0.0.1:<port>``)."""
        assert self._server is not None, "use the stand-in as a context manager"
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- scripting and counts ---------------------------------------------------------------

    def then(self, *replies: Reply) -> StandIn:
        """Queue replies for the next requests; the default reply follows once they are used."""
        with self._lock:
            self._script.extend(replies)
        return self

    @property
    def billed(self) -> int:
        """Responses that carried a usage block (what the provider bills for)."""
        return len(self.usage_sent)

    @property
    def unused(self) -> int:
        """Scripted replies not served yet."""
        return len(self._script)

    # -- HTTP -------------------------------------------------------------------------------

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        self._send(handler, 404, {"error": {"type": "not_found_error", "message": handler.path}})

    def _post(self, handler: BaseHTTPRequestHandler) -> None:
        length = int(handler.headers.get("content-length") or 0)
        body = json.loads(handler.rfile.read(length) or b"{}")
        if handler.path.split("?")[0] != self.endpoint:
            self._send(handler, 404, {"error": {"type": "not_found_error",
                                                "message": handler.path}})
            return
        with self._lock:
            self.requests.append(body)
            refusal = self.refusal(body)
            reply = (None if refusal is not None
                     else self._script.pop(0) if self._script else self.default)
        if refusal is not None:  # the API validates the request before anything else
            self._send(handler, 400, refusal)
            return
        assert reply is not None
        if reply.kind == "hang":
            self._release.wait(HANG_LIMIT_S)
            handler.close_connection = True
            return
        if reply.kind == "error":
            payload = self.error_body(reply)
            if reply.billed:
                payload["usage"] = self._usage(body, output=1)
            self._send(handler, reply.status, payload, reply.headers)
            return
        if reply.kind == "text":
            self._send(handler, 200, self.text_body(body, reply))
            return
        tool_input = reply.tool_input if reply.kind == "invalid" else self.good_answer(body)
        self._send(handler, 200, self.answer_body(body, tool_input, reply.output_tokens,
                                                  thinking=reply.thinking))

    def _send(self, handler: BaseHTTPRequestHandler, status: int, payload: dict[str, Any],
              headers: dict[str, str] | None = None) -> None:
        with self._lock:
            self.statuses.append(status)
        data = json.dumps(payload).encode()
        try:
            handler.send_response(status)
            handler.send_header("content-type", "application/json")
            handler.send_header("content-length", str(len(data)))
            handler.send_header("request-id", f"req_{next(_ids):06d}")
            # One request per connection: the clients close their socket after each reply,
            # so no pooled connection is left for the garbage collector to warn about.
            handler.send_header("connection", "close")
            handler.close_connection = True
            for name, value in (headers or {}).items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):  # the client gave up first
            pass

    def _usage(self, body: dict[str, Any], *, output: int) -> dict[str, Any]:
        """A usage block for ``body``: the system prompt is cached after its first sight."""
        system, rest = self.prompt_parts(body)
        with self._lock:
            cached = system in self._seen_prefixes
            self._seen_prefixes.add(system)
        block = self.usage_block(tokens(system), tokens(rest), output, cached=cached)
        with self._lock:
            self.usage_sent.append(block)
            self.billed_models.append(str(body["model"]))
        return block

    # -- the agent behind the API -------------------------------------------------------------

    def good_answer(self, body: dict[str, Any]) -> dict[str, Any]:
        """What a good model submits: the offline drafter's output for the same work item."""
        call = self.call_of(body)
        data: dict[str, Any] = OfflineDrafter().run(call).output.model_dump(mode="json")
        return data

    def call_of(self, body: dict[str, Any]) -> AgentCall:
        """Rebuild the agent call behind a request (stage from the tool, agent, inputs)."""
        stage = stage_of_tool(self.tool_name(body))
        assert stage is not None, body
        system, _ = self.prompt_parts(body)
        match = re.search(r"^# You are .+ \(([a-z0-9-]+)\)$", system, re.M)
        assert match is not None, "the system prompt names the agent"
        return AgentCall(agent=match.group(1), stage=stage, output_type=STAGE_OUTPUTS[stage],
                         inputs=inputs_from_prompt(self.first_user_text(body)))

    # -- what each API does differently ------------------------------------------------------

    def refusal(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """The 400 body the API answers ``body`` with, or ``None`` (called under the lock)."""
        return None

    def tool_name(self, body: dict[str, Any]) -> str:
        """The tool a good model calls: the forced one, else the one the prompt asks for."""
        name = tool_asked_for(self.first_user_text(body))
        assert name is not None, "the prompt names the tool to call"
        return name

    def prompt_parts(self, body: dict[str, Any]) -> tuple[str, str]:
        """(system prompt text, the rest of the request as text)."""
        raise NotImplementedError

    def first_user_text(self, body: dict[str, Any]) -> str:
        raise NotImplementedError

    def usage_block(self, system: int, rest: int, output: int, *,
                    cached: bool) -> dict[str, Any]:
        raise NotImplementedError

    def answer_body(self, body: dict[str, Any], tool_input: Any,
                    output_tokens: int | None = None, *, thinking: str = "") -> dict[str, Any]:
        raise NotImplementedError

    def text_body(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        raise NotImplementedError

    def error_body(self, reply: Reply) -> dict[str, Any]:
        raise NotImplementedError


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    return "\n".join(str(part.get("text", "")) for part in content if isinstance(part, dict))


class MessagesStandIn(StandIn):
    """``POST /v1/messages`` and ``GET /v1/models/{id}`` of Anthropic's API."""

    endpoint = "/v1/messages"

    def _get(self, handler: BaseHTTPRequestHandler) -> None:
        if handler.path.startswith("/v1/models/"):
            model = handler.path.rsplit("/", 1)[-1]
            self._send(handler, 200, {"type": "model", "id": model, "display_name": model,
                                      "created_at": "2026-01-01T00:00:00Z"})
            return
        super()._get(handler)

    def __init__(self, *, default: Reply | None = None) -> None:
        super().__init__(default=default)
        self.signatures: dict[str, str] = {}  # tool_use id -> the thinking block before it

    def refusal(self, body: dict[str, Any]) -> dict[str, Any] | None:
        return api_refusal(body, self.signatures)

    def tool_name(self, body: dict[str, Any]) -> str:
        choice = body.get("tool_choice") or {}
        return str(choice["name"]) if choice.get("type") == "tool" else super().tool_name(body)

    def prompt_parts(self, body: dict[str, Any]) -> tuple[str, str]:
        return _text_of(body.get("system", "")), json.dumps(body["messages"])

    def first_user_text(self, body: dict[str, Any]) -> str:
        return _text_of(body["messages"][0]["content"])

    def usage_block(self, system: int, rest: int, output: int, *,
                    cached: bool) -> dict[str, Any]:
        written = 0 if cached else system
        return {"input_tokens": rest, "output_tokens": output,
                "cache_read_input_tokens": system if cached else 0,
                "cache_creation_input_tokens": written,
                "cache_creation": {"ephemeral_5m_input_tokens": written,
                                   "ephemeral_1h_input_tokens": 0},
                "service_tier": "standard"}

    def _thinking(self, body: dict[str, Any], text: str) -> list[dict[str, Any]]:
        """The thinking block an answer begins with, on models that think by default."""
        return [thinking_block(text)] if body["model"] in THINKS_BY_DEFAULT or text else []

    def answer_body(self, body: dict[str, Any], tool_input: Any,
                    output_tokens: int | None = None, *, thinking: str = "") -> dict[str, Any]:
        use = {"type": "tool_use", "id": f"toolu_{next(_ids):08d}",
               "name": self.tool_name(body), "input": tool_input}
        content = [*self._thinking(body, thinking), use]
        if content[0]["type"] == "thinking":
            with self._lock:
                self.signatures[use["id"]] = content[0]["signature"]
        return {"id": f"msg_{next(_ids):08d}", "type": "message", "role": "assistant",
                "model": body["model"], "content": content, "stop_reason": "tool_use",
                "stop_sequence": None,
                "usage": self._usage(body, output=output_tokens or tokens(json.dumps(content)))}

    def text_body(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        content = [*self._thinking(body, reply.thinking), {"type": "text", "text": reply.text}]
        return {"id": f"msg_{next(_ids):08d}", "type": "message", "role": "assistant",
                "model": body["model"], "content": content, "stop_reason": "end_turn",
                "stop_sequence": None, "usage": self._usage(body, output=tokens(reply.text))}

    def error_body(self, reply: Reply) -> dict[str, Any]:
        return {"type": "error", "error": {"type": reply.error_type,
                                           "message": reply.error_type.replace("_", " ")},
                "request_id": f"req_{next(_ids):06d}"}


class ChatCompletionsStandIn(StandIn):
    """``POST /v1/chat/completions`` of OpenAI's API (base URL: ``url + "/v1"``)."""

    endpoint = "/v1/chat/completions"

    def tool_name(self, body: dict[str, Any]) -> str:
        choice = body.get("tool_choice")
        if isinstance(choice, dict) and choice.get("type") == "function":
            return str(choice["function"]["name"])
        return super().tool_name(body)

    def prompt_parts(self, body: dict[str, Any]) -> tuple[str, str]:
        system = [m for m in body["messages"] if m["role"] in ("system", "developer")]
        rest = [m for m in body["messages"] if m["role"] not in ("system", "developer")]
        return "\n".join(_text_of(m["content"]) for m in system), json.dumps(rest)

    def first_user_text(self, body: dict[str, Any]) -> str:
        return _text_of(next(m for m in body["messages"] if m["role"] == "user")["content"])

    def usage_block(self, system: int, rest: int, output: int, *,
                    cached: bool) -> dict[str, Any]:
        return {"prompt_tokens": system + rest, "completion_tokens": output,
                "total_tokens": system + rest + output,
                "prompt_tokens_details": {"cached_tokens": system if cached else 0,
                                          "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0,
                                              "rejected_prediction_tokens": 0}}

    def answer_body(self, body: dict[str, Any], tool_input: Any,
                    output_tokens: int | None = None, *, thinking: str = "") -> dict[str, Any]:
        arguments = json.dumps(tool_input)
        message = {"role": "assistant", "content": None, "refusal": None,
                   "tool_calls": [{"id": f"call_{next(_ids):08d}", "type": "function",
                                   "function": {"name": self.tool_name(body),
                                                "arguments": arguments}}]}
        return {"id": f"chatcmpl-{next(_ids):08d}", "object": "chat.completion",
                "created": 1_790_000_000, "model": body["model"],
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": "tool_calls"}],
                "usage": self._usage(body, output=output_tokens or tokens(arguments)),
                "service_tier": "default", "system_fingerprint": "fp_standin"}

    def text_body(self, body: dict[str, Any], reply: Reply) -> dict[str, Any]:
        message = {"role": "assistant", "content": reply.text, "refusal": None}
        return {"id": f"chatcmpl-{next(_ids):08d}", "object": "chat.completion",
                "created": 1_790_000_000, "model": body["model"],
                "choices": [{"index": 0, "message": message, "logprobs": None,
                             "finish_reason": "stop"}],
                "usage": self._usage(body, output=tokens(reply.text)),
                "service_tier": "default", "system_fingerprint": "fp_standin"}

    def error_body(self, reply: Reply) -> dict[str, Any]:
        return {"error": {"message": reply.error_type.replace("_", " "),
                          "type": reply.error_type, "param": None, "code": reply.error_type}}


def served_totals(stand_in: StandIn) -> dict[str, int]:
    """Sum of the usage blocks a stand-in sent, in the plan's terms (uncached input)."""
    totals = dict.fromkeys(("input_tokens", "output_tokens", "cache_read_tokens",
                            "cache_write_tokens"), 0)
    for block in stand_in.usage_sent:
        if "prompt_tokens" in block:
            read = block["prompt_tokens_details"]["cached_tokens"]
            totals["input_tokens"] += block["prompt_tokens"] - read
            totals["output_tokens"] += block["completion_tokens"]
            totals["cache_read_tokens"] += read
        else:
            totals["input_tokens"] += block["input_tokens"]
            totals["output_tokens"] += block["output_tokens"]
            totals["cache_read_tokens"] += block["cache_read_input_tokens"]
            totals["cache_write_tokens"] += block["cache_creation_input_tokens"]
    return totals

