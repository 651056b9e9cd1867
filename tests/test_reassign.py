"""Substitution is a step of its own: routed through `reassign`, or recorded in place."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from referral_orchestrator import Orchestrator
from referral_orchestrator.plan.chain import verify
from referral_orchestrator.testing import ScriptedRunner, break_links, failing_qa, unavailable


def _roster(workdir: Path, data: dict[str, Any]) -> Path:
    path = workdir / "roster.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _steps(result: Any, *nodes: str) -> list[tuple[str, str, str]]:
    return [(t["node"], t["event"], t["agent"]) for t in result.plan["transitions"]
            if not nodes or t["node"] in nodes]


def test_an_unavailable_lead_hands_each_sequential_stage_over_through_reassign(
    workdir: Path, clock: Any, seed: dict[str, Any]
) -> None:
    roster = _roster(workdir, {"unavailable": {"lifecycle-ops": "on leave"}})
    result = Orchestrator(workdir / "plans", clock=clock).launch(**seed, roster=roster)
    assert result.status == "completed"
    assert _steps(result)[:3] == [("checklist", "unavailable", "lifecycle-ops"),
                                  ("reassign", "reassigned", "partner-manager"),
                                  ("checklist", "completed", "partner-manager")]
    handed = [t for t in result.plan["transitions"] if t["node"] == "reassign"]
    assert [t["stage"] for t in handed] == ["checklist", "tooling-qa", "go-live"]
    assert handed[0]["reason"] == (
        "lifecycle-ops unavailable -> partner-manager covers checklist: on leave")
    # a handover is not an attempt: every stage still ran once
    assert set(result.plan["error_handling"]["attempts"].values()) == {1}
    verify(result.plan)


def test_fanned_out_items_hand_over_in_place_with_a_record_of_their_own(
    workdir: Path, clock: Any, seed: dict[str, Any]
) -> None:
    roster = _roster(workdir, {"unavailable": {"lifecycle-ops": "on leave"}})
    result = Orchestrator(workdir / "plans", clock=clock).launch(**seed, roster=roster)
    comms = [t for t in result.plan["transitions"] if t["node"] == "communications"]
    handed = [t for t in comms if t["event"] == "reassigned"]
    # lifecycle-ops owns the two channel drafts and the landing page; the kit is partner-manager's
    assert len(handed) == 3
    for rec in handed:
        drafted = next(t for t in comms if t["key"] == rec["key"].removesuffix(":reassign-1"))
        assert drafted["seq"] == rec["seq"] + 1 and drafted["agent"] == rec["agent"]
        assert rec["reason"].startswith(
            "lifecycle-ops unavailable -> partner-manager covers communications (")
    subs = {(s["stage"], s["covered"], s["substitute"]) for s in result.plan["substitutions"]}
    assert ("communications", "lifecycle-ops", "partner-manager") in subs


def test_an_agent_unavailable_at_run_time_is_handed_over_and_not_asked_again(
    workdir: Path, clock: Any, seed: dict[str, Any]
) -> None:
    runner = ScriptedRunner({("lifecycle-ops", "tooling-qa"): [unavailable("flu")]})
    result = Orchestrator(workdir / "plans", model=runner, clock=clock).launch(**seed)
    assert result.status == "completed"
    assert _steps(result, "tooling_qa", "reassign") == [
        ("tooling_qa", "unavailable", "lifecycle-ops"),
        ("reassign", "reassigned", "partner-manager"),
        ("tooling_qa", "qa_passed", "partner-manager")]
    (handed,) = [t for t in result.plan["transitions"] if t["node"] == "reassign"]
    assert handed["reason"].endswith("covers tooling-qa: flu")
    runner.assert_all_used()


def test_the_substitute_keeps_the_stage_through_its_retries(
    workdir: Path, clock: Any, seed: dict[str, Any]
) -> None:
    runner = ScriptedRunner({("lifecycle-ops", "tooling-qa"): [unavailable()],
                             ("partner-manager", "tooling-qa"): [break_links()]})
    result = Orchestrator(workdir / "plans", model=runner, clock=clock).launch(**seed)
    assert _steps(result, "tooling_qa", "reassign") == [
        ("tooling_qa", "unavailable", "lifecycle-ops"),
        ("reassign", "reassigned", "partner-manager"),
        ("tooling_qa", "qa_failed", "partner-manager"),
        ("tooling_qa", "qa_passed", "partner-manager")]
    runner.assert_all_used()


def test_a_fanned_out_item_whose_agent_drops_out_hands_over_in_place(
    workdir: Path, clock: Any, seed: dict[str, Any]
) -> None:
    runner = ScriptedRunner({("partner-manager", "partner-kit"): [unavailable()]})
    result = Orchestrator(workdir / "plans", model=runner, clock=clock).launch(**seed)
    assert result.status == "completed"
    assert not [t for t in result.plan["transitions"] if t["node"] == "reassign"]
    (handed,) = [t for t in result.plan["transitions"] if t["event"] == "reassigned"]
    assert (handed["node"], handed["agent"], handed["stage"]) == (
        "communications", "lifecycle-ops", "partner-kit")
    assert handed["key"].endswith(":reassign-1")
    runner.assert_all_used()


def test_enablement_runs_beside_the_drafts_so_it_hands_over_in_place(
    workdir: Path, clock: Any, seed: dict[str, Any]
) -> None:
    runner = ScriptedRunner({("partner-manager", "enablement"): [unavailable()]})
    result = Orchestrator(workdir / "plans", model=runner, clock=clock).launch(**seed)
    assert _steps(result, "enablement") == [("enablement", "reassigned", "lifecycle-ops"),
                                            ("enablement", "completed", "lifecycle-ops")]


def test_the_architect_hands_over_through_reassign_when_the_roster_names_a_substitute(
    workdir: Path, clock: Any, seed: dict[str, Any]
) -> None:
    roster = _roster(workdir, {"unavailable": {"referral-architect": "offsite"},
                               "fallbacks": {"referral-architect": ["partner-manager"]}})
    runner = failing_qa(3)
    result = Orchestrator(workdir / "plans", model=runner, clock=clock).launch(
        **seed, roster=roster)
    ladder = _steps(result, "referral_architect", "reassign")
    assert ladder == [("referral_architect", "unavailable", "referral-architect"),
                      ("reassign", "reassigned", "partner-manager"),
                      ("referral_architect", "remediated", "partner-manager")]
    assert result.status == "completed"


def test_no_substitute_escalates_without_a_handover(
    workdir: Path, clock: Any, seed: dict[str, Any]
) -> None:
    roster = _roster(workdir, {"unavailable": {"lifecycle-ops": "out",
                                               "partner-manager": "out"}})
    result = Orchestrator(workdir / "plans", clock=clock).launch(**seed, roster=roster)
    assert "reassign" not in {t["node"] for t in result.plan["transitions"]}
    assert result.plan["escalation_log"][0]["trigger"] == "no_substitute"
