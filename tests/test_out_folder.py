"""--out never deletes or overwrites what is not the plan's own."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest

from referral_orchestrator.artifacts.manifest import MANIFEST
from referral_orchestrator.surfaces.cli import main
from support import SEED


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*"))
            if p.is_file()}


def _launch(capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, dict[str, Any]]:
    code = main([*SEED, *extra, "--format", "json", "-q"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else {}


def test_an_out_folder_holding_the_users_own_files_is_refused_and_left_untouched(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    docs = workdir / "docs"
    (docs / "comms-kit").mkdir(parents=True)
    (docs / "comms-kit" / "brand-voice.md").write_text("ours")
    (docs / "runbook.md").write_text("our runbook")
    before = _snapshot(docs)
    assert main([*SEED, "--out", "docs", "-q"]) == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1
    assert _snapshot(docs) == before
    assert not (workdir / ".claude").exists()


def test_a_second_launch_into_the_same_out_folder_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, first = _launch(capsys, "--out", "kit")
    assert code == 0
    before = _snapshot(workdir / "kit")
    code, _ = _launch(capsys, "--out", "kit")
    assert code == 2
    assert _snapshot(workdir / "kit") == before
    assert len(list((workdir / ".claude" / "plans").glob("plan-*.json"))) == 1
    manifest = json.loads((workdir / "kit" / MANIFEST).read_text())
    assert manifest["plan_id"] == first["plan_id"]
    assert set(manifest["files"]) == {str(p.relative_to(workdir / "kit")) for p in
                                      (workdir / "kit").rglob("*")
                                      if p.is_file() and p.name != MANIFEST}


def test_an_empty_out_folder_is_accepted(workdir: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    (workdir / "empty").mkdir()
    code, data = _launch(capsys, "--out", "empty")
    assert (code, data["status"]) == (0, "completed")


def test_a_file_the_plan_did_not_write_is_never_overwritten_later(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, data = _launch(capsys, "--approvers", "legal", "--out", "kit")
    assert (code, data["status"]) == (0, "awaiting_approval")
    mine = workdir / "kit" / "monitoring-plan.md"  # written by the plan only after go-live
    mine.write_text("my own monitoring notes")
    assert main(["approve", data["plan_id"], "--approver", "legal", "-q"]) == 2
    assert mine.read_text() == "my own monitoring notes"
    mine.rename(workdir / "notes.md")
    assert main(["resume", data["plan_id"], "-q"]) == 0
    plan = json.loads(Path(data["plan_path"]).read_text())
    assert plan["status"] == "completed"
    assert "monitoring-plan.md" in plan["artifact_digests"]


def test_stale_cleanup_deletes_only_unchanged_files_of_this_plans_manifest(
    tmp_path: Path
) -> None:
    from referral_orchestrator import Orchestrator
    from referral_orchestrator.artifacts.render import render

    out = tmp_path / "out"
    result = Orchestrator(tmp_path / "plans").launch(
        "Customer Advocates", "2026-12-10", "email,sms", segments="power users,new customers",
        as_of="2026-11-25", out_dir=out)
    kit = out / "comms-kit"
    edited = kit / "sms-power-users.md"
    edited.write_text(edited.read_text() + "\nreviewed by legal\n")
    (kit / "sms-extra-notes.md").write_text("mine")
    plan = result.plan
    values = {"request": {**plan["request"]["normalized"], "channels": ["email"]},
              "roster": plan["request"]["roster"], "tasks": plan["tasks"],
              "charter": plan["charter"], "comms": {
                  "email:power users": {"assets": []}, "email:new customers": {"assets": []},
                  "partner-kit": {"assets": []}}}
    render(values, out, plan_id=result.plan_id, plan_path=result.plan_path)
    assert not (kit / "sms-new-customers.md").exists()  # the plan's, unchanged: removed
    assert edited.read_text().endswith("reviewed by legal\n")  # the plan's, edited: kept
    assert (kit / "sms-extra-notes.md").read_text() == "mine"  # not the plan's: kept


def test_a_manifest_that_points_outside_its_folder_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = _launch(capsys, "--approvers", "legal", "--out", "kit")
    victim = workdir / "victim.txt"
    victim.write_text("keep me")
    manifest = json.loads((workdir / "kit" / MANIFEST).read_text())
    manifest["files"]["../victim.txt"] = hashlib.sha256(b"keep me").hexdigest()
    (workdir / "kit" / MANIFEST).write_text(json.dumps(manifest))
    assert main(["approve", data["plan_id"], "--approver", "legal", "-q"]) == 2
    assert victim.read_text() == "keep me"
