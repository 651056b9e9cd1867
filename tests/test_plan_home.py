"""A recorded decision can never be erased: a plan runs against its own checkpoints.

The checkpoint database and the lock live in the plan's own folder, whatever the working
directory or ``--plans-dir``; artifacts go where the plan recorded at launch. A plan whose
checkpoints are missing or belong to another run is refused (exit 3) with the recovery,
``resume --from-plan``, which rebuilds the run from the plan's own records.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import re
import shutil
import signal
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from referral_orchestrator import Orchestrator
from referral_orchestrator.errors import CheckpointMismatch
from referral_orchestrator.plan.chain import verify
from referral_orchestrator.plan.record import values_from_plan
from referral_orchestrator.surfaces.cli import main
from referral_orchestrator.testing import ScriptedRunner, stuck_at_sponsor_runner
from support import SEED, SEED_REQUEST, FakeClock, UseRunner

MANIFEST = ".referral-orchestrator.json"


def _json(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = main([*args, "--format", "json", "-q"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else {}


def _plan(path: Path) -> dict[str, Any]:
    return verify(json.loads(path.read_text()))


def _tree(folder: Path) -> dict[str, bytes]:
    # calendar UIDs carry a digest of the plan id: mask them to compare two plans' files
    return {str(p.relative_to(folder)): re.sub(rb"UID:[^\r]*(?:\r\n [^\r]*)*", b"UID:",
                                               p.read_bytes())
            for p in sorted(folder.rglob("*")) if p.is_file() and p.name != MANIFEST}


def _counting(cli_runner: UseRunner) -> ScriptedRunner:
    runner = ScriptedRunner()
    cli_runner(runner)
    return runner


@pytest.fixture
def waiting(workdir: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    """A launch waiting on legal and finance, launched from ``workdir``."""
    code, data = _json([*SEED, "--approvers", "legal,finance"], capsys)
    assert (code, data["status"]) == (0, "awaiting_approval")
    data["path"] = (workdir / data["plan_path"]).resolve()
    data["out"] = data["path"].parents[2] / "launches" / data["plan_id"]
    return data


def test_approve_by_path_from_another_folder_uses_the_plans_own_run_and_artifacts(
    waiting: dict[str, Any], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    elsewhere = workdir / "elsewhere"
    elsewhere.mkdir()
    os.chdir(elsewhere)
    code, data = _json(["approve", str(waiting["path"]), "--approver", "legal"], capsys)
    assert (code, data["status"]) == (0, "awaiting_approval")
    plan = _plan(waiting["path"])
    assert {a["approver"]: a["status"] for a in plan["approvals"]} == {
        "legal": "approved", "finance": "pending"}
    assert [t["node"] for t in plan["transitions"]].count("checklist") == 1
    assert list(elsewhere.iterdir()) == []
    assert (waiting["out"] / "runbook.md").is_file()
    assert all(Path(p).is_relative_to(waiting["out"]) or Path(p) == waiting["path"]
               for p in data["artifacts"].values())


@pytest.mark.parametrize("where", ["another folder", "another plans dir"])
def test_resume_by_path_keeps_the_recorded_decision_and_reruns_nothing(
    where: str, waiting: dict[str, Any], workdir: Path, capsys: pytest.CaptureFixture[str],
    cli_runner: UseRunner
) -> None:
    assert main(["approve", waiting["plan_id"], "--approver", "legal", "-q"]) == 0
    capsys.readouterr()
    before = _plan(waiting["path"])
    artifacts = _tree(waiting["out"])
    extra: list[str] = []
    if where == "another folder":
        (workdir / "elsewhere").mkdir()
        os.chdir(workdir / "elsewhere")
    else:
        extra = ["--plans-dir", str(workdir / "other-plans")]
    runner = _counting(cli_runner)
    code, data = _json(["resume", str(waiting["path"]), *extra], capsys)
    assert (code, data["status"]) == (0, "awaiting_approval")
    after = _plan(waiting["path"])
    assert after["transitions"] == before["transitions"]
    assert after["approvals"] == before["approvals"]
    assert runner.calls == []
    assert _tree(waiting["out"]) == artifacts
    assert not (workdir / "elsewhere" / ".claude").exists()
    assert not (workdir / "other-plans").exists()


def test_deleted_checkpoints_refuse_a_plain_resume_and_from_plan_rebuilds_the_run(
    waiting: dict[str, Any], capsys: pytest.CaptureFixture[str], cli_runner: UseRunner
) -> None:
    plan_id = waiting["plan_id"]
    assert main(["approve", plan_id, "--approver", "legal", "-q"]) == 0
    capsys.readouterr()
    before = _plan(waiting["path"])
    artifacts = _tree(waiting["out"])
    (waiting["path"].parent / "checkpoints.sqlite").unlink()
    for command in (["resume", plan_id], ["approve", plan_id, "--approver", "finance"],
                    ["status", plan_id, "--as-of", "2026-12-09"]):
        assert main([*command, "-q"]) == 3
        err = capsys.readouterr().err
        assert len(err.strip().splitlines()) == 1 and "--from-plan" in err
    with pytest.raises(CheckpointMismatch):
        Orchestrator(waiting["path"].parent).resume(plan_id)
    assert _plan(waiting["path"]) == before

    runner = _counting(cli_runner)
    code, data = _json(["resume", plan_id, "--from-plan"], capsys)
    assert (code, data["status"]) == (0, "awaiting_approval")
    assert runner.calls == []  # no finished stage ran again
    after = _plan(waiting["path"])
    assert after["transitions"] == before["transitions"]
    assert {a["approver"]: a["status"] for a in after["approvals"]} == {
        "legal": "approved", "finance": "pending"}
    assert _tree(waiting["out"]) == artifacts

    code, data = _json(["approve", plan_id, "--approver", "finance"], capsys)
    assert (code, data["status"]) == (0, "completed")
    assert [stage for _, stage, _, _ in runner.calls] == ["go-live"]
    done = _plan(waiting["path"])
    assert {a["approver"]: a["status"] for a in done["approvals"]} == {
        "legal": "approved", "finance": "approved"}
    assert main(["resume", plan_id, "-q"]) == 0  # the rebuilt checkpoints match the plan


def test_checkpoints_of_another_run_with_the_same_id_are_refused(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = {}
    for name in ("a", "b"):
        orch = Orchestrator(workdir / name, clock=FakeClock())
        runs[name] = orch.launch("Customer Advocates", "2026-12-10", "email,in-app",
                                 approvers="legal" if name == "a" else "finance",
                                 as_of="2026-11-25", out_dir=workdir / f"out-{name}")
    assert runs["a"].plan_id == runs["b"].plan_id
    shutil.copy(workdir / "b" / "checkpoints.sqlite", workdir / "a" / "checkpoints.sqlite")
    path = workdir / "a" / f"{runs['a'].plan_id}.json"
    assert main(["approve", str(path), "--approver", "legal", "-q"]) == 3
    assert main(["resume", str(path), "--from-plan", "-q"]) == 0
    assert main(["approve", str(path), "--approver", "legal", "-q"]) == 0
    assert _plan(path)["status"] == "completed"


def test_an_older_copy_of_the_checkpoints_cannot_roll_a_decision_back(
    waiting: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    db = waiting["path"].parent / "checkpoints.sqlite"
    shutil.copy(db, db.with_suffix(".bak"))
    assert main(["approve", waiting["plan_id"], "--approver", "legal", "-q"]) == 0
    shutil.copy(db.with_suffix(".bak"), db)
    assert main(["approve", waiting["plan_id"], "--approver", "finance", "-q"]) == 3
    approvals = {a["approver"]: a["status"] for a in _plan(waiting["path"])["approvals"]}
    assert approvals == {"legal": "approved", "finance": "pending"}


def test_from_plan_keeps_an_exec_sponsor_question_waiting(
    workdir: Path, capsys: pytest.CaptureFixture[str], cli_runner: UseRunner
) -> None:
    cli_runner(stuck_at_sponsor_runner())
    code, data = _json(SEED, capsys)
    assert (code, data["status"]) == (0, "awaiting_decision")
    path = workdir / data["plan_path"]
    (path.parent / "checkpoints.sqlite").unlink()
    runner = _counting(cli_runner)
    code, again = _json(["resume", data["plan_id"], "--from-plan"], capsys)
    assert (code, again["status"], runner.calls) == (0, "awaiting_decision", [])
    code, done = _json(["escalation", data["plan_id"], "--decision", "descope", "--channel",
                        "in-app"], capsys)
    assert (code, done["status"], done["channels"]) == (0, "completed", ["email"])


def test_from_plan_refuses_a_halted_plan(
    workdir: Path, capsys: pytest.CaptureFixture[str], cli_runner: UseRunner
) -> None:
    cli_runner(stuck_at_sponsor_runner())
    _, data = _json(SEED, capsys)
    assert main(["escalation", data["plan_id"], "--decision", "halt", "-q"]) == 4
    assert main(["resume", data["plan_id"], "--from-plan", "-q"]) == 4


def _die_at_agent_call(n: int, plans: str, out: str) -> None:  # runs in a forked child
    from referral_orchestrator.runners.offline import OfflineDrafter

    calls = {"n": 0}

    class Dying(OfflineDrafter):
        def run(self, call):  # type: ignore[no-untyped-def]
            calls["n"] += 1
            if calls["n"] == n:
                os.kill(os.getpid(), signal.SIGKILL)
            return super().run(call)

    Orchestrator(plans, model=Dying()).launch(
        **SEED_REQUEST, out_dir=out)


@pytest.mark.parametrize("n", [2, 5, 8])
def test_from_plan_finishes_a_run_killed_midway_whose_checkpoints_were_lost(
    n: int, tmp_path: Path
) -> None:
    clean = Orchestrator(tmp_path / "clean").launch(**SEED_REQUEST, out_dir=tmp_path / "clean-out")
    plans, out = tmp_path / "plans", tmp_path / "out"
    child = multiprocessing.get_context("fork").Process(
        target=_die_at_agent_call, args=(n, str(plans), str(out)))
    child.start()
    child.join(60)
    assert child.exitcode == -signal.SIGKILL
    (path,) = plans.glob("plan-*.json")
    (plans / "checkpoints.sqlite").unlink()
    if _plan(path)["transitions"]:
        assert main(["resume", str(path), "-q"]) == 3
    assert main(["resume", str(path), "--from-plan", "-q"]) == 0
    plan = _plan(path)
    assert plan["status"] == "completed"
    keys = [t["key"] for t in plan["transitions"]]
    assert len(keys) == len(set(keys))
    # only the step in flight when the run died can show twice (its result was not settled)
    nodes = Counter(t["node"] for t in plan["transitions"])
    assert nodes["go_live"] == 1 and nodes["partner_ops"] == 1 and nodes["merge_gate"] <= 2
    assert _tree(out) == _tree(tmp_path / "clean-out")
    assert clean.status == "completed"


def test_the_plan_holds_everything_the_run_needs_to_be_rebuilt(
    waiting: dict[str, Any]
) -> None:
    import sqlite3

    from langgraph.checkpoint.sqlite import SqliteSaver

    from referral_orchestrator.engine.graph import build_graph

    conn = sqlite3.connect(waiting["path"].parent / "checkpoints.sqlite")
    try:
        graph = build_graph(SqliteSaver(conn))
        live = dict(graph.get_state(
            {"configurable": {"thread_id": waiting["plan_id"]}}).values)
    finally:
        conn.close()
    rebuilt = values_from_plan(_plan(waiting["path"]))

    def meaningful(values: dict[str, Any]) -> dict[str, Any]:
        return {k: v for k, v in values.items() if v not in (None, [], {}) and k != "transitions"}

    assert meaningful(rebuilt) == meaningful(live)
    by_key = {t["key"]: t for t in live["transitions"]}
    assert {t["key"]: t for t in rebuilt["transitions"]} == by_key


def test_the_plan_schema_requires_what_every_stage_output_requires() -> None:
    from referral_orchestrator.launch.stages import STAGE_OUTPUTS

    schema = json.loads((Path(__file__).parents[1] / "schemas" / "plan.schema.json").read_text())
    outputs = schema["properties"]["state"]["properties"]["outputs"]["properties"]
    stages = {"tooling": "tooling-qa", "enablement": "enablement",
              "partner_workflows": "partner-workflows", "golive": "go-live"}
    for key, stage in stages.items():
        fields = STAGE_OUTPUTS[stage].model_fields
        assert sorted(outputs[key]["required"]) == sorted(
            name for name, f in fields.items() if f.is_required()), key
    asset = STAGE_OUTPUTS["communications"].model_fields["assets"].annotation.__args__[0]
    required = outputs["comms"]["additionalProperties"]["properties"]["assets"]["items"]
    assert sorted(required["required"]) == sorted(
        name for name, f in asset.model_fields.items() if f.is_required())


def test_every_key_of_the_graph_state_has_a_home_in_the_plan() -> None:
    from referral_orchestrator.engine.state import LaunchState
    from referral_orchestrator.plan.record import CONTROL_DEFAULTS, OUTPUT_KEYS, VERBATIM_KEYS

    homes = [*VERBATIM_KEYS, *OUTPUT_KEYS, *CONTROL_DEFAULTS]
    assert len(homes) == len(set(homes))
    assert set(homes) == set(LaunchState.__annotations__)
