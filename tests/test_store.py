"""The Store protocol: the façade reaches plans, locks and checkpoints only through a store."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from referral_orchestrator import Orchestrator
from referral_orchestrator.plan.base import Store
from referral_orchestrator.plan.store import FileStore, PlanStore
from support import SEED_REQUEST

WITH_APPROVER = {**SEED_REQUEST, "approvers": "legal"}


class RecordingStore:
    """A store that forwards to a FileStore and notes every method the façade calls."""

    def __init__(self, inner: FileStore, calls: list[str]) -> None:
        self.inner = inner
        self.calls = calls

    @property
    def checkpoint_location(self) -> str:
        return self.inner.checkpoint_location

    @property
    def command_options(self) -> list[str]:
        return self.inner.command_options

    def home_of(self, path: Path) -> Store:
        self.calls.append("home_of")
        return RecordingStore(self.inner.home_of(path), self.calls)

    def artifacts_folder(self, plan_id: str) -> Path:
        self.calls.append("artifacts_folder")
        return self.inner.root.parent / "out" / plan_id

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self.inner, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            return method(*args, **kwargs)
        return call

    @contextlib.contextmanager
    def lock(self, plan_id: str) -> Iterator[None]:
        self.calls.append("lock")
        with self.inner.lock(plan_id):
            yield

    @contextlib.contextmanager
    def checkpointer(self, plan_id: str) -> Iterator[Any]:
        self.calls.append("checkpointer")
        with self.inner.checkpointer(plan_id) as saver:
            yield saver


def test_the_file_store_is_a_store_under_its_former_name_too() -> None:
    assert isinstance(FileStore(), Store)
    assert PlanStore is FileStore


def test_an_orchestrator_given_a_store_keeps_plans_checkpoints_and_locks_there(
        workdir: Path, clock: Any) -> None:
    calls: list[str] = []
    store = RecordingStore(FileStore(workdir / "elsewhere"), calls)
    orch = Orchestrator(workdir / "unused", clock=clock, store=store)
    waiting = orch.launch(**WITH_APPROVER)
    assert waiting.status == "awaiting_approval"
    done = orch.approve(waiting.plan_id, "legal")
    assert done.status == "completed"
    assert [row["plan_id"] for row in orch.list_plans()] == [done.plan_id]
    assert not (workdir / "unused").exists()
    assert (workdir / "elsewhere" / f"{done.plan_id}.json").is_file()
    assert (workdir / "elsewhere" / "checkpoints.sqlite").is_file()
    assert Path(done.artifacts["runbook_md"]).parent == workdir / "out" / done.plan_id
    assert {"create", "load", "write", "lock", "sweep", "checkpointer",
            "list_plans", "artifacts_folder"} <= set(calls)
    assert f"--plans-dir {workdir / 'elsewhere'}" in waiting.next_actions[1]


def test_prune_in_the_file_store_drops_only_finished_plans_checkpoints(
        workdir: Path, capsys: Any) -> None:
    """``store prune`` keeps every plan valid and a waiting plan's checkpoints intact."""
    import sqlite3

    from referral_orchestrator.surfaces.cli import main

    orch = Orchestrator()
    done = orch.launch(**SEED_REQUEST)
    waiting = orch.launch(**{**SEED_REQUEST, "approvers": "legal"})
    db = Path(".claude/plans/checkpoints.sqlite")

    def threads() -> dict[str, int]:
        with contextlib.closing(sqlite3.connect(db)) as conn:
            return dict(conn.execute(
                "SELECT thread_id, count(*) FROM checkpoints GROUP BY thread_id").fetchall())

    assert set(threads()) == {done.plan_id, waiting.plan_id}
    assert main(["store", "prune", "--finished-before", "2000-01-01"]) == 0
    assert set(threads()) == {done.plan_id, waiting.plan_id}  # nothing finished that early
    assert main(["store", "prune", "--finished-before", "2100-01-01"]) == 0
    assert set(threads()) == {waiting.plan_id}
    assert main(["validate", done.plan_id]) == 0
    assert orch.approve(waiting.plan_id, "legal").status == "completed"
    assert main(["store", "prune", "--finished-before", "tomorrow"]) == 2
    assert "is not a date" in capsys.readouterr().err


def test_the_cli_default_plans_folder_is_the_stores() -> None:
    from referral_orchestrator.plan.store import DEFAULT_PLANS_DIR
    from referral_orchestrator.surfaces.cli import PLANS_DIR

    assert PLANS_DIR == DEFAULT_PLANS_DIR


def test_status_filters_match_the_program_name_in_any_case_and_say_when_nothing_matches(
        workdir: Path, capsys: Any) -> None:
    from referral_orchestrator.surfaces.cli import main

    plan_id = Orchestrator().launch(**SEED_REQUEST).plan_id
    assert main(["status", "--program", "customer ADVOCATES"]) == 0
    assert plan_id in capsys.readouterr().out
    assert main(["status", "--program", "Other Program", "--status", "completed"]) == 0
    assert capsys.readouterr().out.startswith(
        "no plan matches --status, --program: run 'referral-orchestrator status' alone")
