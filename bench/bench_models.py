"""Benchmarks of the model layer: parallel drafting, call count, prompt-cache share.

    python bench/bench_models.py [--latency 0.5] [--concurrency 16] [--channels C,..]
                                 [--segments S,..] [--runs 3] [--cache-only]

A script, not a test (timings never belong in unit tests). It prints:

1. Wall time of a 3 channels x 3 segments launch on a runner that simulates model latency
   (sleeps, then answers like the offline drafter), against
   - the critical-path bound: the longest chain of dependent model calls x latency, read
     from the plan's transitions (LangGraph supersteps that made at least one call);
     target <= 1.15x;
   - the same launch forced sequential (``max_concurrency=1``); target >= 2.5x faster.
2. Model calls per launch against an LLM-routed supervisor design, where a supervisor
   model decides every hand-off: one routing call per node activation in the plan's
   transitions, plus the final "done" call.
3. The share of input tokens served from the prompt cache across a launch on the Claude
   runner, through the real ``anthropic`` client and a simulated Messages API that caches
   prefixes the way the API does (the longest previously seen breakpoint prefix is read,
   the rest up to the last breakpoint written); target >= 70%.
4. The same for the chat-model runner: ``langchain_anthropic.ChatAnthropic`` over real HTTP
   (loopback) against the same simulated API; target >= 70%. Then both runners again with
   the simulated API answering after ``--latency`` and, like the real API, showing a cache
   entry only once the request that wrote it has answered - so a fan-out's siblings, sent in
   the same instant, cannot read each other's entry - with the chat-model runner's
   ``warm_fanout`` off and on: cache share, effective input tokens (uncached + 0.1 x cache
   reads + 1.25 x cache writes), cost and wall time against the dependent-call bound.

Self-contained: it does not import from ``tests/``.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import itertools
import json
import re
import statistics
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import anthropic
import httpx2
from langchain_anthropic import ChatAnthropic

from referral_orchestrator import Orchestrator
from referral_orchestrator.launch.stages import STAGE_OUTPUTS
from referral_orchestrator.runners.anthropic import AnthropicRunner
from referral_orchestrator.runners.base import AgentCall, AgentResult
from referral_orchestrator.runners.chat_model import ChatModelRunner
from referral_orchestrator.runners.offline import OfflineDrafter
from referral_orchestrator.runners.prompting import (
    inputs_from_prompt,
    stage_of_tool,
    tool_asked_for,
)
from referral_orchestrator.runners.retry import RetryPolicy

LAUNCH: dict[str, Any] = {
    "program": "Customer Advocates", "launch_date": "2026-12-10",
    "channels": "email,in-app,sms", "segments": "power users,new customers,churn risk",
    "as_of": "2026-11-25",
}
CALLING_NODES = {"checklist", "tooling_qa", "communications", "enablement", "partner_ops",
                 "go_live", "referral_architect"}
CHAT_MODEL = "claude-haiku-5-5"  # one model for every agent (a chat model is one model)
READ_RATE, WRITE_RATE = 0.1, 1.25  # cache reads and 5-minute writes, relative to input


class LatencyRunner:
    """Answers like the offline drafter after sleeping ``latency`` seconds (a model call)."""

    def __init__(self, latency: float) -> None:
        self.name = "latency-sim"
        self.latency = latency
        self.calls = 0
        self._drafter = OfflineDrafter()
        self._lock = threading.Lock()

    def run(self, call: AgentCall) -> AgentResult:
        time.sleep(self.latency)
        with self._lock:
            self.calls += 1
        return self._drafter.run(call)


def launch(model: Any, concurrency: int, root: Path) -> tuple[float, dict[str, Any]]:
    orch = Orchestrator(root / "plans", model=model, max_concurrency=concurrency)
    start = time.perf_counter()
    result = orch.launch(**LAUNCH, out_dir=root / "out")
    elapsed = time.perf_counter() - start
    assert result.status == "completed", result.status
    return elapsed, result.plan


def critical_path_calls(plan: dict[str, Any]) -> int:
    """Supersteps that made at least one model call (each costs one latency at best)."""
    steps = {t["key"].split(":")[0] for t in plan["transitions"] if t["node"] in CALLING_NODES}
    return len(steps)


def timing(latency: float, concurrency: int) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        launch(LatencyRunner(0.0), concurrency, Path(tmp) / "warm")  # imports, caches
        overhead, _ = launch(LatencyRunner(0.0), concurrency, Path(tmp) / "zero")
        par_runner = LatencyRunner(latency)
        par, plan = launch(par_runner, concurrency, Path(tmp) / "par")
        seq_runner = LatencyRunner(latency)
        seq, _ = launch(seq_runner, 1, Path(tmp) / "seq")
    chain = critical_path_calls(plan)
    bound = chain * latency
    transitions = len(plan["transitions"])
    return {"latency_s": latency, "calls": par_runner.calls, "chain": chain,
            "bound_s": bound, "parallel_s": par, "sequential_s": seq,
            "vs_bound": par / bound, "speedup": seq / par, "transitions": transitions,
            "overhead_s": overhead, "vs_bound_plus_overhead": par / (bound + overhead),
            "supervisor_calls": par_runner.calls + transitions + 1}


# -- a simulated Messages API with prompt caching ------------------------------------------

_ids = itertools.count(1)


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


class SimulatedMessagesAPI:
    """Answers like a good model (the drafter's output) and caches prefixes like the API.

    With ``latency`` > 0 each answer takes that long, and a prefix a request writes becomes
    readable only when its answer is sent (the real API: once the response starts), so
    requests sent together all miss. With ``latency`` 0 an entry is readable at once.
    """

    def __init__(self, latency: float = 0.0) -> None:
        self.latency = latency
        self.cache: set[str] = set()
        self.lock = threading.Lock()

    def handle(self, request: httpx2.Request) -> httpx2.Response:
        status, payload = self.respond(request.url.path,
                                       json.loads(request.content) if request.content else {})
        return httpx2.Response(status, json=payload)

    def respond(self, path: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        """Status and JSON body for ``GET /v1/models/{id}`` or ``POST /v1/messages``."""
        if path.startswith("/v1/models/"):
            model = path.rsplit("/", 1)[-1]
            return 200, {"type": "model", "id": model, "display_name": model,
                         "lifecycle": "active", "created_at": "2026-01-01T00:00:00Z"}
        choice = body.get("tool_choice") or {}  # forced, or "auto" and named in the prompt
        tool = (choice["name"] if choice.get("type") == "tool"
                else tool_asked_for(body["messages"][0]["content"]))
        stage = stage_of_tool(tool or "")
        assert stage is not None
        agent = re.search(r"^# You are .+ \(([a-z0-9-]+)\)$", body["system"][0]["text"], re.M)
        assert agent is not None
        call = AgentCall(agent=agent.group(1), stage=stage, output_type=STAGE_OUTPUTS[stage],
                         inputs=inputs_from_prompt(body["messages"][0]["content"]))
        answer = OfflineDrafter().run(call).output.model_dump(mode="json")
        content = [{"type": "tool_use", "id": f"toolu_{next(_ids)}", "name": tool,
                    "input": answer}]
        usage, written = self.usage(body, content)
        time.sleep(self.latency)
        with self.lock:
            self.cache.update(written)
        return 200, {"id": f"msg_{next(_ids)}", "type": "message", "role": "assistant",
                     "model": body["model"], "content": content, "stop_reason": "tool_use",
                     "stop_sequence": None, "usage": usage}

    def usage(self, body: dict[str, Any],
              content: list[dict[str, Any]]) -> tuple[dict[str, Any], list[str]]:
        """The usage block of ``body`` and the prefixes it writes (digests)."""
        blocks = [(json.dumps(t), bool(t.get("cache_control"))) for t in body["tools"]]
        blocks += [(b["text"], bool(b.get("cache_control"))) for b in body["system"]]
        for message in body["messages"]:
            parts = message["content"]
            if isinstance(parts, str):
                parts = [{"type": "text", "text": parts}]
            blocks += [(json.dumps(b), bool(b.get("cache_control"))) for b in parts]
        prefixes = [(i, body["model"] + "".join(t for t, _ in blocks[: i + 1]))
                    for i, (_, bp) in enumerate(blocks) if bp]
        last = prefixes[-1][0] + 1 if prefixes else 0
        digest = [hashlib.sha256(p.encode()).hexdigest() for _, p in prefixes]
        with self.lock:
            hits = [i + 1 for (i, _), d in zip(prefixes, digest, strict=True) if d in self.cache]
            if not self.latency:
                self.cache.update(digest)
        size = [_tokens(t) for t, _ in blocks]
        upto = max(hits, default=0)
        return {"input_tokens": sum(size[last:]), "output_tokens": _tokens(json.dumps(content)),
                "cache_read_input_tokens": sum(size[:upto]),
                "cache_creation_input_tokens": sum(size[upto:last])}, digest


@contextlib.contextmanager
def serve(api: SimulatedMessagesAPI) -> Iterator[str]:
    """The simulated API over real HTTP on 127.0.0.1 (for clients that build their own)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # headers and body go out as two writes: with Nagle on, the body waits for the
        # client's delayed ACK (~40 ms a call), a cost of this server, not of the client
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            self.reply(*api.respond(self.path, {}))

        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.reply(*api.respond(self.path.split("?")[0], json.loads(self.rfile.read(length))))

        def reply(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def cache_figures(plan: dict[str, Any]) -> dict[str, Any]:
    """A launch's usage totals with the cache share and the effective input tokens."""
    total = plan["usage"]["total"]
    inputs = total["input_tokens"] + total["cache_read_tokens"] + total["cache_write_tokens"]
    effective = (total["input_tokens"] + READ_RATE * total["cache_read_tokens"]
                 + WRITE_RATE * total["cache_write_tokens"])
    return {**total, "all_input_tokens": inputs, "effective_input_tokens": effective,
            "cached_share": total["cache_read_tokens"] / inputs,
            "by_agent": {a: u["calls"] for a, u in plan["usage"]["by_agent"].items()}}


def claude_runner(api: SimulatedMessagesAPI) -> AnthropicRunner:
    """The Claude runner on the real ``anthropic`` client over a mock transport."""
    http = httpx2.Client(transport=httpx2.MockTransport(api.handle),
                         base_url="https://api.anthropic.test")
    client = anthropic.Anthropic(api_key="sk-ant-bench", base_url="https://api.anthropic.test",
                                 http_client=http)
    return AnthropicRunner("claude-sonnet-5-5", client=client, environ={},
                           retry=RetryPolicy(sleep=lambda _s: None))


def cache_share(concurrency: int, latency: float = 0.0) -> dict[str, Any]:
    """The Claude runner's launch against the simulated API."""
    api = SimulatedMessagesAPI(latency)
    with tempfile.TemporaryDirectory() as tmp:
        wall, plan = launch(claude_runner(api), concurrency, Path(tmp))
    return {**cache_figures(plan), "wall_s": wall, "chain": critical_path_calls(plan)}


def chat_cache_share(concurrency: int, latency: float = 0.0, *,
                     warm_fanout: bool = False) -> dict[str, Any]:
    """The chat-model runner on ``ChatAnthropic`` (real HTTP) against the simulated API."""
    api = SimulatedMessagesAPI(latency)
    with serve(api) as url, tempfile.TemporaryDirectory() as tmp:
        model = ChatAnthropic(model_name=CHAT_MODEL, base_url=url, api_key="sk-ant-bench")
        options = {"warm_fanout": True} if warm_fanout else {}  # absent on older runners
        runner = ChatModelRunner(model, retry=RetryPolicy(sleep=lambda _s: None), **options)
        wall, plan = launch(runner, concurrency, Path(tmp))
    return {**cache_figures(plan), "wall_s": wall, "chain": critical_path_calls(plan)}


def print_cache(title: str, c: dict[str, Any], latency: float = 0.0) -> None:
    """One runner's cache figures (and its wall time when the API had latency)."""
    print(title)
    print(f"  input tokens           {c['all_input_tokens']} = {c['input_tokens']} uncached + "
          f"{c['cache_write_tokens']} cache writes + {c['cache_read_tokens']} cache reads")
    print(f"  served from cache      {c['cached_share']:.1%}   effective input "
          f"{c['effective_input_tokens']:,.0f} (uncached + 0.1 x reads + 1.25 x writes)")
    print(f"  cost                   ${c['cost_usd']:.4f}  calls by agent {c['by_agent']}")
    if latency:
        bound = c["chain"] * latency
        print(f"  wall time              {c['wall_s']:.2f}s = {c['wall_s'] / bound:.3f}x the "
              f"bound ({c['chain']} dependent calls x {latency:.2f}s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5, help="simulated seconds per call")
    parser.add_argument("--concurrency", type=int, default=16, help="Orchestrator max_concurrency")
    parser.add_argument("--channels", default=LAUNCH["channels"], help="the launch's channels")
    parser.add_argument("--segments", default=LAUNCH["segments"], help="the launch's segments")
    parser.add_argument("--runs", type=int, default=3,
                        help="rounds of the latency cache section (median wall time)")
    parser.add_argument("--cache-only", action="store_true",
                        help="skip the timing section (1-2), run the prompt-cache ones")
    args = parser.parse_args()
    LAUNCH.update(channels=args.channels, segments=args.segments)
    if not args.cache_only:
        report_timing(args.latency, args.concurrency)
    report_cache(args.latency, args.concurrency, args.runs)


def report_timing(latency: float, concurrency: int) -> None:
    """Sections 1-2: wall time against the bound and sequential, call counts."""
    t = timing(latency, concurrency)
    print(f"launch: {LAUNCH['channels']} x {LAUNCH['segments']} "
          f"(max_concurrency={concurrency}, latency {t['latency_s']:.2f}s per call)")
    print(f"  model calls            {t['calls']}")
    print(f"  critical path          {t['chain']} dependent calls -> bound {t['bound_s']:.2f}s")
    print(f"  parallel wall time     {t['parallel_s']:.2f}s = {t['vs_bound']:.3f}x the bound "
          "(target <= 1.15x)")
    print(f"  fixed overhead         {t['overhead_s']:.2f}s (same launch at zero latency: "
          f"plan writes, checkpoints, artifacts) -> {t['vs_bound_plus_overhead']:.3f}x "
          "(bound + overhead)")
    print(f"  sequential wall time   {t['sequential_s']:.2f}s -> parallel is "
          f"{t['speedup']:.2f}x faster (target >= 2.5x)")
    print(f"  LLM-routed supervisor  {t['supervisor_calls']} calls ({t['calls']} worker + "
          f"{t['transitions']} hand-offs + 1 finish) = {t['supervisor_calls'] / t['calls']:.2f}x "
          "ours; routing here is code: 0 routing calls")


def report_cache(latency: float, concurrency: int, runs: int) -> None:
    """Sections 3-4: the prompt cache on both runners, at once and with latency, warm or not."""
    c = cache_share(concurrency)
    print_cache(f"prompt cache on the Claude runner (simulated Messages API, entries visible at "
                f"once): {c['calls']} calls (target >= 70%)", c)
    c = chat_cache_share(concurrency)
    print_cache(f"prompt cache on the chat-model runner (ChatAnthropic {CHAT_MODEL}, same "
                f"simulation): {c['calls']} calls (target >= 70%)", c)
    print(f"with {latency:.2f}s latency: an entry is visible once the request that wrote it "
          f"has answered (wall: median of {runs} runs, the three alternating)")
    variants: dict[str, Callable[[], dict[str, Any]]] = {
        "  Claude runner": functools.partial(cache_share, concurrency, latency),
        "  chat-model runner, warm_fanout=False":
            functools.partial(chat_cache_share, concurrency, latency),
        "  chat-model runner, warm_fanout=True":
            functools.partial(chat_cache_share, concurrency, latency, warm_fanout=True),
    }
    results: dict[str, list[dict[str, Any]]] = {title: [] for title in variants}
    for round_ in range(runs):
        order = list(variants)[round_ % 3:] + list(variants)[:round_ % 3]
        for title in order:
            results[title].append(variants[title]())
    for title, figures in results.items():
        print_cache(title, {**figures[-1], "wall_s": statistics.median(
            f["wall_s"] for f in figures)}, latency)


if __name__ == "__main__":
    main()
