"""Guardrails end to end through the public API: fallbacks, retries, ladder, rip-cord."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from referral_orchestrator import Orchestrator
from referral_orchestrator.testing import (
    ScriptedRunner,
    fail,
    failing_qa,
    invalid,
    timeout,
    unavailable,
)
from support import Stuck


def _orch(workdir: Path, clock, runner) -> Orchestrator:  # type: ignore[no-untyped-def]
    return Orchestrator(workdir / "plans", model=runner, clock=clock)


def _nodes(result) -> list[str]:  # type: ignore[no-untyped-def]
    return [t["node"] for t in result.plan["transitions"]]


def test_unavailable_lead_is_covered_by_its_substitute_and_the_runbook_says_so(
    workdir: Path, clock, seed: dict[str, Any]
) -> None:
    roster = workdir / "roster.yaml"
    roster.write_text(yaml.safe_dump({"unavailable": {"lifecycle-ops": "on leave"},
                                      "people": {"partner-manager": "Ana Diaz"}}))
    result = Orchestrator(workdir / "plans", clock=clock).launch(**seed, roster=roster)
    assert result.status == "completed"
    subs = result.plan["substitutions"]
    assert {(s["covered"], s["substitute"]) for s in subs} == {("lifecycle-ops",
                                                                "partner-manager")}
    assert {"checklist", "tooling-qa", "communications", "go-live"} <= {s["stage"] for s in subs}
    assert all("on leave" in s["reason"] for s in subs)
    owners = {t["owner"] for t in result.plan["tasks"]}
    assert "lifecycle-ops" not in owners
    runbook = Path(result.artifacts["runbook_md"]).read_text()
    assert "partner-manager" in runbook and "covers" in runbook


def test_agent_found_unavailable_at_run_time_hands_over_to_the_substitute(
    workdir: Path, clock, seed: dict[str, Any]
) -> None:
    runner = ScriptedRunner({("partner-manager", "enablement"): [unavailable()]})
    result = _orch(workdir, clock, runner).launch(**seed)
    assert result.status == "completed"
    sub = next(s for s in result.plan["substitutions"] if s["stage"] == "enablement")
    assert (sub["covered"], sub["substitute"]) == ("partner-manager", "lifecycle-ops")
    runner.assert_all_used()


def test_no_available_substitute_escalates_instead_of_retrying(
    workdir: Path, clock, seed: dict[str, Any]
) -> None:
    roster = workdir / "roster.yaml"
    roster.write_text(yaml.safe_dump({"unavailable": {"lifecycle-ops": "out",
                                                      "partner-manager": "out"}}))
    result = Orchestrator(workdir / "plans", clock=clock).launch(**seed, roster=roster)
    assert result.status == "awaiting_decision"
    esc = result.plan["escalation_log"]
    assert esc[0]["trigger"] == "no_substitute"
    assert _nodes(result) == ["checklist", "referral_architect", "checklist",
                              "referral_architect"]


def test_failed_qa_is_retried_with_the_failure_as_feedback_then_passes(
    workdir: Path, clock, seed: dict[str, Any]
) -> None:
    runner = failing_qa(2)
    seen: list[tuple[int, tuple[str, ...]]] = []
    original = runner.run

    def spy(call):  # type: ignore[no-untyped-def]
        if call.stage == "tooling-qa":
            seen.append((call.attempt, call.feedback))
        return original(call)

    runner.run = spy  # type: ignore[method-assign]
    result = _orch(workdir, clock, runner).launch(**seed)
    assert result.status == "completed"
    assert [a for a, _ in seen] == [1, 2, 3]
    assert seen[0][1] == () and all("links.params" in " ".join(f) for _, f in seen[1:])
    assert _nodes(result)[:4] == ["checklist", "tooling_qa", "tooling_qa", "tooling_qa"]
    assert result.plan["error_handling"]["attempts"]["tooling-qa"] == 3
    runner.assert_all_used()


def test_third_qa_failure_climbs_to_the_architect_who_reruns_once(
    workdir: Path, clock, seed: dict[str, Any]
) -> None:
    runner = failing_qa(3)
    result = _orch(workdir, clock, runner).launch(**seed)
    assert result.status == "completed"
    assert _nodes(result)[1:6] == ["tooling_qa"] * 3 + ["referral_architect", "tooling_qa"]
    (rem,) = result.plan["remediation_log"]
    assert rem["rung"] == 2 and rem["by"] == "referral-architect"
    assert result.plan["escalation_log"][0]["trigger"] == "retries_exhausted"


def test_failure_after_the_architects_rerun_asks_the_exec_sponsor(
    stuck_at_sponsor: Stuck,
) -> None:
    result = stuck_at_sponsor.waiting
    assert result.status == "awaiting_decision"
    assert result.pending["type"] == "escalation" and result.pending["stage"] == "tooling-qa"
    assert any("--decision halt" in a for a in result.next_actions)


@pytest.mark.parametrize("step", [fail, timeout, invalid])
def test_agent_errors_count_against_the_retry_budget(
    workdir: Path, clock, seed: dict[str, Any], step
) -> None:
    runner = ScriptedRunner({("partner-ops", "partner-workflows"): [step(), step()]})
    result = _orch(workdir, clock, runner).launch(**seed)
    assert result.status == "completed"
    assert _nodes(result).count("partner_ops") == 3
    runner.assert_all_used()


def test_rip_cord_halts_for_good(stuck_at_sponsor: Stuck) -> None:
    orch, waiting = stuck_at_sponsor.orch, stuck_at_sponsor.waiting
    halted = orch.escalation(waiting.plan_id, "halt", note="tracking vendor down", by="Jordan")
    assert halted.status == "halted"
    last = halted.plan["remediation_log"][-1]
    assert (last["rung"], last["action"], last["by"]) == (3, "halt", "Jordan")
    assert "tracking vendor down" in last["summary"]
    from referral_orchestrator import RunHalted

    for again in (lambda: orch.resume(waiting.plan_id),
                  lambda: orch.escalation(waiting.plan_id, "proceed")):
        with pytest.raises(RunHalted):
            again()


def test_sponsor_can_proceed_past_a_failed_stage(stuck_at_sponsor: Stuck) -> None:
    orch, waiting = stuck_at_sponsor.orch, stuck_at_sponsor.waiting
    done = orch.escalation(waiting.plan_id, "proceed", note="accept risk", by="Jordan")
    assert done.status == "completed"
    stage = next(s for s in done.plan["stages"] if s["stage_id"] == "tooling-qa")
    assert stage["status"] == "waived"
    waived = [c for c in done.plan["qa"]["communications"]["checks"] if c.get("waived")]
    assert waived and {c["id"] for c in waived} == {"comms.link"}
    assert done.plan["success_metrics"]["tracking_accuracy"] < 1


def test_sponsor_descope_drops_the_channel_everywhere(stuck_at_sponsor: Stuck) -> None:
    orch, waiting = stuck_at_sponsor.orch, stuck_at_sponsor.waiting
    done = orch.escalation(waiting.plan_id, "descope", channel="in_app", by="Jordan")
    assert done.status == "completed"
    assert done.plan["request"]["normalized"]["channels"] == ["email"]
    change = done.plan["change_log"][-1]
    assert (change["what"], change["before"], change["after"]) == (
        "channels", ["email", "in-app"], ["email"])
    assert not any(k.startswith("in-app") for k in done.plan["qa"]["communications"].get(
        "retry_keys", []))
    assert not [name for name in done.artifacts if "in-app" in name]
    creative = next(t for t in done.plan["tasks"] if t["id"] == "creative-in-app")
    assert creative["status"] == "descoped"


def test_sponsor_postpone_replans_every_date(stuck_at_sponsor: Stuck) -> None:
    orch, waiting = stuck_at_sponsor.orch, stuck_at_sponsor.waiting
    done = orch.escalation(waiting.plan_id, "postpone", launch_date="2027-01-20")
    assert done.status == "completed"
    launch = next(t for t in done.plan["tasks"] if t["id"] == "launch")
    assert launch["due"] == "2027-01-20"
    assert done.plan["compressed_tasks"] == []
