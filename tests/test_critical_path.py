"""What keeps a launch's critical path short, each without weakening a guarantee.

- the launch graph is compiled once per process and copied per run with its own
  checkpointer;
- concurrent checkpoint writers share commits (group commit), each still returning only
  once its rows are committed, and a failed commit fails every writer whose rows it held;
- the comms kit and the runbook are composed ahead while the last model calls wait, and
  used only for exactly the inputs they were composed from: the files are the same either
  way;
- each draft's branch runs its item's content checks as the draft comes in, and the merge
  gate gets those results back for byte-equal inputs only (it still checks every item).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator.artifacts import ahead, render
from referral_orchestrator.artifacts.render import kit_files
from referral_orchestrator.engine.graph import launch_graph
from referral_orchestrator.launch import qa
from referral_orchestrator.plan.sqlite import GroupCommitSaver
from referral_orchestrator.plan.store import FileStore
from referral_orchestrator.runners.base import AgentCall, AgentResult
from referral_orchestrator.runners.offline import OfflineDrafter
from support import SEED_REQUEST


def test_the_compiled_graph_is_reused_with_each_run_s_own_checkpointer(tmp_path: Path) -> None:
    store = FileStore(tmp_path)
    with store.checkpointer("a") as one, store.checkpointer("b") as two:
        first, second = launch_graph(one), launch_graph(two)
        assert first.checkpointer is one and second.checkpointer is two
        assert first.builder is second.builder  # compiled once


class _CountingConnection:
    """A sqlite3 connection whose commits are counted and can be made to fail."""

    def __init__(self, path: Path) -> None:
        self.conn = sqlite3.connect(path, check_same_thread=False)
        self.commits = 0
        self.fail: BaseException | None = None
        self.entered = threading.Event()
        self.release = threading.Event()
        self.release.set()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)

    def commit(self) -> None:
        self.entered.set()
        self.release.wait(5)
        if self.fail is not None:
            raise self.fail
        self.commits += 1
        self.conn.commit()


def _writes(saver: GroupCommitSaver, n: int) -> list[BaseException | None]:
    """``n`` threads each saving one task's writes; the error each got, if any."""
    config = {"configurable": {"thread_id": "t", "checkpoint_ns": "", "checkpoint_id": "c"}}
    errors: list[BaseException | None] = [None] * n

    def one(i: int) -> None:
        try:
            saver.put_writes(config, [("draft", {"i": i})], f"task-{i}")
        except BaseException as exc:
            errors[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return errors


def test_concurrent_checkpoint_writers_share_commits_and_every_row_is_committed(
        tmp_path: Path) -> None:
    conn = _CountingConnection(tmp_path / "c.sqlite")
    saver = GroupCommitSaver(conn)  # type: ignore[arg-type]
    saver.setup()
    conn.release.clear()  # hold the first commit while the other writers arrive

    def let_go() -> None:
        conn.entered.wait(5)
        threading.Timer(0.2, conn.release.set).start()

    threading.Thread(target=let_go).start()
    errors = _writes(saver, 40)
    assert errors == [None] * 40
    assert conn.commits < 10  # one per writer before group commit
    # every row is durable: a fresh connection sees all of them
    rows = sqlite3.connect(tmp_path / "c.sqlite").execute(
        "select count(*) from writes").fetchone()[0]
    assert rows == 40


def test_a_failed_group_commit_fails_every_writer_whose_rows_it_held(tmp_path: Path) -> None:
    conn = _CountingConnection(tmp_path / "c.sqlite")
    saver = GroupCommitSaver(conn)  # type: ignore[arg-type]
    saver.setup()
    conn.fail = sqlite3.OperationalError("database or disk is full")
    conn.release.clear()

    def let_go() -> None:
        conn.entered.wait(5)
        threading.Timer(0.2, conn.release.set).start()

    threading.Thread(target=let_go).start()
    errors = _writes(saver, 20)
    assert all(isinstance(e, sqlite3.OperationalError) for e in errors), errors
    conn.fail = None  # the disk has room again: a new writer commits its own rows
    assert _writes(saver, 1) == [None]
    rows = sqlite3.connect(tmp_path / "c.sqlite").execute(
        "select task_id from writes").fetchall()
    assert rows == [("task-0",)]


def _compositions(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, str]]:
    """(section, where) for every section composed: 'ahead' (the worker) or 'end'."""
    calls: list[tuple[str, str]] = []
    for name, (inputs, compose) in list(render.SECTIONS.items()):
        def tracked(values: dict[str, Any], out_dir: Path, plan_id: str, *,
                    name: str = name, compose: Any = compose) -> Any:
            where = "ahead" if threading.current_thread().name.startswith("files-ahead") else (
                "end")
            calls.append((name, where))
            return compose(values, out_dir, plan_id)

        monkeypatch.setitem(render.SECTIONS, name, (inputs, tracked))
    return calls


def _files(folder: Path) -> dict[str, bytes]:
    """The artifacts, but the calendar (its event UIDs are per plan, by design)."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file() and p.name not in (".referral-orchestrator.json", "runbook.ics")}


class _Waiting(OfflineDrafter):
    """The offline drafter behind a model that takes 20 ms to answer."""

    answers_at_once = False

    def run(self, call: AgentCall) -> AgentResult:
        answer = super().run(call)
        time.sleep(0.02)
        return answer


def test_the_kit_and_runbook_are_composed_ahead_and_the_files_are_the_same(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = _compositions(monkeypatch)
    ahead_result = Orchestrator(tmp_path / "a", model=_Waiting()).launch(
        **SEED_REQUEST, out_dir=tmp_path / "out-a")
    assert ("kit", "ahead") in calls and ("runbook", "ahead") in calls
    assert not [c for c in calls if c[1] == "end"]  # nothing composed again at the end
    assert not list(tmp_path.rglob("*.tmp"))  # every temp file renamed or removed
    calls.clear()  # a runner that answers at once: nothing to overlap, nothing ahead
    plain = Orchestrator(tmp_path / "b").launch(**SEED_REQUEST, out_dir=tmp_path / "out-b")
    assert sorted(calls) == [("kit", "end"), ("runbook", "end")]
    files = _files(tmp_path / "out-a")
    assert files == _files(tmp_path / "out-b") and len(files) > 10
    digests = [{k: v for k, v in r.plan["artifact_digests"].items() if k != "runbook.ics"}
               for r in (ahead_result, plain)]
    assert digests[0] == digests[1]


def test_a_section_composed_for_other_inputs_is_not_used(tmp_path: Path) -> None:
    from referral_orchestrator.plan.record import values_from_plan

    plan = Orchestrator(tmp_path / "p").launch(**SEED_REQUEST, out_dir=tmp_path / "out").plan
    values = values_from_plan(plan)
    files = ahead.FilesAhead()
    try:
        files.offer(values, tmp_path, "plan-1")
        files.call_started()
        taken = files.take(values, tmp_path, "plan-1")
        assert taken["kit"].files == kit_files(values, tmp_path).files
        assert sorted(taken["kit"].filled) == sorted(taken["kit"].files)  # to be renamed
        # the task statuses are not the kit's input, but they are the runbook's
        moved = {**values, "tasks": [{**t, "status": "done"} for t in values["tasks"]]}
        assert sorted(files.take(moved, tmp_path, "plan-1")) == ["kit"]
        email = next(k for k in values["comms"] if k.startswith("email:"))
        redrafted = {**values, "comms": {**values["comms"], email: {"assets": []}}}
        assert files.take(redrafted, tmp_path, "plan-1") == {}  # both link the drafts
        assert files.take(values, tmp_path / "elsewhere", "plan-1") == {}  # another folder
        assert files.take(values, tmp_path, "plan-2") == {}  # another plan (calendar UIDs)
    finally:
        files.close()
    assert not list(tmp_path.glob("**/*.tmp"))  # the temp files not renamed are removed


def test_sections_offered_but_never_started_are_composed_at_the_end(tmp_path: Path) -> None:
    files = ahead.FilesAhead()
    values = {"request": {}, "comms": {}, "tasks": []}
    files.offer(values, tmp_path, "plan-1")
    assert files.take(values, tmp_path, "plan-1") == {}
    files.close()


def test_each_draft_is_checked_in_its_branch_and_the_merge_gate_reuses_the_results(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    parsed: list[str] = []  # "branch" or "gate": where a landing page's HTML was parsed
    where = threading.local()
    real_parse, real_content = qa.html_problems, qa.content_checks

    def parse(page: str, *args: Any) -> list[str]:
        parsed.append(getattr(where, "now", "branch"))
        return real_parse(page, *args)

    def content(*args: Any) -> list[dict[str, Any]]:
        where.now = "gate"
        try:
            return real_content(*args)
        finally:
            where.now = "branch"

    monkeypatch.setattr(qa, "html_problems", parse)
    monkeypatch.setattr(qa, "content_checks", content)
    result = Orchestrator(tmp_path / "p").launch(
        **{**SEED_REQUEST, "channels": "email,landing-page", "segments": "new,lapsed"},
        out_dir=tmp_path / "out")
    assert result.status == "completed"
    assert parsed.count("branch") == 3  # two landing-page drafts and the shared page
    assert "gate" not in parsed  # the gate's checks of the same drafts were the branches'
    checks = result.plan["qa"]["communications"]["checks"]
    assert sum(c["id"] == "comms.html" and c["passed"] for c in checks) == 3


def test_item_checks_reuse_only_byte_equal_inputs_and_hand_out_copies() -> None:
    req = {"program": "Customer Advocates", "audience": ["new"], "channels": ["sms"]}
    sms = {"channel": "sms", "kind": "sms", "title": "", "body": "Join now. Reply STOP"}
    first = qa.item_checks(req, "sms:new", [sms], None)
    assert first == [r for r in qa.asset_checks(sms, "sms:new", None, req=req)]
    first[0]["passed"] = "tampered"
    assert qa.item_checks(req, "sms:new", [sms], None)[0]["passed"] is True
    no_opt_out = {**sms, "body": "Join now."}
    assert "comms.sms_optout" in {r["id"] for r in qa.failing(
        qa.item_checks(req, "sms:new", [no_opt_out], None))}
    # equal under ==, not byte-equal: True is not 1, so the item is checked again
    flagged = {**sms, "flag": True}
    assert qa.item_checks(req, "sms:new", [flagged], None) == qa.item_checks(
        req, "sms:new", [{**sms, "flag": 1}], None)
