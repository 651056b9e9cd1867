"""The pure routing functions, branch by branch: a state in, a node (or a fan-out) out."""

from __future__ import annotations

from typing import Any

import pytest
from langgraph.types import Send

from referral_orchestrator.engine import routing as route
from referral_orchestrator.engine.state import LaunchState
from referral_orchestrator.launch.stages import StageId

DRAFTS = "drafts"  # the diamond fan-out: every work item plus enablement
COMMS_ONLY = "comms-only"  # the pipeline fan-out: the work items alone


def state(*, approvers: bool = True, pattern: str = "diamond", **values: Any) -> LaunchState:
    """A launch with one channel x one segment (plus the two shared work items)."""
    base: dict[str, Any] = {
        "request": {"program": "P", "channels": ["email"], "audience": ["all customers"],
                    "approvers": ["legal"] if approvers else [], "pattern": pattern},
        "landing_url": "https://example.com/p",
    }
    return LaunchState(**{**base, **values})  # type: ignore[typeddict-item]


def shape(result: Any) -> Any:
    """A route as a comparable value: a node id, or the kind of Send fan-out."""
    if not isinstance(result, list):
        return result
    assert all(isinstance(s, Send) for s in result)
    nodes = [s.node for s in result]
    if nodes == ["communications"] * 3 + ["enablement"]:
        return DRAFTS
    if nodes == ["communications"] * 3:
        return COMMS_ONLY
    return tuple(s.arg["key"] if s.node == "communications" else s.node for s in result)


@pytest.mark.parametrize(("stage", "outcome", "approvers", "expected"), [
    ("checklist", "ok", True, "tooling_qa"),
    ("checklist", "waived", True, "tooling_qa"),
    ("checklist", "retry", True, "checklist"),
    ("checklist", "reassign", True, "reassign"),
    ("checklist", "escalate", True, "referral_architect"),
    ("tooling-qa", "ok", True, DRAFTS),
    ("tooling-qa", "retry", True, "tooling_qa"),
    ("tooling-qa", "reassign", True, "reassign"),
    ("tooling-qa", "escalate", True, "referral_architect"),
    ("partner-workflows", "ok", True, "approval_gate"),
    ("partner-workflows", "ok", False, "go_live"),
    ("partner-workflows", "retry", True, "partner_ops"),
    ("partner-workflows", "reassign", False, "reassign"),
    ("partner-workflows", "escalate", False, "referral_architect"),
    ("go-live", "ok", True, "__end__"),
    ("go-live", "retry", True, "go_live"),
    ("go-live", "reassign", True, "reassign"),
    ("go-live", "escalate", True, "referral_architect"),
])
def test_a_sequential_stage_routes_on_its_outcome(
    stage: StageId, outcome: str, approvers: bool, expected: str
) -> None:
    s = state(approvers=approvers, outcome={stage: outcome})
    assert shape(route.after_stage(s, stage)) == expected
    assert shape(route.after(stage)(s)) == expected


def test_a_stage_with_no_recorded_outcome_counts_as_done() -> None:
    assert route.after_stage(state(), "checklist") == "tooling_qa"


def test_each_stage_router_is_named_after_its_stage() -> None:
    assert route.after("tooling-qa").__name__ == "after_tooling_qa"


@pytest.mark.parametrize(("pattern", "values", "expected"), [
    ("diamond", {}, "merge_gate"),
    ("diamond", {"enablement": {}}, "merge_gate"),
    ("pipeline", {}, "enablement"),
    ("pipeline", {"enablement": {"sessions": []}, "failures": {"enablement": ["x"]}},
     "enablement"),
    ("pipeline", {"enablement": {"sessions": []}}, "merge_gate"),
])
def test_after_a_draft_the_diamond_joins_and_the_pipeline_runs_enablement_first(
    pattern: str, values: dict[str, Any], expected: str
) -> None:
    assert route.after_communications(state(pattern=pattern, **values)) == expected


@pytest.mark.parametrize(("outcome", "expected"), [
    ("ok", "partner_ops"),
    ("waived", "partner_ops"),
    ("retry", ("email:all customers", "partner-kit")),
    ("escalate", "referral_architect"),
])
def test_the_merge_gate_moves_on_redrafts_only_what_failed_or_escalates(
    outcome: str, expected: Any
) -> None:
    s = state(outcome={"communications": outcome}, enablement={"sessions": []},
              qa={"communications": {"retry_keys": ["partner-kit",
                                                    "email:all customers"]}})
    assert shape(route.after_merge(s)) == expected


@pytest.mark.parametrize(("outcome", "expected"), [
    ("ok", "go_live"),
    ("pending", "approval_gate"),
    ("rework", DRAFTS),
    ("escalate", "referral_architect"),
])
def test_the_approval_gate_goes_live_waits_reworks_or_escalates(
    outcome: str, expected: str
) -> None:
    assert shape(route.after_approval(state(outcome={"approval": outcome}))) == expected


@pytest.mark.parametrize("node", ["checklist", "tooling_qa", "partner_ops", "go_live",
                                  "referral_architect"])
def test_reassign_sends_the_work_back_to_the_node_that_asked(node: str) -> None:
    assert route.after_reassign(state(reassignment={"node": node})) == node


@pytest.mark.parametrize(("ladder", "last", "expected"), [
    ("rerun", {"stage": "checklist"}, "checklist"),
    ("rerun", {"stage": "tooling-qa"}, "tooling_qa"),
    ("rerun", {"stage": "communications"}, DRAFTS),
    ("rerun", {"stage": "enablement"}, DRAFTS),
    ("rerun", {"stage": "partner-kit"}, DRAFTS),
    ("rerun", {"stage": "partner-workflows"}, "partner_ops"),
    ("rerun", {"stage": "approval", "trigger": "approval_slipped"}, "approval_gate"),
    ("rerun", {"stage": "approval", "trigger": "rejections_exhausted"}, DRAFTS),
    ("rerun", {"stage": "go-live"}, "go_live"),
    ("replan", {"stage": "go-live"}, "checklist"),
    ("reassign", {}, "reassign"),
    ("sponsor", {"stage": "checklist"}, "exec_sponsor"),
])
def test_rung_two_reruns_the_stage_replans_hands_over_or_climbs(
    ladder: str, last: dict[str, str], expected: str
) -> None:
    s = state(outcome={"ladder": ladder}, remediations=[last] if last else [])
    assert shape(route.after_architect(s)) == expected


@pytest.mark.parametrize(("ladder", "stage", "trigger", "approvers", "expected"), [
    ("halt", "tooling-qa", "", True, "__end__"),
    ("proceed", "checklist", "", True, "tooling_qa"),
    ("proceed", "tooling-qa", "", True, DRAFTS),
    ("proceed", "communications", "", True, "partner_ops"),
    ("proceed", "enablement", "", True, "partner_ops"),
    ("proceed", "partner-workflows", "", True, "approval_gate"),
    ("proceed", "partner-workflows", "", False, "go_live"),
    ("proceed", "approval", "approval_slipped", True, "go_live"),
    ("proceed", "go-live", "", True, "__end__"),
    ("replan", "tooling-qa", "", True, "checklist"),
    ("rerun", "tooling-qa", "retries_exhausted", True, "tooling_qa"),
    ("rerun", "communications", "retries_exhausted", True, DRAFTS),
    ("rerun", "approval", "rejections_exhausted", True, DRAFTS),
])
def test_the_sponsors_decision_ends_continues_replans_or_reruns(
    ladder: str, stage: str, trigger: str, approvers: bool, expected: str
) -> None:
    s = state(approvers=approvers, outcome={"ladder": ladder},
              decision={"stage": stage, "trigger": trigger})
    assert shape(route.after_sponsor(s)) == expected


def test_the_pipeline_fans_out_the_work_items_without_enablement() -> None:
    assert shape(route.dispatch_drafts(state(pattern="pipeline"))) == COMMS_ONLY


def test_the_pipeline_sends_enablement_alone_when_no_draft_is_left() -> None:
    s = state(pattern="pipeline", failures={"enablement": ["x"]}, enablement={"sessions": []})
    assert shape(route.dispatch_drafts(s, only=["enablement"])) == ("enablement",)


def test_a_fanned_out_item_carries_its_link_feedback_and_assignment() -> None:
    s = state(tooling={"tracking_links": [{"channel": "email", "segment": "all customers",
                                           "url": "https://t/e"}]},
              failures={"email:all customers": ["comms.length"],
                        "communications": ["legal rejected the launch package: tone"]},
              attempts={"communications": 1}, assigned={"partner-kit": "lifecycle-ops"})
    (email, *_rest) = route.dispatch_drafts(s)
    assert email.arg["link"] == "https://t/e" and email.arg["attempt"] == 2
    assert email.arg["feedback"] == ["comms.length", "legal rejected the launch package: tone"]
    assert email.arg["assigned"] == {"partner-kit": "lifecycle-ops"}


@pytest.mark.parametrize(("stage", "expected"), [
    ("checklist", ["tooling_qa", "checklist", "reassign", "referral_architect"]),
    ("tooling-qa", ["communications", "enablement", "tooling_qa", "reassign",
                    "referral_architect"]),
    ("partner-workflows", ["approval_gate", "go_live", "partner_ops", "reassign",
                           "referral_architect"]),
    ("go-live", ["__end__", "go_live", "reassign", "referral_architect"]),
])
def test_each_routers_path_map_lists_every_node_it_can_return(
    stage: StageId, expected: list[str]
) -> None:
    assert route.ends(stage) == expected
