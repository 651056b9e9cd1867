"""The project against the design users would otherwise pick: a langgraph-supervisor team.

    python bench/bench_peer.py [--latency 0.5] [--runs 3] [--concurrency 16] [--json]
                               [--no-workaround]

One referral launch - 3 channels x 3 segments (email, in-app, sms x power users, new
customers, churn risk), program "Customer Advocates", launch 2026-12-10, as of 2026-11-25 -
run three ways, every model call answered by the same fake chat model
(:class:`LatencyChatModel`), which sleeps ``--latency`` seconds and then answers by a
scripted policy:

1. **project** - ``Orchestrator(tmp, model=<fake chat model>)``. The chat-model runner binds
   the stage's ``submit_<stage>`` tool with ``tool_choice``; the fake answers with a tool
   call whose args are what the offline drafter writes for the inputs it reads back from the
   prompt (``<inputs>`` JSON), and the runner validates them against the stage's output type.
2. **supervisor (defaults)** - ``langgraph_supervisor.create_supervisor`` over three
   ``create_react_agent`` workers (lifecycle-ops, partner-manager, partner-ops) with one tool
   per work item of the launch. Library defaults: the supervisor hands off to one agent at a
   time (``parallel_tool_calls=False``, its default, applied to the workers too, so a model
   makes one tool call per turn), ``output_mode="last_message"`` (the default in 0.0.31),
   hand-off messages on. The supervisor hands off stage by stage in the seed's workflow order
   (checklist, tooling & QA, communications, partner kit + enablement, partner workflows,
   go-live), each worker calls its tools and replies ``Done: ...``, and the supervisor ends the
   run with a plain answer once every item is done.
3. **supervisor (tuned)** - the same team, batched: ``parallel_tool_calls=True`` on the
   supervisor and the workers (a worker calls every ready tool in one turn), fewer hand-offs
   (checklist + tooling in one; communications and the partner-manager's work in parallel),
   ``output_mode="last_message"``.

The work items are the project's own: the checklist, tooling QA, one draft per channel x
segment, the landing page, the partner kit, enablement, partner workflows and go-live (16).
They are read from an offline run of the project (a recording runner), and each supervisor
tool runs the offline drafter on exactly those inputs (refusing to run before the items it
depends on), so all three designs produce the same outputs; the script checks they do.

Parallel hand-offs need a workaround. ``create_supervisor`` builds its supervisor with
``create_react_agent``'s default ``version="v2"``, which sends every tool call of a model turn
to the tool node as its own ``Send``; each hand-off tool then returns its
``Command(graph=PARENT, goto=[Send(agent)])`` on its own, and ``ToolNode`` never gets to
combine the parallel hand-offs into one parent command (langchain-ai/langgraph-supervisor-py
issue #230, "Parallel agent call not working"; the fix proposed in PR #244, still open,
switches to ``version="v1"`` when ``parallel_tool_calls=True``). Here, with
langgraph-supervisor 0.0.31 and langgraph 1.2, the first hand-off of the turn runs and the
other is dropped without an error: the supervisor has to hand off again on its next turn
(``--no-workaround`` shows it: 17 calls, a 17-call chain). The tuned variant applies the fix
from outside: it builds the supervisor while ``langgraph_supervisor.supervisor.
create_react_agent`` is patched to ``version="v1"`` (:func:`supervisor_react_v1`), and both
agents then run in the same superstep. The workers keep ``v2``: their parallel calls go to
ordinary tools, which ``v2`` runs correctly (and in parallel).

Measured per design (the figures of the last run; every run gives the same counts):

- wall time, median over ``--runs`` rounds; the three designs alternate, order rotated each
  round, after a warm-up round at zero latency (imports, caches);
- model calls (counted by the fake model), by role;
- the dependent-call chain: the longest chain of model calls that had to wait on each
  other. Project: LangGraph supersteps with at least one agent transition in the plan.
  Supervisor: message lineage - a call depends on every earlier call whose reply (message
  or tool-call id) is in its prompt; the chain is the deepest such path;
- the bound ``chain x latency`` and wall / bound;
- input tokens sent, counted on one serialization of every prompt (bound tools as OpenAI
  tool JSON, then each message) at 3.5 characters a token, for all three designs; the
  project reports the same count in its plan's usage (checked);
- an ideal prefix cache: each call's longest prefix shared with the prompt of any call
  started before it is served from cache; reported as the cached share and as "effective"
  input = uncached + 0.1 x cached (cache reads at a tenth of the price);
- ratios of each supervisor variant over the project.

What the numbers leave out, and which way it cuts:

- The supervisor's tools do the content work for free (the offline drafter), so its models
  only route and call tools. A real team would have a worker write the content in its turn
  (the stage instructions and inputs in its context: more input tokens; and a batched turn
  that emits ten drafts takes about ten drafts' worth of output time, which a fixed latency
  per call does not charge) or call a model inside each tool (more calls). The supervisor's
  token and time figures are lower bounds.
- The project's wall time includes its plan writes (validated, fsynced), SQLite checkpoints
  and artifact files; the supervisor runs write nothing.
- The project's chat-model path binds every stage's tool on every call, like the Claude
  runner (``bench_models.py`` measures both runners' cache share against a simulated API).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import json
import math
import re
import statistics
import sys
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from _harness import Pair
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import BaseTool, StructuredTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel

from referral_orchestrator import AgentCall, AgentResult, OfflineDrafter, Orchestrator

# -- package internals: every one this script uses, in one block to re-point later --------
from referral_orchestrator.runners.prompting import HOUSE_RULES, agent_prefix, inputs_from_prompt

# ------------------------------------------------------------------------------------------

LAUNCH: dict[str, Any] = {
    "program": "Customer Advocates", "launch_date": "2026-12-10",
    "channels": "email,in-app,sms", "segments": "power users,new customers,churn risk",
    "as_of": "2026-11-25",
}
COMMAND = ('launch-program --program "Customer Advocates" --launch-date 2026-12-10 '
           '--channels "email,in-app,sms" --segments "power users,new customers,churn risk" '
           "--as-of 2026-11-25")
CHARS_PER_TOKEN = 3.5  # one tokenizer for all three designs (the chat-model runner's estimate)
CACHE_READ_PRICE = 0.1  # a cached input token costs a tenth of an uncached one
DESIGNS = ("project", "supervisor (defaults)", "supervisor (tuned)")
WORKERS = ("lifecycle-ops", "partner-manager", "partner-ops")
# Which stages must be finished before a stage's items may run (the project's graph order).
AFTER: dict[str, tuple[str, ...]] = {
    "checklist": (), "tooling-qa": ("checklist",), "communications": ("tooling-qa",),
    "partner-kit": ("tooling-qa",), "enablement": ("tooling-qa",),
    "partner-workflows": ("communications", "partner-kit", "enablement"),
    "go-live": ("partner-workflows",),
}
# The supervisor's hand-offs: each step is one model turn of the supervisor; each group in a
# step goes to the agent that owns its stages. Defaults: one agent at a time, stage by stage.
# Tuned: the lifecycle-ops prep in one hand-off, then the two content teams in parallel.
STEPS: dict[str, list[list[tuple[str, ...]]]] = {
    "supervisor (defaults)": [[("checklist",)], [("tooling-qa",)], [("communications",)],
                              [("partner-kit", "enablement")], [("partner-workflows",)],
                              [("go-live",)]],
    "supervisor (tuned)": [[("checklist", "tooling-qa")],
                           [("communications",), ("partner-kit", "enablement")],
                           [("partner-workflows",)], [("go-live",)]],
}


def tokens(chars: int) -> int:
    """Tokens of ``chars`` characters of prompt (the one tokenizer of this bench)."""
    return math.ceil(chars / CHARS_PER_TOKEN)


# -- what every model call costs: counting, lineage and the prefix cache --------------------


def serialize(tools: Sequence[dict[str, Any]], messages: Sequence[BaseMessage]) -> str:
    """One prompt as a provider would receive it: bound tools first, then every message."""
    parts = [json.dumps(list(tools), sort_keys=True)]
    for message in messages:
        entry: dict[str, Any] = {"role": message.type, "content": message.content}
        if message.name:
            entry["name"] = message.name
        if isinstance(message, AIMessage) and message.tool_calls:
            entry["tool_calls"] = [{"id": tc["id"], "name": tc["name"], "args": tc["args"]}
                                   for tc in message.tool_calls]
        if isinstance(message, ToolMessage):
            entry["tool_call_id"] = message.tool_call_id
        parts.append(json.dumps(entry, sort_keys=True, default=str))
    return "\n".join(parts)


def common_prefix(a: str, b: str) -> int:
    """Length of the longest common prefix (binary search over C-speed slice compares)."""
    lo, hi = 0, min(len(a), len(b))
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if a[:mid] == b[:mid]:
            lo = mid
        else:
            hi = mid - 1
    return lo


@dataclass
class ModelCall:
    """One call the fake model answered."""

    seq: int
    role: str
    prompt: str
    depth: int
    started: float
    ended: float = 0.0


class Meter:
    """Records every model call of one run: its prompt, its place in the dependency chain."""

    def __init__(self) -> None:
        self.calls: list[ModelCall] = []
        self._depth: dict[str, int] = {}  # reply marker or tool-call id -> depth of its call
        self._lock = threading.Lock()

    def start(self, role: str, prompt: str, messages: Sequence[BaseMessage]) -> ModelCall:
        """Count a call; its depth is one more than the deepest reply its prompt contains."""
        with self._lock:
            seen = [self._depth.get(key, 0) for m in messages for key in _lineage(m)]
            call = ModelCall(len(self.calls) + 1, role, prompt, 1 + max(seen, default=0),
                             time.perf_counter())
            self.calls.append(call)
            return call

    def finish(self, call: ModelCall, reply: AIMessage) -> None:
        """Remember the reply, so later prompts that carry it depend on this call."""
        with self._lock:
            call.ended = time.perf_counter()
            for key in _lineage(reply):
                self._depth[key] = call.depth

    @property
    def chain(self) -> int:
        """Longest chain of calls that waited on each other's replies (message lineage)."""
        return max((c.depth for c in self.calls), default=0)

    def by_role(self) -> dict[str, int]:
        """Calls per role (project, supervisor, each worker)."""
        counts: dict[str, int] = {}
        for call in self.calls:
            counts[call.role] = counts.get(call.role, 0) + 1
        return counts

    def tokens(self) -> dict[str, float]:
        """Input tokens sent, and what an ideal prefix cache would serve of them."""
        sent = cached = 0
        for i, call in enumerate(self.calls):
            hit = max((common_prefix(call.prompt, e.prompt) for e in self.calls[:i]), default=0)
            sent += tokens(len(call.prompt))
            cached += min(tokens(hit), tokens(len(call.prompt)))
        return {"input_tokens": sent, "cached_tokens": cached,
                "cached_share": cached / sent if sent else 0.0,
                "effective_input_tokens": (sent - cached) + CACHE_READ_PRICE * cached}


def _lineage(message: BaseMessage) -> list[str]:
    # Reply markers survive LangGraph's message handling; tool-call ids survive the
    # supervisor's parallel hand-off, which copies the AIMessage under a new id.
    keys = [str(message.response_metadata.get("bench_call", ""))]
    if isinstance(message, AIMessage):
        keys += [str(tc["id"]) for tc in message.tool_calls]
    if isinstance(message, ToolMessage):
        keys.append(message.tool_call_id)
    return [k for k in keys if k]


# A policy turns a prompt into a reply: text, and tool calls as (name, args).
Policy = Callable[[list[BaseMessage], dict[str, Any]], tuple[str, list[tuple[str, dict[str, Any]]]]]


class LatencyChatModel(BaseChatModel):
    """The one fake chat model of every design: sleeps ``latency``, then answers by policy."""

    role: str
    latency: float
    policy: Any  # Policy
    meter: Any  # Meter
    model_name: str = "latency-sim"

    @property
    def _llm_type(self) -> str:
        return "latency-sim"

    def bind_tools(self, tools: Sequence[Any], *, tool_choice: Any = None,
                   parallel_tool_calls: bool | None = None, **kwargs: Any) -> Any:
        """Bind tools as OpenAI tool JSON (what the prompt serialization counts)."""
        options = dict(kwargs)
        if tool_choice is not None:
            options["tool_choice"] = tool_choice
        if parallel_tool_calls is not None:
            options["parallel_tool_calls"] = parallel_tool_calls
        return self.bind(tools=[convert_to_openai_tool(t) for t in tools], **options)

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: Any = None, **kwargs: Any) -> ChatResult:
        prompt = serialize(kwargs.get("tools", []), messages)
        call = self.meter.start(self.role, prompt, messages)
        time.sleep(self.latency)
        text, calls = self.policy(messages, kwargs)
        tool_calls = [{"name": name, "args": args, "id": f"call_{call.seq}_{i}",
                       "type": "tool_call"} for i, (name, args) in enumerate(calls)]
        output = len(text) + len(json.dumps([tc["args"] for tc in tool_calls]))
        reply = AIMessage(content=text, tool_calls=tool_calls,
                          response_metadata={"bench_call": f"reply_{call.seq}",
                                             "model_name": self.model_name},
                          usage_metadata={"input_tokens": tokens(len(prompt)),
                                          "output_tokens": tokens(output),
                                          "total_tokens": tokens(len(prompt)) + tokens(output)})
        self.meter.finish(call, reply)
        return ChatResult(generations=[ChatGeneration(message=reply)])


# -- the launch's work items (read from an offline run of the project) ----------------------


@dataclass(frozen=True)
class WorkItem:
    """One unit of agent work of the launch and the exact call the project makes for it."""

    key: str  # "checklist", "email:power users", "landing-page", ...
    stage: str
    agent: str
    call: AgentCall

    @property
    def tool(self) -> str:
        """The supervisor team's tool for this item."""
        verb = {"checklist": "build", "tooling-qa": "run", "partner-workflows": "document",
                "go-live": "prepare", "enablement": "prepare"}.get(self.stage, "draft")
        return f"{verb}_" + re.sub(r"[^a-z0-9]+", "_", self.key.lower()).strip("_")


class _Recorder:
    """An agent runner that drafts offline and keeps every call it was given."""

    name = "recorder"

    def __init__(self) -> None:
        self.calls: list[AgentCall] = []
        self._drafter = OfflineDrafter()
        self._lock = threading.Lock()

    def run(self, call: AgentCall) -> AgentResult:
        with self._lock:
            self.calls.append(call)
        return self._drafter.run(call)


@functools.cache
def work_items() -> dict[str, WorkItem]:
    """The launch's work items, in the order the project ran them."""
    recorder = _Recorder()
    with tempfile.TemporaryDirectory() as tmp:
        result = Orchestrator(Path(tmp) / "plans", model=recorder).launch(
            **LAUNCH, out_dir=Path(tmp) / "out")
    assert result.status == "completed", result.status
    items = {}
    for call in recorder.calls:
        key = call.key or call.stage
        assert key not in items, f"{key} ran twice: the reference launch retried"
        items[key] = WorkItem(key, call.stage, call.agent, call)
    return items


def digest(output: dict[str, Any]) -> str:
    """Fingerprint of one work item's output (to check the designs agree)."""
    return hashlib.sha256(json.dumps(output, sort_keys=True).encode()).hexdigest()[:16]


@functools.cache
def reference_outputs() -> dict[str, str]:
    """What the offline drafter writes for every work item."""
    return {key: digest(OfflineDrafter().run(item.call).output.model_dump(mode="json"))
            for key, item in work_items().items()}


@dataclass
class Outcome:
    """One design's run: wall time, calls, chain and outputs."""

    design: str
    wall: float
    meter: Meter
    chain: int
    outputs: dict[str, str] = field(default_factory=dict)  # work item -> digest
    plan_input_tokens: int | None = None


# -- design 1: the project ------------------------------------------------------------------


def drafter_policy(outputs: dict[str, str]) -> Policy:
    """Answer the forced ``submit_<stage>`` tool with what the offline drafter writes."""
    items = work_items()
    by_tool = {"submit_" + i.stage.replace("-", "_"): i for i in items.values()}

    def policy(messages: list[BaseMessage],
               options: dict[str, Any]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        tool = options["tool_choice"]
        system, user = str(messages[0].content), str(messages[1].content)
        agent = re.search(r"^# You are .+ \(([a-z0-9-]+)\)$", system, re.M)
        key = re.search(r"^Work item: (.+)$", user, re.M)
        stage = by_tool[tool].stage
        assert agent is not None
        call = AgentCall(agent.group(1), stage, by_tool[tool].call.output_type,
                         inputs_from_prompt(user), key=key.group(1) if key else "")
        args = OfflineDrafter().run(call).output.model_dump(mode="json")
        outputs[call.key or stage] = digest(args)
        return "", [(tool, args)]

    return policy


def supersteps(plan: dict[str, Any]) -> int:
    """LangGraph supersteps in which at least one agent worked (each waits on the last)."""
    return len({t["key"].split(":")[0] for t in plan["transitions"] if t.get("agent")})


def run_project(latency: float, concurrency: int) -> Outcome:
    """The launch on the project's graph, every agent step a call to the fake model."""
    meter, outputs = Meter(), dict[str, str]()
    model = LatencyChatModel(role="project", latency=latency, policy=drafter_policy(outputs),
                             meter=meter)
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = Orchestrator(Path(tmp) / "plans", model=model,
                              max_concurrency=concurrency).launch(**LAUNCH,
                                                                  out_dir=Path(tmp) / "out")
        wall = time.perf_counter() - start
    assert result.status == "completed", result.status
    usage = result.plan["usage"]["total"]
    recorded = usage["input_tokens"] + usage["cache_read_tokens"] + usage["cache_write_tokens"]
    assert recorded == sum(tokens(len(c.prompt)) for c in meter.calls), "plan usage disagrees"
    return Outcome("project", wall, meter, supersteps(result.plan), outputs,
                   plan_input_tokens=recorded)


# -- designs 2 and 3: a langgraph-supervisor team -------------------------------------------


class Workspace:
    """Where the team's tools put their results (a real team's shared drive)."""

    def __init__(self) -> None:
        self.outputs: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def done(self, keys: Sequence[str]) -> bool:
        """Whether every one of ``keys`` has been done."""
        with self._lock:
            return all(k in self.outputs for k in keys)

    def put(self, key: str, output: dict[str, Any]) -> None:
        """Store one item's result."""
        with self._lock:
            self.outputs[key] = output


class _NoArgs(BaseModel):
    """The tools take no arguments: the work item is the tool."""


def prerequisites(item: WorkItem) -> list[str]:
    """Work items that must be done before ``item`` (from the stage order)."""
    stages = AFTER[item.stage]
    return [k for k, i in work_items().items() if i.stage in stages]


def item_tool(item: WorkItem, workspace: Workspace) -> BaseTool:
    """The tool that does one work item: the offline drafter on the project's own inputs."""

    def run() -> str:
        missing = [k for k in prerequisites(item) if not workspace.done([k])]
        if missing:
            return f"error: do {', '.join(missing)} first"
        output = OfflineDrafter().run(item.call).output.model_dump(mode="json")
        workspace.put(item.key, output)
        return json.dumps(output, separators=(",", ":"))

    what = item.key if item.key == item.stage else f"{item.stage} work item {item.key}"
    return StructuredTool.from_function(
        run, name=item.tool, args_schema=_NoArgs,
        description=f"Do the {what} of the launch ({item.call.output_type.__name__}).")


def _instruction(messages: list[BaseMessage], agent: str) -> list[str]:
    """The work items the supervisor's last hand-off gave ``agent``."""
    for message in reversed(messages):
        if isinstance(message, AIMessage) and message.name == "supervisor":
            for line in str(message.content).splitlines():
                if line.startswith(f"{agent}: "):
                    return line.removeprefix(f"{agent}: ").split(", ")
    return []


def worker_policy(agent: str, workspace: Workspace) -> Policy:
    """Call the tools of the items handed over (all ready ones at once, if allowed); report."""
    items = work_items()

    def policy(messages: list[BaseMessage],
               options: dict[str, Any]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        assigned = _instruction(messages, agent)
        results = {m.name: str(m.content) for m in messages if isinstance(m, ToolMessage)}
        todo = [items[k] for k in assigned if items[k].tool not in results]
        ready = [i for i in todo if workspace.done(prerequisites(i))]
        if ready:
            batch = ready if options.get("parallel_tool_calls") else ready[:1]
            return "", [(i.tool, {}) for i in batch]
        done = [k for k in assigned if not results.get(items[k].tool, "error").startswith("error")]
        blocked = [k for k in assigned if k not in done]
        return f"Done: {', '.join(done)}." + (f"\nBlocked: {', '.join(blocked)}." if blocked
                                                else ""), []

    return policy


def supervisor_policy(design: str) -> Policy:
    """Hand off step by step; finish with a plain answer when every item is reported done."""
    items = work_items()
    steps = [[[k for k, i in items.items() if i.stage in group] for group in step]
             for step in STEPS[design]]

    def policy(messages: list[BaseMessage],
               options: dict[str, Any]) -> tuple[str, list[tuple[str, dict[str, Any]]]]:
        done = set()
        for message in messages:
            first = str(message.content).splitlines()[0] if message.content else ""
            if isinstance(message, AIMessage) and message.name in WORKERS and (
                    first.startswith("Done: ")):
                done.update(first.removeprefix("Done: ").rstrip(".").split(", "))
        for step in steps:
            groups = [g for g in step if not set(g) <= done]
            if groups:
                lines = [f"{items[g[0]].agent}: {', '.join(g)}" for g in groups]
                return "\n".join(lines), [(f"transfer_to_{items[g[0]].agent}", {})
                                          for g in groups]
        return f"Launch ready: all {len(items)} work items done.", []

    return policy


SUPERVISOR_PROMPT = """\
You supervise the launch of a referral program. Your team:
- lifecycle-ops: the launch checklist, tooling & QA, customer communications (one draft per
  channel x segment, and the landing page) and go-live.
- partner-manager: the partner kit and enablement.
- partner-ops: partner workflows and the approval package.
Run the launch in this order: checklist -> tooling & QA -> communications and enablement ->
partner workflows -> go-live. Hand work to the agent that owns it, naming the work items on
one line per agent ("agent: item, item"). {handoffs} When every work item is done, answer
with a short launch summary."""
HANDOFFS = {"supervisor (defaults)": "Hand off to one agent at a time.",
            "supervisor (tuned)": ("Give an agent every item it can do in one go, and hand off "
                                   "to several agents at once when their work is independent.")}
WORKER_RULES = """\
# How you work in this team
- A supervisor hands you work items by name. Do each one by calling its tool{batch}.
- When your items are done, reply with one line "Done: <the items>".
"""


@contextlib.contextmanager
def supervisor_react_v1() -> Iterator[None]:
    """Build the supervisor's ReAct agent with ``version="v1"`` (issue #230 workaround)."""
    import langgraph_supervisor.supervisor as module

    original = module.create_react_agent
    module.create_react_agent = functools.partial(original, version="v1")
    try:
        yield
    finally:
        module.create_react_agent = original


def build_team(design: str, latency: float, meter: Meter, workspace: Workspace, *,
               workaround: bool = True) -> Any:
    """The compiled supervisor graph of ``design`` over the three workers."""
    from langgraph.prebuilt import create_react_agent
    from langgraph_supervisor import create_supervisor

    tuned = design == "supervisor (tuned)"
    items = work_items()
    workers = []
    for agent in WORKERS:
        model = LatencyChatModel(role=agent, latency=latency, meter=meter,
                                 policy=worker_policy(agent, workspace))
        tools = [item_tool(i, workspace) for i in items.values() if i.agent == agent]
        rules = WORKER_RULES.format(batch="; call every item you can at once" if tuned else "")
        workers.append(create_react_agent(
            model.bind_tools(tools, parallel_tool_calls=tuned), tools, name=agent,
            prompt=agent_prefix(agent).replace(HOUSE_RULES, rules)))
    supervisor = LatencyChatModel(role="supervisor", latency=latency, meter=meter,
                                  policy=supervisor_policy(design))
    with supervisor_react_v1() if tuned and workaround else contextlib.nullcontext():
        return create_supervisor(
            workers, model=supervisor, parallel_tool_calls=tuned, output_mode="last_message",
            prompt=SUPERVISOR_PROMPT.format(handoffs=HANDOFFS[design])).compile()


def run_supervisor(design: str, latency: float, *, workaround: bool = True) -> Outcome:
    """The launch on a langgraph-supervisor team (``design``: defaults or tuned)."""
    meter, workspace = Meter(), Workspace()
    start = time.perf_counter()
    with warnings.catch_warnings():  # create_react_agent is deprecated since LangGraph 1.0
        warnings.simplefilter("ignore", DeprecationWarning)
        graph = build_team(design, latency, meter, workspace, workaround=workaround)
    final = graph.invoke({"messages": [HumanMessage(f"Run this launch: {COMMAND}")]},
                         {"recursion_limit": 200})
    wall = time.perf_counter() - start
    assert str(final["messages"][-1].content).startswith("Launch ready"), final["messages"][-1]
    return Outcome(design, wall, meter, meter.chain,
                   {k: digest(v) for k, v in workspace.outputs.items()})


# -- measurement ----------------------------------------------------------------------------


def run_design(design: str, latency: float, concurrency: int, workaround: bool) -> Outcome:
    """One run of one design."""
    if design == "project":
        return run_project(latency, concurrency)
    return run_supervisor(design, latency, workaround=workaround)


def measure(latency: float = 0.5, runs: int = 3, concurrency: int = 16,
            warmup: bool = True, workaround: bool = True) -> dict[str, Any]:
    """Run the three designs ``runs`` times each, alternating; figures and ratios.

    ``workaround=False`` builds the tuned supervisor as the library does (``version="v2"``),
    to see the parallel hand-off bug in the figures.
    """
    if warmup:
        for design in DESIGNS:
            run_design(design, 0.0, concurrency, workaround)
    walls: dict[str, list[float]] = {d: [] for d in DESIGNS}
    last: dict[str, Outcome] = {}
    for round_no in range(runs):
        shift = round_no % len(DESIGNS)
        for design in DESIGNS[shift:] + DESIGNS[:shift]:
            outcome = run_design(design, latency, concurrency, workaround)
            walls[design].append(outcome.wall)
            if design in last:  # every run must do the same work with the same calls
                assert len(outcome.meter.calls) == len(last[design].meter.calls), design
            last[design] = outcome
    reference = reference_outputs()
    rows = {}
    for design in DESIGNS:
        outcome = last[design]
        cost = outcome.meter.tokens()
        bound = outcome.chain * latency
        wall = statistics.median(walls[design])
        rows[design] = {
            "wall_s": wall, "walls_s": walls[design], "calls": len(outcome.meter.calls),
            "calls_by_role": outcome.meter.by_role(), "chain": outcome.chain,
            "bound_s": bound, "wall_over_bound": wall / bound if bound else None, **cost,
            "work_items": sorted(outcome.outputs),
            "same_outputs": outcome.outputs == reference,
        }
        if outcome.plan_input_tokens is not None:
            rows[design]["plan_input_tokens"] = outcome.plan_input_tokens
    base = rows["project"]
    for design in DESIGNS[1:]:
        pair = Pair(design, "project", design, walls["project"], walls[design])
        row = rows[design]
        row["vs_project"] = {
            "wall": pair.ratio, "wall_paired": pair.paired_ratio,
            "calls": row["calls"] / base["calls"], "chain": row["chain"] / base["chain"],
            "input_tokens": row["input_tokens"] / base["input_tokens"],
            "effective_input_tokens": (row["effective_input_tokens"]
                                       / base["effective_input_tokens"])}
    return {"launch": LAUNCH, "latency_s": latency, "runs": runs, "concurrency": concurrency,
            "v1_workaround": workaround, "work_items": len(work_items()), "designs": rows}


def table(report: dict[str, Any]) -> str:
    """The report as Markdown."""
    head = ("| design | wall (median) | model calls | dependent chain | bound | wall / bound "
            "| input tokens | cached (ideal) | effective input | wall vs project "
            "| calls vs project |\n| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
            "| ---: | ---: | ---: |")
    lines = [head]
    for design, row in report["designs"].items():
        vs = row.get("vs_project") or {"wall": 1.0, "calls": 1.0}
        lines.append(
            f"| {design} | {row['wall_s']:.2f} s | {row['calls']} | {row['chain']} "
            f"| {row['bound_s']:.2f} s | {row['wall_over_bound']:.2f}x "
            f"| {row['input_tokens']:,} | {row['cached_share']:.0%} "
            f"| {row['effective_input_tokens']:,.0f} "
            f"| {vs['wall']:.2f}x | {vs['calls']:.2f}x |")
    roles = "; ".join(f"{d}: " + ", ".join(f"{r} {n}" for r, n in row["calls_by_role"].items())
                      for d, row in report["designs"].items())
    same = all(row["same_outputs"] for row in report["designs"].values())
    lines += ["", f"{report['work_items']} work items; latency {report['latency_s']:g} s per "
              f"call; {report['runs']} runs, alternating; max_concurrency "
              f"{report['concurrency']} (project); tuned supervisor "
              f"{'with' if report['v1_workaround'] else 'WITHOUT'} the version=\"v1\" "
              f"workaround. Calls by role - {roles}. Outputs identical "
              f"to the offline drafter's in every design: {'yes' if same else 'NO'}."]
    return "\n".join(lines)


def main() -> None:
    """Parse arguments, measure, print."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.5, help="seconds per model call")
    parser.add_argument("--runs", type=int, default=3, help="rounds of the three designs")
    parser.add_argument("--concurrency", type=int, default=16,
                        help="the project's max_concurrency")
    parser.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    parser.add_argument("--no-workaround", action="store_true",
                        help='tuned supervisor without the version="v1" fix (shows the bug)')
    args = parser.parse_args()
    report = measure(args.latency, args.runs, args.concurrency,
                     workaround=not args.no_workaround)
    if args.json:
        json.dump(report, sys.stdout, indent=2)
        print()
    else:
        print(table(report))


if __name__ == "__main__":
    main()
