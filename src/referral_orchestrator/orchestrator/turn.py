"""One command's turn on a plan: drive its checkpoint thread, then finish.

Every command that moves a plan (launch, approve, escalation, resume, a slipped deadline)
runs one :class:`Turn` under the plan's lock: *drive* the thread with the plan's runner
(``_drive``, ``_stream``), *project* the plan from the state it stopped in (the pure
``plan.record.project``) and *finish* (``_finish``: render the artifacts, write the plan).

The plan is written once per super-step, with every record the step's updates brought,
before the next step runs (``_stream``), so the plan's ``transitions`` are exactly the
stream's updates, in order. After a crash the checkpoint is the truth: missing records are
merged back from it (by key) before the run goes on.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from referral_orchestrator.artifacts.result import LaunchResult
from referral_orchestrator.errors import CheckpointMismatch
from referral_orchestrator.plan.base import Store
from referral_orchestrator.plan.chain import chain
from referral_orchestrator.plan.faults import quiet_abandoned_tasks
from referral_orchestrator.plan.recovery import check_thread

if TYPE_CHECKING:
    from referral_orchestrator.artifacts.ahead import FilesAhead
    from referral_orchestrator.runners import AgentRunner

TransitionHook = Callable[[dict[str, Any]], None]
# A super-step running longer than this also writes the plan as its branches finish
STEP_WRITE_INTERVAL = 1.0


class _Stopped(NamedTuple):
    """Where driving left a plan's thread: its state, the plan's chain, what is announced."""

    values: dict[str, Any]
    transitions: list[dict[str, Any]]
    interrupts: list[dict[str, Any]]
    finished: bool  # no task left to run
    announced: int  # transitions already handed to ``on_transition``


@contextlib.contextmanager
def plan_graph(home: Store, plan_id: str) -> Iterator[Any]:
    """The compiled graph on the checkpointer of the plan's store."""
    from referral_orchestrator.engine.graph import launch_graph

    quiet_abandoned_tasks()
    with home.checkpointer(plan_id) as saver:
        yield launch_graph(saver)


def thread_config(doc: dict[str, Any]) -> dict[str, Any]:
    """The plan's checkpoint thread (its id is the plan id)."""
    return {"configurable": {"thread_id": doc["plan_id"]}}


def plan_result(home: Store, path: Path, plan: dict[str, Any]) -> LaunchResult:
    """What a command returns: the plan, its files and the next actions."""
    from referral_orchestrator.artifacts.report import next_actions

    return LaunchResult(plan_id=plan["plan_id"], status=plan["status"], plan_path=path,
                        artifacts=dict(plan["deliverables"]),
                        next_actions=next_actions(plan, home.command_options),
                        pending=plan.get("pending"), plan=plan)


class Turn:
    """One command's turn on the plan ``doc`` at ``path`` in ``home`` (its lock held)."""

    def __init__(self, home: Store, path: Path, doc: dict[str, Any], *,
                 clock: Callable[[], dt.datetime], max_concurrency: int,
                 on_transition: TransitionHook | None) -> None:
        self.home, self.path, self.doc = home, path, doc
        self.clock = clock
        self.max_concurrency = max_concurrency
        self.on_transition = on_transition
        # what the plan records beside the graph state (the projection's metadata)
        self.meta: dict[str, Any] = {k: doc[k] for k in ("plan_id", "model", "created_at",
                                                         "status")}
        self.meta.update(
            given=doc["request"]["given"], out_dir=doc["context_passing"]["artifacts_location"],
            checkpoint=doc["context_passing"].get("checkpoint", ""),
            max_concurrency=max_concurrency, deliverables=doc["deliverables"],
            artifact_digests=doc.get("artifact_digests", {}), pending=doc.get("pending"))

    def run(self, graph_input: Any, runner: AgentRunner, *, fresh: bool = False,
            ) -> LaunchResult:
        """Drive the graph until it stops, then finish."""
        from referral_orchestrator.artifacts.ahead import FilesAhead
        from referral_orchestrator.runners.base import answers_at_once

        # files are composed ahead only while calls wait: beside a runner that answers at
        # once (the offline drafter) they would only compete with the run
        ahead = FilesAhead(enabled=not answers_at_once(runner))
        try:
            with plan_graph(self.home, self.doc["plan_id"]) as graph:
                stopped = self._drive(graph, graph_input, runner, fresh=fresh, ahead=ahead)
            return self._finish(stopped, ahead)
        finally:
            ahead.close()

    @staticmethod
    def _snapshot(graph: Any, config: dict[str, Any], *, fresh: bool = False) -> Any:
        """The thread's state; a fresh plan first drops a deleted plan's leftover thread."""
        try:
            snap = graph.get_state(config)
        except CheckpointMismatch:
            if not fresh:
                raise
            snap = None
        if fresh and (snap is None or snap.values):  # a deleted plan's, under a reused id
            graph.checkpointer.delete_thread(config["configurable"]["thread_id"])
            snap = graph.get_state(config)
        return snap

    def _drive(self, graph: Any, graph_input: Any, runner: AgentRunner, *,
               fresh: bool, ahead: FilesAhead) -> _Stopped:
        """Run the plan's thread until it waits, ends or fails; persist every transition."""
        from referral_orchestrator.engine.state import RunContext
        from referral_orchestrator.plan.record import values_from_plan
        ctx = RunContext(runner=runner, clock=self.clock, max_concurrency=self.max_concurrency,
                         on_call=ahead.call_started if ahead.enabled else None)
        config = {**thread_config(self.doc), "max_concurrency": self.max_concurrency,
                  "recursion_limit": 200}
        transitions: list[dict[str, Any]] = self.doc["transitions"]
        snap = self._snapshot(graph, config, fresh=fresh)
        if not fresh:
            check_thread(self.home, self.doc, snap.values)
        started = bool(snap.values.get("run_id"))  # not just the unapplied input
        values: dict[str, Any] = dict(snap.values) if started else values_from_plan(self.doc)
        announced = len(transitions)
        if graph_input is None and snap.values:
            transitions = chain(snap.values.get("transitions", []), transitions)
        run = True
        if graph_input is None and not snap.values:
            graph_input = values  # killed before the first checkpoint: start over
        elif graph_input is None:
            # `next` hides tasks whose writes were saved before a crash; `tasks` does not.
            # Only tasks that are all waiting on a person leave nothing to run.
            run = any(not t.interrupts for t in snap.tasks)
        if run:
            self.meta["status"] = "running"
            # Closed before the checkpointer is: a failure here (a full disk) must wait
            # for the step's background checkpoint writes instead of closing the database
            # under them.
            with contextlib.closing(graph.stream(
                    graph_input, config, context=ctx, stream_mode=["updates", "values"],
                    durability="sync")) as chunks:
                transitions, announced = self._stream(chunks, values, transitions, announced,
                                                      ahead)
        snap = graph.get_state(config)
        values = {k: v for k, v in dict(snap.values).items() if not k.startswith("__")}
        return _Stopped(values=values,
                        transitions=chain(values.get("transitions", []), transitions),
                        interrupts=[i.value for t in snap.tasks for i in t.interrupts],
                        finished=not snap.tasks, announced=announced)

    def _stream(self, chunks: Iterable[tuple[str, Any]], values: dict[str, Any],
                transitions: list[dict[str, Any]], announced: int, ahead: FilesAhead,
                ) -> tuple[list[dict[str, Any]], int]:
        """Write the plan once per super-step with the step's transitions; announce them.

        A step's parallel branches (the fan-out's drafts) bring one update each; their
        records are written together when the step ends (its ``values`` chunk), before the
        generator is resumed, so before the next step can start. A step that runs longer
        than ``STEP_WRITE_INTERVAL`` also writes what it has so far when a new update comes
        in, so a long fan-out shows progress. Until a record is in the plan it is in the
        checkpoint (LangGraph saves each task's writes as it finishes): a crash loses none.
        Once the merge gate has passed the drafts, the artifacts whose inputs are known are
        composed ahead (``ahead``) while the remaining calls wait.
        """
        # The plan records the state of the last checkpointed step ("settled"), never a
        # newer one: a values chunk is emitted before its checkpoint is written, and is
        # only known to be durable once the next step's updates arrive.
        settled = latest = values
        written = time.monotonic()
        dirty = False
        for mode, chunk in chunks:
            if mode == "values":
                latest = {k: v for k, v in chunk.items() if not k.startswith("__")}
                merged = chain(latest.get("transitions", []), transitions)
                if latest.get("outcome", {}).get("communications") == "ok":
                    ahead.offer(latest, Path(self.meta["out_dir"]), self.meta["plan_id"])
            else:
                settled = latest
                records = [r for node, upd in chunk.items() if not node.startswith("__") and upd
                           for r in upd.get("transitions", [])]
                merged = chain(records, transitions)
            if len(merged) != len(transitions):
                transitions, dirty = merged, True
            if dirty and (mode == "values"
                          or time.monotonic() - written >= STEP_WRITE_INTERVAL):
                self._persist(settled, transitions, announced)
                announced, dirty, written = len(transitions), False, time.monotonic()
        if dirty:  # the stream stopped inside a step (an interrupt): write what it brought
            self._persist(settled, transitions, announced)
            announced = len(transitions)
        return transitions, announced

    def _persist(self, settled: dict[str, Any], transitions: list[dict[str, Any]],
                 announced: int) -> None:
        """Write the plan with ``transitions``, then announce the ones not yet announced."""
        from referral_orchestrator.plan.record import build

        self.meta["updated_at"] = self.clock().isoformat()
        self.home.write(self.path, build(self.meta, settled, transitions))
        self._announce(transitions[announced:])

    def _finish(self, stopped: _Stopped, ahead: FilesAhead) -> LaunchResult:
        """Render the artifacts, project the final plan, write it, announce the rest."""
        from referral_orchestrator.artifacts.render import render
        from referral_orchestrator.plan.record import project

        meta, out_dir = self.meta, Path(self.meta["out_dir"])
        written = render(stopped.values, out_dir, plan_id=meta["plan_id"], plan_path=self.path,
                         ahead=ahead.take(stopped.values, out_dir, meta["plan_id"]))
        meta["deliverables"] = {"plan": self.home.where(self.path), **written.paths}
        meta["artifact_digests"] = written.digests
        meta["updated_at"] = self.clock().isoformat()
        plan = project(meta, stopped.values, stopped.transitions,
                       interrupts=stopped.interrupts, finished=stopped.finished)
        self.home.write(self.path, plan)
        self._announce(stopped.transitions[stopped.announced:])
        return plan_result(self.home, self.path, plan)

    def _announce(self, records: list[dict[str, Any]]) -> None:
        """Tell the host about records once they are persisted."""
        if self.on_transition is not None:
            for rec in records:
                self.on_transition(rec)
