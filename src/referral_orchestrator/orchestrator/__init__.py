"""Launch, approve, decide, resume and report - the API behind the CLI and agent hosts.

:class:`Orchestrator` checks a command's input, takes the plan's lock and hands the plan
to a :class:`~referral_orchestrator.orchestrator.turn.Turn` with a runner resolved for that
plan (``_run``): the turn drives the compiled graph on the store's checkpointer (thread id
= plan id), writing the plan once per super-step, then renders the artifacts and writes
the final plan. Plans, locks and checkpoints are reached only through a
:class:`~referral_orchestrator.plan.base.Store` (default: a
:class:`~referral_orchestrator.plan.store.FileStore`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

from referral_orchestrator.artifacts.manifest import check_free, claim
from referral_orchestrator.artifacts.result import LaunchResult
from referral_orchestrator.artifacts.verify import validate_plan
from referral_orchestrator.errors import (
    InvalidDecision,
    RunHalted,
    UsageError,
)
from referral_orchestrator.launch.checks import (
    check_landing_url,
    check_launch_window,
    check_limits,
    check_note,
    parse_date,
)
from referral_orchestrator.plan.base import PlanRef, Store
from referral_orchestrator.plan.faults import storage_errors
from referral_orchestrator.plan.recovery import rebuild
from referral_orchestrator.plan.signing import signing_key
from referral_orchestrator.plan.store import DEFAULT_PLANS_DIR
from referral_orchestrator.plan.stores import lock_timeout_from_env, open_store

from .turn import TransitionHook, Turn, plan_graph, plan_result

if TYPE_CHECKING:  # the rest is imported where a run needs it: status and validate do not
    from referral_orchestrator.engine.roster import Roster
    from referral_orchestrator.launch.request import LaunchRequest
    from referral_orchestrator.runners import AgentRunner

__all__ = ["LaunchResult", "Orchestrator", "launch_program", "resolve_runner", "validate_plan"]

DEFAULT_LANDING = "https://www.example.com/refer/{slug}"
_P = ParamSpec("_P")
_T = TypeVar("_T")
SPONSOR = "exec-sponsor"  # the role whose allow-list covers escalation decisions


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
            from referral_orchestrator.launch.zones import aware_clock

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
        from referral_orchestrator.engine.roster import Roster, load_roster
        from referral_orchestrator.launch.request import parse_request

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
        from referral_orchestrator.plan.record import build

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
                from referral_orchestrator.launch.channels import normalize_channel

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
                with plan_graph(home, doc["plan_id"]) as graph:
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
        return plan_result(self.store.home_of(path), path, doc)

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

    def _model_name(self, runner: AgentRunner) -> str:
        return self.model if isinstance(self.model, str) else getattr(
            runner, "name", type(self.model).__name__)

    @staticmethod
    def _decider(home: Store, doc: dict[str, Any], role: str, by: str | None) -> dict[str, Any]:
        """Who is deciding for ``role``; refused (exit 2) when the roster does not allow it.

        The store says who it is (a database: the authenticated role; files: ``by`` or the
        OS user, self-asserted); the plan's roster may list who decides for each role.
        """
        from referral_orchestrator.engine.roster import roster_from_overrides

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

    def _run(self, home: Store, path: Path, doc: dict[str, Any], graph_input: Any, *,
             fresh: bool = False, runner: AgentRunner | None = None) -> LaunchResult:
        """One command's turn on a plan, with ``runner`` (else one resolved for the plan)."""
        if runner is None:
            runner = self._runner_for(doc)
            with self._owned(runner):
                return self._run(home, path, doc, graph_input, fresh=fresh, runner=runner)
        turn = Turn(home, path, doc, clock=self.clock, max_concurrency=self.max_concurrency,
                    on_transition=self.on_transition)
        return turn.run(graph_input, runner, fresh=fresh)

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


def resolve_runner(model: Any, **options: Any) -> AgentRunner:
    """:func:`referral_orchestrator.runners.resolve_runner`, imported on first use."""
    from referral_orchestrator.runners import resolve_runner as resolve

    return resolve(model, **options)


async def _in_thread(fn: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T:
    import asyncio  # imported here: status and validate never run an event loop

    return await asyncio.to_thread(fn, *args, **kwargs)


def launch_program(program: str, launch_date: str | dt.date, channels: str | list[str], *,
                   plans_dir: str | Path = DEFAULT_PLANS_DIR, model: Any = "offline",
                   **kwargs: Any) -> LaunchResult:
    """Launch a referral program in one call (see :meth:`Orchestrator.launch`)."""
    return Orchestrator(plans_dir, model=model).launch(program, launch_date, channels, **kwargs)
