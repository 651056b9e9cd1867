"""A plan file's name and identity agree, and one bad file never hides the others."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator.errors import PlanError
from referral_orchestrator.surfaces.cli import main
from support import SEED


def _two_plans(capsys: pytest.CaptureFixture[str]) -> tuple[dict, dict]:
    found = []
    for _ in range(2):
        assert main([*SEED, "--approvers", "legal", "--format", "json", "-q"]) == 0
        found.append(json.loads(capsys.readouterr().out))
    return found[0], found[1]


@pytest.mark.parametrize("command", [["resume"], ["approve", "--approver", "legal"],
                                     ["status"], ["escalation", "--decision", "proceed"]])
def test_a_plan_file_that_is_a_symlink_is_refused_and_both_plans_survive(
    command: list[str], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _two_plans(capsys)
    path_a, path_b = Path(a["plan_path"]), Path(b["plan_path"])
    path_a.unlink()
    path_a.symlink_to(path_b.resolve())
    before_b = path_b.read_bytes()
    assert main([command[0], a["plan_id"], *command[1:]]) == 3
    assert path_a.is_symlink() and path_b.read_bytes() == before_b


def test_a_plan_whose_id_differs_from_its_file_name_is_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = _two_plans(capsys)
    Path(a["plan_path"]).write_bytes(Path(b["plan_path"]).read_bytes())
    before = Path(b["plan_path"]).read_bytes()
    for command in (["resume", a["plan_id"]], ["approve", a["plan_id"], "--approver", "legal"],
                    ["status", a["plan_id"]]):
        assert main(command) == 3
    with pytest.raises(PlanError) as caught:
        Orchestrator(workdir / ".claude" / "plans").resume(a["plan_id"])
    assert caught.value.code == "plan_identity"
    assert Path(b["plan_path"]).read_bytes() == before


@pytest.mark.parametrize("content", ["{", "[" * 100_000, "{\"a\":" * 50_000 + "1" + "}" * 50_000,
                                     "\udcff"])
def test_one_malformed_or_deeply_nested_plan_is_exit_3_and_status_lists_the_others(
    content: str, workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = _two_plans(capsys)
    bad = Path(a["plan_path"]).with_name("plan-20000101-000000.json")
    bad.write_bytes(content.encode("utf-8", "surrogateescape"))
    assert main(["status", bad.stem]) == 3
    assert main(["resume", bad.stem]) == 3
    assert main(["validate", str(bad)]) == 3
    capsys.readouterr()
    assert main(["status", "--format", "json"]) == 0
    rows = {r["plan_id"]: r for r in json.loads(capsys.readouterr().out)}
    assert len(rows) == 3
    assert rows[bad.stem]["status"] == "invalid"
    assert rows[a["plan_id"]]["status"] == "awaiting_approval"


def test_a_plan_file_that_cannot_be_read_is_listed_as_invalid(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    if os.geteuid() == 0:
        pytest.skip("root reads any file")
    a, _ = _two_plans(capsys)
    Path(a["plan_path"]).chmod(0)
    assert main(["status", a["plan_id"]]) == 3
    capsys.readouterr()
    assert main(["status", "--format", "json"]) == 0
    rows = {r["plan_id"]: r["status"] for r in json.loads(capsys.readouterr().out)}
    assert rows[a["plan_id"]] == "invalid"
