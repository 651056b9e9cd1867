"""Tamper evidence an adversary cannot re-seal: artifact digests and the signing key."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator.errors import ArtifactsTampered, PlanError
from referral_orchestrator.orchestrator import validate_plan
from referral_orchestrator.plan.chain import seal
from referral_orchestrator.surfaces.cli import main
from support import SEED

KEY = "k" * 16 + "-team-signing-key"
ENV = "REFERRAL_ORCHESTRATOR_SIGNING_KEY"


def _launch(capsys: pytest.CaptureFixture[str], *extra: str) -> dict[str, Any]:
    assert main([*SEED, *extra, "--format", "json", "-q"]) == 0
    data: dict[str, Any] = json.loads(capsys.readouterr().out)
    data["path"] = Path(data["plan_path"])
    data["doc"] = json.loads(data["path"].read_text())
    return data


def _reseal(path: Path, edit: Any) -> None:
    """What anyone can do with the project's own code: edit, then seal again."""
    plan = json.loads(path.read_text())
    edit(plan)
    path.write_text(json.dumps(seal(plan), indent=2))


def test_validate_names_an_edited_runbook_csv(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _launch(capsys, "--out", "kit")
    assert main(["validate", str(data["path"]), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["artifacts"]["checked"] == len(data["doc"]["artifact_digests"]) >= 10
    csv = workdir / "kit" / "runbook.csv"
    csv.write_bytes(csv.read_bytes().replace(b"todo", b"done", 1))
    assert main(["validate", str(data["path"])]) == 3
    assert "runbook.csv" in capsys.readouterr().err
    with pytest.raises(ArtifactsTampered) as caught:
        validate_plan(data["path"])
    assert caught.value.code == "artifacts_tampered"


def test_validate_of_a_plan_whose_artifacts_are_elsewhere_checks_the_plan_alone(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = _launch(capsys, "--out", "kit")
    (workdir / "kit").rename(workdir / "moved")
    assert main(["validate", str(data["path"]), "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["artifacts"]["checked"] == 0
    assert report["artifacts"]["missing"] == len(data["doc"]["artifact_digests"])


def test_an_artifact_edited_then_resealed_into_the_plan_is_only_caught_with_a_key(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    data = _launch(capsys, "--out", "kit")
    csv = workdir / "kit" / "runbook.csv"
    csv.write_bytes(csv.read_bytes().replace(b"todo", b"done", 1))
    monkeypatch.delenv(ENV)
    _reseal(data["path"], lambda p: p["artifact_digests"].update(
        {"runbook.csv": hashlib.sha256(csv.read_bytes()).hexdigest()}))
    assert main(["validate", str(data["path"])]) == 0  # without the key: undetectable
    monkeypatch.setenv(ENV, KEY)
    assert main(["validate", str(data["path"])]) == 3


@pytest.mark.parametrize("command", [["validate"], ["status"], ["resume"],
                                     ["approve", "--approver", "legal"]])
def test_a_plan_resealed_without_the_key_is_refused_by_every_command(
    command: list[str], workdir: Path, capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    data = _launch(capsys, "--approvers", "legal")
    assert data["doc"]["integrity"]["signature"]["algorithm"] == "hmac-sha256"
    monkeypatch.delenv(ENV)

    def approve_legal(plan: dict[str, Any]) -> None:
        plan["approvals"][0].update(status="approved", decided_at=plan["updated_at"])

    _reseal(data["path"], approve_legal)
    assert main(["validate", str(data["path"])]) == 0  # without the key, a re-seal passes
    monkeypatch.setenv(ENV, KEY)
    ref = str(data["path"]) if command[0] == "validate" else data["plan_id"]
    assert main([command[0], ref, *command[1:]]) == 3
    with pytest.raises(PlanError) as caught:
        Orchestrator(workdir / ".claude" / "plans").status(data["plan_id"])
    assert caught.value.code == "plan_unsigned"


def test_a_plan_signed_with_another_key_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    data = _launch(capsys)
    monkeypatch.setenv(ENV, "another-key-of-enough-length")
    _reseal(data["path"], lambda p: p.update(status="completed"))
    monkeypatch.setenv(ENV, KEY)
    with pytest.raises(PlanError) as caught:
        validate_plan(data["path"])
    assert caught.value.code == "bad_signature"


def test_an_unsigned_plan_is_refused_once_a_key_is_set(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = _launch(capsys)
    assert main(["validate", str(data["path"])]) == 0
    monkeypatch.setenv(ENV, KEY)
    assert main(["validate", str(data["path"])]) == 3


def test_a_signing_key_that_is_too_short_is_bad_input(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, "short")
    assert main([*SEED, "-q"]) == 2
    assert not (workdir / ".claude").exists()


def test_with_a_key_an_edited_checkpoint_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ENV, KEY)
    data = _launch(capsys, "--approvers", "legal,finance")
    db = data["path"].parent / "checkpoints.sqlite"
    conn = sqlite3.connect(db)
    try:  # flip a bit in the newest checkpoint: e.g. a forged approval
        row = conn.execute("SELECT rowid, checkpoint FROM checkpoints ORDER BY rowid DESC "
                           "LIMIT 1").fetchone()
        blob = bytearray(row[1])
        blob[-1] ^= 1
        conn.execute("UPDATE checkpoints SET checkpoint = ? WHERE rowid = ?",
                     (bytes(blob), row[0]))
        conn.commit()
    finally:
        conn.close()
    assert main(["approve", data["plan_id"], "--approver", "legal", "-q"]) == 3
    assert main(["resume", data["plan_id"], "--from-plan", "-q"]) == 0
    assert main(["approve", data["plan_id"], "--approver", "legal", "-q"]) == 0
