"""The plans folder's status index: unchanged plans are not verified again, changed ones are."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator.plan import listing
from referral_orchestrator.plan.store import FileStore
from support import SEED_REQUEST

KEY = "0123456789abcdef0123456789abcdef"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Three plans (one waiting on an approver), every file counted as settled."""
    monkeypatch.setattr(listing, "SETTLED_NS", 0)
    orch = Orchestrator(tmp_path / "plans")
    for i, extra in enumerate(({}, {"approvers": "legal"}, {})):
        orch.launch(**{**SEED_REQUEST, **extra}, out_dir=tmp_path / f"out-{i}")
    return tmp_path / "plans"


def _loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The plan files FileStore.load reads from now on."""
    seen: list[str] = []
    real = FileStore.load

    def load(self: FileStore, ref: Any, **kwargs: Any) -> Any:
        seen.append(Path(str(ref)).name)
        return real(self, ref, **kwargs)

    monkeypatch.setattr(FileStore, "load", load)
    return seen


def _edit_in_place(path: Path, old: str, new: str) -> None:
    """A same-size hand edit that puts the file's mtime back (its ctime still moves)."""
    assert len(old) == len(new)
    st = path.stat()
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert path.stat().st_size == st.st_size


def test_a_second_listing_verifies_no_unchanged_plan(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    first = Orchestrator(folder).list_plans()
    seen = _loads(monkeypatch)
    again = Orchestrator(folder).list_plans()
    assert again == first and len(again) == 3
    assert seen == []
    assert (folder / listing.INDEX_NAME).is_file()


def test_a_plan_edited_by_hand_is_verified_again_and_listed_invalid(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = Orchestrator(folder).list_plans()
    edited = folder / f"{rows[0]['plan_id']}.json"
    _edit_in_place(edited, '"completed"', '"cancelled"')
    seen = _loads(monkeypatch)
    again = {r["plan_id"]: r for r in Orchestrator(folder).list_plans()}
    assert seen == [edited.name]
    assert again[rows[0]["plan_id"]]["status"] == "invalid"
    assert [again[r["plan_id"]] for r in rows[1:]] == rows[1:]


def test_a_plan_moved_on_by_a_command_is_listed_as_it_is_now(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = {r["plan_id"]: r for r in Orchestrator(folder).list_plans()}
    waiting = next(p for p, r in rows.items() if r["status"] == "awaiting_approval")
    Orchestrator(folder).approve(waiting, "legal", by="dana")
    again = {r["plan_id"]: r for r in Orchestrator(folder).list_plans()}
    assert again[waiting]["status"] == "completed"
    assert {p: r for p, r in again.items() if p != waiting} == {
        p: r for p, r in rows.items() if p != waiting}


def test_a_deleted_plan_leaves_the_listing(folder: Path) -> None:
    rows = Orchestrator(folder).list_plans()
    (folder / f"{rows[1]['plan_id']}.json").unlink()
    again = Orchestrator(folder).list_plans()
    assert [r["plan_id"] for r in again] == [rows[0]["plan_id"], rows[2]["plan_id"]]
    index = json.loads((folder / listing.INDEX_NAME).read_text())
    assert sorted(index["entries"]) == sorted(f"{r['plan_id']}.json" for r in again)


def test_with_a_signing_key_a_forged_index_is_ignored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Editing the index to list a tampered plan as valid does not work with a key set."""
    monkeypatch.setenv("REFERRAL_ORCHESTRATOR_SIGNING_KEY", KEY)
    monkeypatch.setattr(listing, "SETTLED_NS", 0)
    orch = Orchestrator(tmp_path / "plans")
    plan_id = orch.launch(**SEED_REQUEST, out_dir=tmp_path / "out").plan_id
    folder = tmp_path / "plans"
    good = orch.list_plans()
    assert good[0]["status"] == "completed"
    _edit_in_place(folder / f"{plan_id}.json", '"completed"', '"cancelled"')
    index_path = folder / listing.INDEX_NAME
    index = json.loads(index_path.read_text())
    stamp = listing._stamp(folder / f"{plan_id}.json")
    index["entries"][f"{plan_id}.json"]["stamp"] = stamp  # the forger's update, no key
    index_path.write_text(json.dumps(index))
    assert orch.list_plans()[0]["status"] == "invalid"


def test_another_signing_key_or_a_broken_index_starts_a_new_index(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = Orchestrator(folder).list_plans()
    (folder / listing.INDEX_NAME).write_text("{not json")
    seen = _loads(monkeypatch)
    assert Orchestrator(folder).list_plans() == rows
    assert len(seen) == 3
    seen.clear()
    monkeypatch.setenv("REFERRAL_ORCHESTRATOR_SIGNING_KEY", KEY)
    again = Orchestrator(folder).list_plans()  # unsigned plans: refused under a key
    assert len(seen) == 3 and {r["status"] for r in again} == {"invalid"}


def test_a_folder_that_cannot_be_written_is_listed_without_an_index(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(listing, "write_atomic", refuse)
    rows = Orchestrator(folder).list_plans()
    assert len(rows) == 3 and not (folder / listing.INDEX_NAME).exists()


def test_a_plan_written_just_now_is_read_again_next_time(
        folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """On a filesystem with coarse timestamps a second write in the same tick would keep
    the stamp: a file younger than SETTLED_NS is never served from the index."""
    monkeypatch.setattr(listing, "SETTLED_NS", 3600 * 10**9)
    Orchestrator(folder).list_plans()
    seen = _loads(monkeypatch)
    Orchestrator(folder).list_plans()
    assert len(seen) == 3
