"""Launch, approve, decide, resume and report - the API behind the CLI and agent hosts.

The orchestrator drives the compiled graph with its store's checkpointer (thread id = plan
id) and writes the plan once per super-step, with every record the step's updates
brought, before the next step runs (``_stream``), so the plan's ``transitions`` are exactly
the stream's updates, in order. After a crash the checkpoint is the truth: missing records
are merged back from it (by key) before the run goes on.
Plans, locks and checkpoints are reached only through a :class:`~referral_orchestrator.
plan.base.Store` (default: a :class:`~referral_orchestrator.plan.store.FileStore`).

Every command that moves a plan runs ``_run``: *drive* the thread with a runner resolved
for that plan (``_drive``), *project* the plan from the state it stopped in (the pure
``plan.record.project``) and *finish* (``_finish``: render the artifacts, write the plan).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, ParamSpec, TypeVar

from .artifacts.manifest import check_free, claim
from .artifacts.result import LaunchResult
from .artifacts.verify import validate_plan
from .errors import (
    CheckpointMismatch,
    InvalidDecision,
    RunHalted,
    UsageError,
)
from .launch.checks import (
    check_landing_url,
    check_launch_window,
    check_limits,
    check_note,
    parse_date,
)
from .plan.base import PlanRef, Store
from .plan.chain import chain
from .plan.faults import quiet_abandoned_tasks, storage_errors
from .plan.recovery import check_thread, rebuild
from .plan.signing import signing_key
from .plan.store import DEFAULT_PLANS_DIR
from .plan.stores import lock_timeout_from_env, open_store

if TYPE_CHECKING:  # the rest is imported where a run needs it: status and validate do not
    from .artifacts.ahead import FilesAhead
    from .engine.roster import Roster
    from .launch.request import LaunchRequest
    from .runners import AgentRunner

__all__ = ["LaunchResult", "Orchestrator", "launch_program", "resolve_runner", "validate_plan"]

DEFAULT_LANDING = "https://www.example.com/refer/{slug}"
_P = ParamSpec("_P")
_T = TypeVar("_T")
TransitionHook = Callable[[dict[str, Any]], None]
SPONSOR = "exec-sponsor"  # the role whose allow-list covers escalation decisions
# A super-step running longer than this also writes the plan as its branches finish
STEP_WRITE_INTERVAL = 1.0


class _Stopped(NamedTuple):
    """Where driving left a plan's thread: its state, the plan's chain, what is announced."""

    values: dict[str, Any]
    transitions: list[dict[str, Any]]
    interrupts: list[dict[str, Any]]
    finished: bool  # no task left to run
    announced: int  # transitions already handed to ``on_transition``


class Orchestrator:
    """Runs launches against one store of plans. Safe to use from notebooks and async hosts.

    ``store`` is where plans, locks and checkpoints live: a ``Store``, or a
    ``postgresql://`` URL (a :class:`~referral_orchestrator.plan.pgstore.PgStore`); by
    default ``REFERRAL_ORCHESTRATOR_STORE``'s URL, else a :class:`~referral_orchestrator.
    plan.store.FileStore` on ``plans_dir``. Its lock wait is ``lock_timeout`` (else
    ``REFERRAL_ORCHESTRATOR_LOCK_TIMEOUT``, else 60 s). ``clock`` (default: now, in UTC)
    stamps every time the plan records; a naive reading is taken as the machine's local time.
    """

    def __init__(self, plans_dir: str | Path = DEFAULT_PLANS_DIR, *, model: Any = "offline",
                 clock: Callable[[], dt.datetime] | None = None, max_concurrency: int = 16,
                 on_transition: TransitionHook | None = None,
                 max_cost_usd: float | None = None,
                 runner_options: dict[str, Any] | None = None,
                 lock_timeout: float | None = None, store: Store | str | None = None) -> None:
        check_limits(max_concurrency=max_concurrency, max_cost_usd=max_cost_usd)
        # a bad value is refused whichever store is used
        timeout = lock_timeout_from_env(lock_timeout)
        self.store: Store = store if isinstance(store, Store) else open_store(
            store, plans_dir=plans_dir, lock_timeout=timeout)
        signing_key()  # a key that is set but too weak stops here, before anything is written
        self.model = model
        if clock is not None:
            from .launch.zones import aware_clock

            clock = aware_clock(clock)
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.max_concurrency = max_concurrency
        self.on_transition = on_transition
        # options for model runners (tiers, pin, client_factory, prices, ...)
        self.runner_options: dict[str, Any] = dict(runner_options or {})
        if max_cost_usd is not None:
            self.runner_options["max_cost_usd"] = max_cost_usd

    # -- public API -------------------------------------------------------------------

    def launch(self, program: str, launch_date: str | dt.date, channels: str | list[str], *,
               segments: str | list[str] | None = None, approvers: str | list[str] | None = None,
               as_of: str | dt.date | None = None, pattern: str = "diamond",
               roster: str | Path | Roster | None = None, landing_url: str | None = None,
               out_dir: str | Path | None = None, approval_lead_days: int = 5,
               country: str | None = None, subdivision: str | None = None,
               timezone: str | None = None, currency: str | None = None) -> LaunchResult:
        """Validate the request, create the plan and run the graph until done or waiting.

        ``country`` (ISO 3166-1 alpha-2, default US) and ``subdivision`` pick the holiday
        calendar; ``timezone`` (IANA) the wall clock of sessions and go-live; ``currency``
        (ISO 4217, default: the country's) the reward copy.
        """
        from .engine.roster import Roster, load_roster
        from .launch.request import parse_request

        landing_url = check_landing_url(landing_url)
        locale = dict(country=country, subdivision=subdivision, timezone=timezone,
                      currency=currency)
        given = {k: v for k, v in dict(program=program, launch_date=str(launch_date),
                 channels=channels, segments=segments, approvers=approvers,
                 as_of=None if as_of is None else str(as_of), pattern=pattern,
                 roster=None if roster is None or isinstance(roster, Roster) else str(roster),
                 landing_url=landing_url, **locale).items() if v is not None}
        req = parse_request(program=program, launch_date=launch_date, channels=channels,
                            segments=segments, approvers=approvers, as_of=as_of, pattern=pattern,
                            today=self.clock().date(), approval_lead_days=approval_lead_days,
                            **locale)
        team = roster if isinstance(roster, Roster) else load_roster(roster)
        # resolved for this plan alone: a runner's budget is one plan's, never shared
        runner = resolve_runner(self.model, **self.runner_options)
        with self._owned(runner):
            return self._launch(req, team, given, runner, out_dir, landing_url)

    def _launch(self, req: LaunchRequest, team: Roster, given: dict[str, Any],
                runner: AgentRunner, out_dir: str | Path | None,
                landing_url: str | None) -> LaunchResult:
        from .plan.record import build

        preflight = getattr(runner, "preflight", None)
        if callable(preflight):
            preflight()  # a missing or rejected key stops here, before anything is written
        if out_dir is not None:  # a folder with anything in it is refused before any write
            check_free(Path(out_dir))
        landing = landing_url or DEFAULT_LANDING.format(slug=req.program_slug)
        values = self._initial_state(req, team, landing)
        values["probe_landing"] = landing_url is not None
        now = self.clock()
        meta = {"given": given, "model": self._model_name(runner), "created_at": now.isoformat(),
                "updated_at": now.isoformat(), "status": "running",
                "checkpoint": self.store.checkpoint_location,
                "max_concurrency": self.max_concurrency}

        def make(plan_id: str) -> dict[str, Any]:
            # absolute: a run continued from another folder writes to the same place
            folder = (Path(out_dir) if out_dir is not None
                      else self.store.artifacts_folder(plan_id))
            meta.update(plan_id=plan_id, out_dir=str(folder.absolute()))
            return build(meta, values, [])

        with storage_errors(None):
            plan_id, path = self.store.create(make, now)
            try:  # the folder may have been taken since the check, or the default is not free
                claim(Path(str(meta["out_dir"])), plan_id, path)
            except BaseException:
                self.store.discard(path)  # nobody else knows this plan yet: leave nothing
                raise
        home = self.store.home_of(path)
        with storage_errors(plan_id), home.lock(plan_id):
            return self._run(home, path, home.load(path)[1], values, fresh=True, runner=runner)

    def approve(self, plan: PlanRef, approver: str, *, reject: bool = False,
                note: str | None = None, by: str | None = None) -> LaunchResult:
        """Record one approver's decision and resume the run."""
        note, by = check_note(note, "--note"), check_note(by, "--by", 80)
        with self._locked(plan) as (home, path, doc):
            self._expect(doc, "awaiting_approval", "approve")
            pending = [p["approver"] for p in (doc.get("pending") or {}).get("pending", [])]
            wanted = " ".join(approver.split()).lower()  # names are stored whitespace-collapsed
            match = next((p for p in pending if p.lower() == wanted), None)
            if match is None:
                raise InvalidDecision(
                    f"{approver!r} has no pending approval on {doc['plan_id']}: pending are "
                    f"{', '.join(pending) or 'none'}")
            identity = self._decider(home, doc, match, by)
            return self._run(home, path, doc, self._command({
                "type": "approval", "approver": match, "decision": "reject" if reject
                else "approve", "note": note, "by": by, "identity": identity}))

    def escalation(self, plan: PlanRef, decision: str, *, channel: str | None = None,
                   launch_date: str | None = None, note: str | None = None,
                   by: str | None = None) -> LaunchResult:
        """The exec sponsor's decision at the top of the ladder."""
        note, by = check_note(note, "--note"), check_note(by, "--by", 80)
        with self._locked(plan) as (home, path, doc):
            self._expect(doc, "awaiting_decision", "escalation")
            req = doc["request"]["normalized"]
            value: dict[str, Any] = {"decision": decision, "note": note, "by": by,
                                     "identity": self._decider(home, doc, SPONSOR, by)}
            if decision == "descope":
                if channel is None:
                    raise InvalidDecision("descope needs --channel: name the channel to drop")
                from .launch.channels import normalize_channel

                cid = normalize_channel(channel)
                if cid not in req["channels"] or len(req["channels"]) < 2:
                    raise InvalidDecision(
                        f"cannot descope {cid}: the launch channels are "
                        f"{', '.join(req['channels'])} and at least one must remain")
                value["channel"] = cid
            elif decision == "postpone":
                if launch_date is None:
                    raise InvalidDecision("postpone needs --launch-date: give the new date")
                new = parse_date(launch_date, "--launch-date")
                floor = max(dt.date.fromisoformat(req["as_of"]), self.clock().date())
                if new <= floor or new.isoformat() == req["launch_date"]:
                    raise InvalidDecision(
                        f"--launch-date {new} must be a new date after {floor}")
                check_launch_window(new, floor)
                value["launch_date"] = new.isoformat()
            elif decision not in ("proceed", "halt"):
                raise InvalidDecision(
                    f"unknown --decision {decision!r}: use proceed, descope, postpone or halt")
            return self._run(home, path, doc, self._command(value))

    def resume(self, plan: PlanRef, *, from_plan: bool = False) -> LaunchResult:
        """Continue a run that stopped (crash, kill) from its last checkpoint.

        ``from_plan=True`` first rebuilds the checkpoints from the plan's own records when
        they are missing or are not this plan's (another run's, or an older copy): the run
        goes on where the plan says it stood, with every decision and finished stage kept.
        """
        with self._locked(plan) as (home, path, doc):
            if doc["status"] == "halted":
                self._expect(doc, "running", "resume")
            if from_plan:
                with self._graph(home, doc["plan_id"]) as graph:
                    rebuild(graph, doc)
            return self._run(home, path, doc, None)

    def status(self, plan: PlanRef, *, today: str | dt.date | None = None) -> LaunchResult:
        """One plan's status; escalates approvals whose deadline has passed."""
        path, doc = self.store.load(plan)
        if doc["status"] == "awaiting_approval":
            day = parse_date(today, "--as-of") if today is not None else self.clock().date()
            slipped = [a["approver"] for a in doc["approvals"]
                       if a["status"] == "pending" and dt.date.fromisoformat(a["deadline"]) < day]
            if slipped:
                with self._locked(plan) as (home, path, doc):
                    return self._run(home, path, doc, self._command(
                        {"type": "deadline", "slipped": slipped, "today": day.isoformat()}))
        return self._result(self.store.home_of(path), path, doc)

    def list_plans(self, *, status: str | None = None, program: str | None = None,
                   since: str | dt.date | None = None, limit: int | None = None,
                   offset: int | None = 0) -> list[dict[str, Any]]:
        """One summary row per plan in the store (invalid plans are listed as such).

        Filtered by ``status``, ``program`` and last update on or after ``since``, and
        paginated (``limit`` rows after ``offset``); a database answers from its index.
        """
        offset = offset or 0
        if (limit is not None and limit < 1) or offset < 0:
            raise UsageError("--limit must be at least 1 and --offset at least 0")
        day = None if since is None else parse_date(since, "--since")
        if status is None and program is None and day is None and limit is None and not offset:
            return self.store.list_plans()
        return self.store.find_plans(status=status, program=program, since=day, limit=limit,
                                     offset=offset)

    async def alaunch(self, *args: Any, **kwargs: Any) -> LaunchResult:
        """Async :meth:`launch` (runs in a worker thread; never blocks the event loop)."""
        return await _in_thread(self.launch, *args, **kwargs)

    async def aapprove(self, *args: Any, **kwargs: Any) -> LaunchResult:
        """Async :meth:`approve`."""
        return await _in_thread(self.approve, *args, **kwargs)

    async def aescalation(self, *args: Any, **kwargs: Any) -> LaunchResult:
        """Async :meth:`escalation`."""
        return await _in_thread(self.escalation, *args, **kwargs)

    async def aresume(self, plan: PlanRef, *, from_plan: bool = False) -> LaunchResult:
        """Async :meth:`resume`."""
        return await _in_thread(self.resume, plan, from_plan=from_plan)

    async def astatus(self, plan: PlanRef, **kwargs: Any) -> LaunchResult:
        """Async :meth:`status`."""
        return await _in_thread(self.status, plan, **kwargs)

    # -- internals --------------------------------------------------------------------

    @staticmethod
    def _initial_state(req: LaunchRequest, team: Roster, landing: str) -> dict[str, Any]:
        request = req.model_dump(mode="json")
        request["audience"] = list(req.audience)
        import secrets

        return {"run_id": secrets.token_hex(16), "request": request, "roster": team.overrides(),
                "landing_url": landing, "status": "running", "attempts": {}, "outcome": {}}

    @staticmethod
    def _config(doc: dict[str, Any]) -> dict[str, Any]:
        return {"configurable": {"thread_id": doc["plan_id"]}}

    def _model_name(self, runner: AgentRunner) -> str:
        return self.model if isinstance(self.model, str) else getattr(
            runner, "name", type(self.model).__name__)

    @staticmethod
    def _decider(home: Store, doc: dict[str, Any], role: str, by: str | None) -> dict[str, Any]:
        """Who is deciding for ``role``; refused (exit 2) when the roster does not allow it.

        The store says who it is (a database: the authenticated role; files: ``by`` or the
        OS user, self-asserted); the plan's roster may list who decides for each role.
        """
        from .engine.roster import roster_from_overrides

        identity = home.identity(by)
        why = roster_from_overrides(doc["request"]["roster"]).may_decide(role, identity["name"])
        if why is not None:
            how = "self-asserted" if identity["self_asserted"] else identity["source"]
            raise InvalidDecision(
                f"{identity['name']} ({how}) may not decide for {role} on {doc['plan_id']}: "
                f"{why}; nothing was recorded")
        return identity

    @staticmethod
    def _command(value: dict[str, Any]) -> Any:
        from langgraph.types import Command

        return Command(resume=value)

    @staticmethod
    def _expect(doc: dict[str, Any], status: str, action: str) -> None:
        if doc["status"] == "halted":
            decided: dict[str, Any] = next((r for r in reversed(doc["remediation_log"])
                            if r["action"] == "halt"), {})
            raise RunHalted(
                f"{doc['plan_id']} was halted by {decided.get('by', 'the exec sponsor')}: it "
                "cannot be continued; start a new launch-program run")
        if doc["status"] != status:
            raise InvalidDecision(
                f"{doc['plan_id']} is {doc['status']}, not {status}: nothing to {action}; "
                f"see 'referral-orchestrator status {doc['plan_id']}'")

    @contextlib.contextmanager
    def _locked(self, plan: PlanRef) -> Iterator[tuple[Store, Path, dict[str, Any]]]:
        """The plan's own store (its folder: lock, checkpoints), its path and fresh content."""
        path, doc = self.store.load(plan)  # refuse a tampered plan before waiting on its lock
        home = self.store.home_of(path)
        with storage_errors(doc["plan_id"]), home.lock(doc["plan_id"]):
            home.sweep(doc["plan_id"])  # a killed writer may have left a temp file
            path, doc = home.load(path)  # re-read: another process may have moved it on
            yield home, path, doc

    @staticmethod
    @contextlib.contextmanager
    def _graph(home: Store, plan_id: str) -> Iterator[Any]:
        """The compiled graph on the checkpointer of the plan's store."""
        from .engine.graph import launch_graph

        quiet_abandoned_tasks()
        with home.checkpointer(plan_id) as saver:
            yield launch_graph(saver)

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

    def _run(self, home: Store, path: Path, doc: dict[str, Any], graph_input: Any, *,
             fresh: bool = False, runner: AgentRunner | None = None) -> LaunchResult:
        """One command's turn on a plan: drive the graph until it stops, then finish."""
        meta = self._meta(doc)
        if runner is None:
            runner = self._runner_for(doc)
            with self._owned(runner):
                return self._run(home, path, doc, graph_input, fresh=fresh, runner=runner)
        from .artifacts.ahead import FilesAhead
        from .runners.base import answers_at_once

        # files are composed ahead only while calls wait: beside a runner that answers at
        # once (the offline drafter) they would only compete with the run
        ahead = FilesAhead(enabled=not answers_at_once(runner))
        try:
            with self._graph(home, doc["plan_id"]) as graph:
                stopped = self._drive(graph, home, path, doc, meta, graph_input, runner,
                                      fresh=fresh, ahead=ahead)
            return self._finish(home, path, meta, stopped, ahead)
        finally:
            ahead.close()

    @contextlib.contextmanager
    def _owned(self, runner: AgentRunner) -> Iterator[None]:
        """Close a runner this command built (its SDK client) when the command ends.

        A runner built from a model id belongs to the command; a runner or chat model the
        caller passed in is the caller's to close.
        """
        try:
            yield
        finally:
            close = getattr(runner, "close", None)
            if isinstance(self.model, str) and callable(close):
                close()

    def _runner_for(self, doc: dict[str, Any]) -> AgentRunner:
        """A runner for this plan alone, its budget charged with what the plan has spent."""
        options = dict(self.runner_options)
        spent = doc["usage"]["total"].get("cost_usd", 0.0)
        model = self.model if self.model != "offline" else doc.get("model", "offline")
        if spent and isinstance(model, str) and model != "offline":
            options["spent_usd"] = spent  # the budget covers the whole plan, not this call
        return resolve_runner(model, **options)

    def _meta(self, doc: dict[str, Any]) -> dict[str, Any]:
        """What the plan records beside the graph state (the projection's metadata)."""
        meta = {k: doc[k] for k in ("plan_id", "model", "created_at", "status")}
        meta.update(given=doc["request"]["given"], out_dir=doc["context_passing"][
            "artifacts_location"], checkpoint=doc["context_passing"].get("checkpoint", ""),
            max_concurrency=self.max_concurrency, deliverables=doc["deliverables"],
            artifact_digests=doc.get("artifact_digests", {}), pending=doc.get("pending"))
        return meta

    def _drive(self, graph: Any, home: Store, path: Path, doc: dict[str, Any],
               meta: dict[str, Any], graph_input: Any, runner: AgentRunner, *,
               fresh: bool, ahead: FilesAhead) -> _Stopped:
        """Run the plan's thread until it waits, ends or fails; persist every transition."""
        from .engine.state import RunContext
        from .plan.record import values_from_plan
        ctx = RunContext(runner=runner, clock=self.clock, max_concurrency=self.max_concurrency,
                         on_call=ahead.call_started if ahead.enabled else None)
        config = {**self._config(doc), "max_concurrency": self.max_concurrency,
                  "recursion_limit": 200}
        transitions: list[dict[str, Any]] = doc["transitions"]
        snap = self._snapshot(graph, config, fresh=fresh)
        if not fresh:
            check_thread(home, doc, snap.values)
        started = bool(snap.values.get("run_id"))  # not just the unapplied input
        values: dict[str, Any] = dict(snap.values) if started else values_from_plan(doc)
        announced = len(transitions)
        if graph_input is None and snap.values:
            transitions = self._merge(transitions, snap.values.get("transitions", []))
        run = True
        if graph_input is None and not snap.values:
            graph_input = values  # killed before the first checkpoint: start over
        elif graph_input is None:
            # `next` hides tasks whose writes were saved before a crash; `tasks` does not.
            # Only tasks that are all waiting on a person leave nothing to run.
            run = any(not t.interrupts for t in snap.tasks)
        if run:
            meta["status"] = "running"
            # Closed before the checkpointer is: a failure here (a full disk) must wait
            # for the step's background checkpoint writes instead of closing the database
            # under them.
            with contextlib.closing(graph.stream(
                    graph_input, config, context=ctx, stream_mode=["updates", "values"],
                    durability="sync")) as chunks:
                transitions, announced = self._stream(chunks, home, path, meta, values,
                                                      transitions, announced, ahead)
        snap = graph.get_state(config)
        values = {k: v for k, v in dict(snap.values).items() if not k.startswith("__")}
        return _Stopped(values=values,
                        transitions=self._merge(transitions, values.get("transitions", [])),
                        interrupts=[i.value for t in snap.tasks for i in t.interrupts],
                        finished=not snap.tasks, announced=announced)

    def _stream(self, chunks: Iterable[tuple[str, Any]], home: Store, path: Path,
                meta: dict[str, Any], values: dict[str, Any],
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
                merged = self._merge(transitions, latest.get("transitions", []))
                if latest.get("outcome", {}).get("communications") == "ok":
                    ahead.offer(latest, Path(meta["out_dir"]), meta["plan_id"])
            else:
                settled = latest
                records = [r for node, upd in chunk.items() if not node.startswith("__") and upd
                           for r in upd.get("transitions", [])]
                merged = self._merge(transitions, records)
            if len(merged) != len(transitions):
                transitions, dirty = merged, True
            if dirty and (mode == "values"
                          or time.monotonic() - written >= STEP_WRITE_INTERVAL):
                self._persist(home, path, meta, settled, transitions, announced)
                announced, dirty, written = len(transitions), False, time.monotonic()
        if dirty:  # the stream stopped inside a step (an interrupt): write what it brought
            self._persist(home, path, meta, settled, transitions, announced)
            announced = len(transitions)
        return transitions, announced

    def _persist(self, home: Store, path: Path, meta: dict[str, Any], settled: dict[str, Any],
                 transitions: list[dict[str, Any]], announced: int) -> None:
        """Write the plan with ``transitions``, then announce the ones not yet announced."""
        from .plan.record import build

        meta["updated_at"] = self.clock().isoformat()
        home.write(path, build(meta, settled, transitions))
        self._announce(transitions[announced:])

    def _finish(self, home: Store, path: Path, meta: dict[str, Any],
                stopped: _Stopped, ahead: FilesAhead) -> LaunchResult:
        """Render the artifacts, project the final plan, write it, announce the rest."""
        from .artifacts.render import render
        from .plan.record import project

        out_dir = Path(meta["out_dir"])
        written = render(stopped.values, out_dir, plan_id=meta["plan_id"], plan_path=path,
                         ahead=ahead.take(stopped.values, out_dir, meta["plan_id"]))
        meta["deliverables"] = {"plan": home.where(path), **written.paths}
        meta["artifact_digests"] = written.digests
        meta["updated_at"] = self.clock().isoformat()
        plan = project(meta, stopped.values, stopped.transitions,
                       interrupts=stopped.interrupts, finished=stopped.finished)
        home.write(path, plan)
        self._announce(stopped.transitions[stopped.announced:])
        return self._result(home, path, plan)

    @staticmethod
    def _merge(prior: list[dict[str, Any]],
               records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return chain(records, prior)

    def _announce(self, records: list[dict[str, Any]]) -> None:
        """Tell the host about records once they are persisted."""
        if self.on_transition is not None:
            for rec in records:
                self.on_transition(rec)

    def _result(self, home: Store, path: Path, plan: dict[str, Any]) -> LaunchResult:
        from .artifacts.report import next_actions

        return LaunchResult(plan_id=plan["plan_id"], status=plan["status"], plan_path=path,
                            artifacts=dict(plan["deliverables"]),
                            next_actions=next_actions(plan, home.command_options),
                            pending=plan.get("pending"), plan=plan)


def resolve_runner(model: Any, **options: Any) -> AgentRunner:
    """:func:`referral_orchestrator.runners.resolve_runner`, imported on first use."""
    from .runners import resolve_runner as resolve

    return resolve(model, **options)


async def _in_thread(fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    import asyncio  # imported here: status and validate never run an event loop

    return await asyncio.to_thread(fn, *args, **kwargs)


def launch_program(program: str, launch_date: str | dt.date, channels: str | list[str], *,
                   plans_dir: str | Path = DEFAULT_PLANS_DIR, model: Any = "offline",
                   **kwargs: Any) -> LaunchResult:
    """Launch a referral program in one call (see :meth:`Orchestrator.launch`)."""
    return Orchestrator(plans_dir, model=model).launch(program, launch_date, channels, **kwargs)
