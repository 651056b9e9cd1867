"""Surfaces for agent hosts: live transition streams, langchain-core tools, graph input.

- :func:`stream` / :func:`stream_launch` run an orchestrator call in a worker thread and
  yield each hash-chained transition record the moment it is persisted - the same records
  the plan JSON gets, in the same order. One :class:`TransitionStream` serves both
  ``for rec in ...`` and ``async for rec in ...``; ``.result`` holds the ``LaunchResult``.
- :func:`as_tool` / :func:`as_tools` wrap the orchestrator as langchain-core tools for a
  host agent (sync and async, errors returned to the model as fixable one-liners).
- :func:`launch_input` builds the initial state of :func:`build_graph`'s graph, for hosts
  that embed the compiled graph as a subgraph of their own ``StateGraph`` (see
  ``examples/host_subgraph.py``); :func:`server_graph` serves it with LangGraph, taking a
  :class:`LaunchForm` as input.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import queue
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Required

from pydantic import Field
from typing_extensions import TypedDict

from referral_orchestrator.engine.roster import load_roster
from referral_orchestrator.errors import ReferralError
from referral_orchestrator.plan.store import DEFAULT_PLANS_DIR

if TYPE_CHECKING:
    from langchain_core.tools import BaseTool

    from referral_orchestrator.orchestrator import LaunchResult, Orchestrator

Method = Literal["launch", "approve", "escalation", "resume", "status"]


@dataclass
class _End:
    result: Any = None
    error: BaseException | None = None


class TransitionStream:
    """Transition records of one orchestrator call, as they happen (iterate once).

    The call runs in a worker thread with its own ``Orchestrator`` whose ``on_transition``
    feeds a queue, so neither the caller's thread nor its event loop ever blocks on the
    graph. If the consumer stops early the run still finishes (the plan stays whole).
    """

    def __init__(self, call: Callable[[Callable[[dict[str, Any]], None]], LaunchResult]) -> None:
        self._call = call
        self._started = False
        self.result: LaunchResult | None = None
        """The ``LaunchResult``, set once the stream is exhausted."""
        self.records: list[dict[str, Any]] = []
        """Every record yielded so far."""

    def _start(self, put: Callable[[Any], object]) -> None:
        if self._started:
            raise RuntimeError("a TransitionStream can be iterated only once")
        self._started = True

        def emit(record: dict[str, Any]) -> None:
            put(record)

        def work() -> None:
            try:
                put(_End(result=self._call(emit)))
            except BaseException as exc:  # handed to the consumer, raised there
                put(_End(error=exc))

        threading.Thread(target=work, name="referral-stream", daemon=False).start()

    def _finish(self, end: _End) -> None:
        if end.error is not None:
            raise end.error
        self.result = end.result

    def __iter__(self) -> Iterator[dict[str, Any]]:
        items: queue.Queue[Any] = queue.Queue()
        self._start(items.put)
        while True:
            item = items.get()
            if isinstance(item, _End):
                self._finish(item)
                return
            self.records.append(item)
            yield item

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._aiter()

    async def _aiter(self) -> AsyncIterator[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        items: asyncio.Queue[Any] = asyncio.Queue()
        self._start(lambda item: loop.call_soon_threadsafe(items.put_nowait, item))
        while True:
            item = await items.get()
            if isinstance(item, _End):
                self._finish(item)
                return
            self.records.append(item)
            yield item

    def run(self) -> LaunchResult:
        """Drain the stream and return the result (handy when only ``records`` matter)."""
        for _ in self:
            pass
        assert self.result is not None
        return self.result


def _sibling(orch: Orchestrator, hook: Callable[[dict[str, Any]], None]) -> Orchestrator:
    """A new orchestrator with ``orch``'s settings and ``hook`` as its transition callback."""
    from referral_orchestrator.orchestrator import Orchestrator

    twin = Orchestrator(model=orch.model, clock=orch.clock, store=orch.store,
                        max_concurrency=orch.max_concurrency, on_transition=hook)
    twin.runner_options = dict(orch.runner_options)
    return twin


def stream(orchestrator: Orchestrator, method: Method, *args: Any,
           **kwargs: Any) -> TransitionStream:
    """Stream the transitions of ``orchestrator.<method>(*args, **kwargs)``.

    ``method`` is ``launch``, ``approve``, ``escalation``, ``resume`` or ``status``::

        s = stream(orch, "approve", plan_id, "legal")
        for record in s:
            print(record["node"], record["event"], record["agent"])
        s.result.status
    """
    if method not in ("launch", "approve", "escalation", "resume", "status"):
        raise ValueError(f"cannot stream {method!r}: use launch, approve, escalation, "
                         "resume or status")

    def call(hook: Callable[[dict[str, Any]], None]) -> LaunchResult:
        result: LaunchResult = getattr(_sibling(orchestrator, hook), method)(*args, **kwargs)
        return result

    return TransitionStream(call)


def stream_launch(program: str, launch_date: str, channels: str | list[str], *,
                  plans_dir: str | Path = DEFAULT_PLANS_DIR, model: Any = "offline",
                  **kwargs: Any) -> TransitionStream:
    """Launch a program and stream its transitions (see :meth:`Orchestrator.launch`)."""
    from referral_orchestrator.orchestrator import Orchestrator

    return stream(Orchestrator(plans_dir, model=model), "launch", program, launch_date,
                  channels, **kwargs)


# -- langchain-core tools ---------------------------------------------------------------


def _report(result: LaunchResult) -> str:
    return json.dumps(result.to_dict(), ensure_ascii=False)


def _error(exc: Exception) -> str:
    code = getattr(exc, "code", "error")
    return f"error ({code}): {exc}"


def as_tools(orchestrator: Orchestrator | None = None, *,
             plans_dir: str | Path = DEFAULT_PLANS_DIR, model: Any = "offline") -> list[BaseTool]:
    """The launch, approve, escalation and status tools for a host agent.

    Rendered from the table of operations (:mod:`.operations`): names, descriptions and
    argument schemas are the ones the MCP server and the CLI show. Each tool returns the
    ``--format json`` document of the result; a bad input comes back as
    ``error (<code>): <how to fix it>`` so the host model can correct itself.
    """
    from langchain_core.tools import StructuredTool, ToolException

    from referral_orchestrator.orchestrator import Orchestrator

    from .operations import TOOLS, Operation, arguments_model, exposed

    orch = orchestrator or Orchestrator(plans_dir, model=model)

    def sync(op: Operation) -> Callable[..., str]:
        def run(**kw: Any) -> str:
            try:
                return _report(getattr(orch, op.method)(**op.call_kwargs(kw)))
            except ReferralError as exc:
                raise ToolException(_error(exc)) from exc
        return run

    def async_(op: Operation) -> Callable[..., Any]:
        async def run(**kw: Any) -> str:
            try:
                return _report(await getattr(orch, "a" + op.method)(**op.call_kwargs(kw)))
            except ReferralError as exc:
                raise ToolException(_error(exc)) from exc
        return run

    return [StructuredTool.from_function(func=sync(op), coroutine=async_(op), name=op.tool,
                                         description=op.doc(),
                                         args_schema=arguments_model(op, TOOLS),
                                         handle_tool_error=True)
            for op in exposed(TOOLS)]


def as_tool(orchestrator: Orchestrator | None = None, *,
            plans_dir: str | Path = DEFAULT_PLANS_DIR, model: Any = "offline") -> BaseTool:
    """The ``launch_referral_program`` tool alone (see :func:`as_tools`)."""
    return as_tools(orchestrator, plans_dir=plans_dir, model=model)[0]


# -- graph input for embedding -----------------------------------------------------------


def launch_input(program: str, launch_date: str, channels: str | list[str], *,
                 segments: str | list[str] | None = None,
                 approvers: str | list[str] | None = None, as_of: str | None = None,
                 pattern: str = "diamond", roster: str | Path | None = None,
                 landing_url: str | None = None, country: str | None = None,
                 subdivision: str | None = None, timezone: str | None = None,
                 currency: str | None = None) -> dict[str, Any]:
    """The validated initial state for ``build_graph()`` (raises ``InvalidRequest``).

    Use it to invoke the compiled graph yourself - as a subgraph of a host ``StateGraph``,
    or as the input of a run on a LangGraph server.
    """
    from referral_orchestrator.launch.request import parse_request
    from referral_orchestrator.orchestrator import DEFAULT_LANDING, Orchestrator

    req = parse_request(program=program, launch_date=launch_date, channels=channels,
                        segments=segments, approvers=approvers, as_of=as_of, pattern=pattern,
                        country=country, subdivision=subdivision, timezone=timezone,
                        currency=currency)
    landing = landing_url or DEFAULT_LANDING.format(slug=req.program_slug)
    values = Orchestrator._initial_state(req, load_roster(roster), landing)
    values["probe_landing"] = landing_url is not None
    return values


class LaunchForm(TypedDict, total=False):
    """The LangGraph server's input: a launch as the CLI takes it (Studio shows a form).

    The server graph's first node validates it exactly as ``launch-program`` does
    (:func:`launch_input`) and starts the launch from the result.
    """

    program: Required[Annotated[str, Field(
        description="program name or id, e.g. Customer Advocates")]]
    launch_date: Required[Annotated[str, Field(
        description="go-live date, YYYY-MM-DD", json_schema_extra={"format": "date"})]]
    channels: Required[Annotated[list[str], Field(
        description="channels, e.g. email, in-app (sms, push, social, landing-page, "
                    "partner-portal)", min_length=1)]]
    segments: Annotated[list[str], Field(description="participant personas")]
    approvers: Annotated[list[str], Field(
        description="stakeholders who gate go-live, e.g. legal, finance")]
    as_of: Annotated[str, Field(description="planning date YYYY-MM-DD (default: today)",
                                json_schema_extra={"format": "date"})]
    pattern: Annotated[Literal["diamond", "pipeline"], Field(
        description="communications and enablement in parallel (diamond) or in sequence")]
    country: Annotated[str, Field(
        description="ISO 3166-1 alpha-2 code of the holiday calendar (default US)")]
    subdivision: Annotated[str, Field(description="state or region for its holidays")]
    timezone: Annotated[str, Field(description="IANA zone of sessions and go-live")]
    currency: Annotated[str, Field(description="ISO 4217 code of the rewards")]
    landing_url: Annotated[str, Field(description="the program's landing page (probed by QA)")]


def intake(state: LaunchForm) -> dict[str, Any]:
    """The server graph's first node: the form, validated as the CLI validates it."""
    given: dict[str, Any] = {k: v for k, v in state.items() if v is not None}
    return launch_input(given.pop("program", None), given.pop("launch_date", None),
                        given.pop("channels", None), **given)


def server_graph() -> Any:
    """The launch graph for ``langgraph.json`` (a zero-argument graph factory).

    Its input is :class:`LaunchForm` (``intake`` turns it into the launch's state), its
    output the launch state, its context schema ``RunContext``'s plain fields (``model``,
    ``max_concurrency``): the schemas Studio and SDK clients get from ``get_schemas``.
    LangGraph's server looks the graph up in the module's ``__dict__``, where the lazily
    built ``graph.graph`` is not yet present; a factory needs no import-time compile.
    The server owns persistence, so the graph is compiled without a checkpointer.
    """
    from langgraph.graph import START, StateGraph

    from referral_orchestrator.engine.graph import wire
    from referral_orchestrator.engine.state import LaunchState, RunContext

    g = StateGraph(LaunchState, context_schema=RunContext, input_schema=LaunchForm,
                   output_schema=LaunchState)
    g.add_node("intake", intake)
    g.add_edge(START, "intake")
    wire(g, entry="intake")
    return g.compile(name="referral-launch")


@contextlib.asynccontextmanager
async def server_checkpointer() -> AsyncIterator[Any]:
    """The team store's checkpointer for a LangGraph server (``langgraph.postgres.json``).

    ``langgraph dev --config langgraph.postgres.json`` (and LangGraph Platform with the same
    ``checkpointer.path``) keeps the server's threads in the PostgreSQL database named by
    ``REFERRAL_ORCHESTRATOR_STORE``, beside the plans the CLI and the MCP server write there;
    the database must have had ``referral-orchestrator store migrate``.
    """
    from referral_orchestrator.errors import UsageError
    from referral_orchestrator.plan.pgstore import PgStore
    from referral_orchestrator.plan.stores import STORE_ENV, open_store

    store = open_store()  # the variable, as every command reads it
    if not isinstance(store, PgStore):
        raise UsageError(f"langgraph.postgres.json keeps threads in PostgreSQL: set {STORE_ENV}"
                         "=postgresql://user@host/db (after 'referral-orchestrator store "
                         "migrate')")
    async with store.async_checkpointer() as saver:
        yield saver


# A LangGraph server imports this module in a worker thread, then calls server_graph() on its
# event loop, which refuses blocking file reads; the graph's node metadata names the agents
# from agents/*.md (read once per process), so read them now.
load_roster()
