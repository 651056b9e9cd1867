"""Approval gates: pause before go-live, decisions, rejections fed back, slipped deadlines."""

from __future__ import annotations

from pathlib import Path

import pytest

from referral_orchestrator import InvalidDecision, Orchestrator
from support import SEED_REQUEST

WITH_APPROVERS = {**SEED_REQUEST, "approvers": "legal,finance"}


@pytest.fixture
def waiting(orch: Orchestrator):  # type: ignore[no-untyped-def]
    return orch.launch(**WITH_APPROVERS)


def test_launch_with_approvers_waits_before_go_live_with_one_pending_approval_each(
    waiting,  # type: ignore[no-untyped-def]
) -> None:
    assert waiting.status == "awaiting_approval"
    nodes = [t["node"] for t in waiting.plan["transitions"]]
    assert "go_live" not in nodes and nodes[-1] == "partner_ops"
    approvals = {a["approver"]: a for a in waiting.plan["approvals"]}
    assert set(approvals) == {"legal", "finance"}
    assert {a["status"] for a in approvals.values()} == {"pending"}
    assert approvals["legal"]["deadline"] == "2026-12-03"  # launch minus 5 business days
    commands = [a for a in waiting.next_actions if "approve" in a]
    assert any("--approver legal" in c for c in commands)
    assert any("comms-kit/index.md" in a for a in waiting.next_actions)
    assert Path(waiting.artifacts["comms_kit"]).is_file()


def test_all_approvals_resume_the_run_to_completion(orch: Orchestrator, waiting) -> None:  # type: ignore[no-untyped-def]
    half = orch.approve(waiting.plan_id, "legal", note="ok", by="Sam")
    assert half.status == "awaiting_approval"
    assert [p["approver"] for p in half.pending["pending"]] == ["finance"]
    done = orch.approve(waiting.plan_id, "Finance")
    assert done.status == "completed"
    legal = next(a for a in done.plan["approvals"] if a["approver"] == "legal")
    assert (legal["status"], legal["by"], legal["note"]) == ("approved", "Sam", "ok")
    assert legal["decided_at"]
    assert [t["node"] for t in done.plan["transitions"]][-1] == "go_live"


def test_rejection_note_is_fed_back_into_rework_and_counted(orch: Orchestrator, waiting) -> None:  # type: ignore[no-untyped-def]
    reworked = orch.approve(waiting.plan_id, "legal", reject=True, note="add the tax wording")
    assert reworked.status == "awaiting_approval"
    assert reworked.plan["error_handling"]["attempts"]["approval"] == 1
    nodes = [t["node"] for t in reworked.plan["transitions"]]
    after = nodes[nodes.index("approval_gate"):]
    assert after[:2] == ["approval_gate", "communications"] and "merge_gate" in after
    legal = next(a for a in reworked.plan["approvals"] if a["approver"] == "legal")
    assert legal["status"] == "pending" and legal["history"][0]["decision"] == "reject"


def test_third_rejection_escalates_up_the_ladder(orch: Orchestrator, waiting) -> None:  # type: ignore[no-untyped-def]
    result = waiting
    for _ in range(3):
        result = orch.approve(waiting.plan_id, "legal", reject=True, note="no")
    # rung 2 reworked the package once more and re-opened legal's approval
    assert result.status == "awaiting_approval"
    assert result.plan["escalation_log"][0]["trigger"] == "rejections_exhausted"
    assert result.plan["remediation_log"][0]["rung"] == 2
    final = orch.approve(waiting.plan_id, "finance")
    assert final.status == "awaiting_approval"  # a rejected package never reaches go-live
    final = orch.approve(waiting.plan_id, "legal", reject=True, note="still no")
    assert final.status == "awaiting_decision"
    assert final.pending["stage"] == "approval"


def test_unknown_or_already_decided_approver_is_refused(orch: Orchestrator, waiting) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(InvalidDecision):
        orch.approve(waiting.plan_id, "marketing")
    orch.approve(waiting.plan_id, "legal")
    with pytest.raises(InvalidDecision):
        orch.approve(waiting.plan_id, "legal")


def test_slipped_approval_deadline_escalates_when_status_is_checked(
    orch: Orchestrator, waiting  # type: ignore[no-untyped-def]
) -> None:
    on_time = orch.status(waiting.plan_id, today="2026-12-03")
    assert on_time.status == "awaiting_approval"
    late = orch.status(waiting.plan_id, today="2026-12-04")
    assert late.plan["escalation_log"][0]["trigger"] == "approval_slipped"
    assert late.plan["remediation_log"][0]["rung"] == 2
    # rung 2 extended the deadline by two business days and re-opened the gate
    assert late.status == "awaiting_approval"
    legal = next(a for a in late.plan["approvals"] if a["approver"] == "legal")
    assert legal["deadline"] == "2026-12-07"
    again = orch.status(waiting.plan_id, today="2026-12-08")
    assert again.status == "awaiting_decision"
    assert again.pending["trigger"] == "approval_slipped"
