"""Every guardrail through the command line, as a lifecycle-ops lead would drive it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from referral_orchestrator.surfaces.cli import main
from referral_orchestrator.testing import failing_qa, stuck_at_sponsor_runner
from support import SEED, UseRunner


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    code = main([*args, "--format", "json"])
    out = capsys.readouterr().out
    return code, json.loads(out) if out.strip().startswith("{") else {}


def test_roster_file_substitutes_the_unavailable_lead(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (workdir / "roster.yaml").write_text(yaml.safe_dump(
        {"unavailable": {"lifecycle-ops": "parental leave"}}))
    assert main([*SEED, "--roster", "roster.yaml"]) == 0
    out = capsys.readouterr().out
    assert "cover:   partner-manager covers lifecycle-ops" in out


def test_failed_qa_retried_twice_with_feedback_still_completes(
    workdir: Path, capsys: pytest.CaptureFixture[str], cli_runner: UseRunner
) -> None:
    runner = failing_qa(2)
    cli_runner(runner)
    code, data = _run(SEED, capsys)
    assert (code, data["status"]) == (0, "completed")
    plan = json.loads(Path(data["plan_path"]).read_text())
    qa_runs = [t for t in plan["transitions"] if t["node"] == "tooling_qa"]
    assert [t["event"] for t in qa_runs] == ["qa_failed", "qa_failed", "qa_passed"]
    assert "links.params" in qa_runs[0]["reason"]
    runner.assert_all_used()


def test_escalation_decision_descope_completes_the_launch(
    workdir: Path, capsys: pytest.CaptureFixture[str], cli_runner: UseRunner
) -> None:
    cli_runner(stuck_at_sponsor_runner())
    code, data = _run(SEED, capsys)
    assert (code, data["status"]) == (0, "awaiting_decision")
    assert any("--decision descope" in a for a in data["next_actions"])
    code, data = _run(["escalation", data["plan_id"], "--decision", "descope", "--channel",
                       "in-app", "--by", "Jordan"], capsys)
    assert (code, data["status"], data["channels"]) == (0, "completed", ["email"])


def test_halt_exits_4_and_the_plan_stays_closed(
    workdir: Path, capsys: pytest.CaptureFixture[str], cli_runner: UseRunner
) -> None:
    cli_runner(stuck_at_sponsor_runner())
    _, data = _run(SEED, capsys)
    plan = data["plan_id"]
    assert main(["escalation", plan, "--decision", "halt", "--note", "vendor outage"]) == 4
    capsys.readouterr()
    for args in (["resume", plan], ["escalation", plan, "--decision", "proceed"],
                 ["approve", plan, "--approver", "legal"]):
        assert main(args) == 4
        assert "halted" in capsys.readouterr().err
    assert main(["status", plan]) == 4


def test_bad_escalation_arguments_exit_2_and_change_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str], cli_runner: UseRunner
) -> None:
    cli_runner(stuck_at_sponsor_runner())
    _, data = _run(SEED, capsys)
    path = Path(data["plan_path"])
    before = path.read_bytes()
    for args in (["--decision", "descope"], ["--decision", "descope", "--channel", "sms"],
                 ["--decision", "postpone"], ["--decision", "postpone", "--launch-date",
                                              "2026-11-01"]):
        assert main(["escalation", data["plan_id"], *args]) == 2
    assert path.read_bytes() == before


def test_approval_round_trip_prints_and_accepts_the_exact_commands(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([*SEED, "--approvers", "legal,finance"]) == 0
    out = capsys.readouterr().out
    assert "status: awaiting_approval" in out
    plan = next(line.split()[1] for line in out.splitlines() if line.startswith("plan:"))
    assert f"referral-orchestrator approve {plan} --approver legal" in out
    code, data = _run(["approve", plan, "--approver", "legal", "--reject", "--note",
                       "add the tax wording"], capsys)
    assert (code, data["status"]) == (0, "awaiting_approval")
    for who in ("legal", "finance"):
        code, data = _run(["approve", plan, "--approver", who], capsys)
    assert (code, data["status"]) == (0, "completed")


def test_status_escalates_a_slipped_approval(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = _run([*SEED, "--approvers", "legal"], capsys)
    code, late = _run(["status", data["plan_id"], "--as-of", "2026-12-04"], capsys)
    assert code == 0
    plan = json.loads(Path(data["plan_path"]).read_text())
    assert plan["escalation_log"][0]["trigger"] == "approval_slipped"
    assert late["status"] == "awaiting_approval"


@pytest.mark.parametrize("command", [["resume"], ["approve", "--approver", "legal"],
                                     ["escalation", "--decision", "proceed"]])
def test_tampered_plan_is_refused_with_exit_3_naming_the_record(
    command: list[str], workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = _run([*SEED, "--approvers", "legal"], capsys)
    path = Path(data["plan_path"])
    plan = json.loads(path.read_text())
    plan["transitions"][1]["event"] = "qa_passed_honest"
    path.write_text(json.dumps(plan))
    assert main([command[0], data["plan_id"], *command[1:]]) == 3
    assert "transition #2" in capsys.readouterr().err


@pytest.mark.slow
def test_two_approvers_in_the_same_second_from_two_processes_lose_nothing(
    workdir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, data = _run([*SEED, "--approvers", "legal,finance"], capsys)
    procs = [subprocess.Popen([sys.executable, "-m", "referral_orchestrator", "approve",
                               data["plan_id"], "--approver", who, "--format", "json"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for who in ("legal", "finance")]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    plan = json.loads(Path(data["plan_path"]).read_text())
    assert plan["status"] == "completed"
    assert {a["approver"]: a["status"] for a in plan["approvals"]} == {
        "legal": "approved", "finance": "approved"}
    assert main(["validate", data["plan_path"]]) == 0
    nodes = [t["node"] for t in plan["transitions"]]
    assert nodes.count("approval_gate") == 2 and nodes[-1] == "go_live"
