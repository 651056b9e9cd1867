"""The façade's contracts: the plan of any thread (``export_plan``), a runner per plan."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.types import Command

from referral_orchestrator import Orchestrator, build_graph, export_plan, launch_input
from referral_orchestrator import orchestrator as _orchestrator
from referral_orchestrator.engine.state import RunContext
from referral_orchestrator.errors import UsageError
from referral_orchestrator.plan.chain import verify
from referral_orchestrator.runners import AgentCall, AgentResult, Usage
from referral_orchestrator.runners.offline import OfflineDrafter
from referral_orchestrator.runners.pricing import Budget
from referral_orchestrator.surfaces.cli import main
from support import SEED_REQUEST, local_zone

WITH_APPROVERS = {**SEED_REQUEST, "approvers": "legal,finance"}
# Sections that depend on neither ids, clocks nor where files went
SAME = ("objective", "complexity", "strategy", "status", "pending", "model", "charter",
        "stages", "tasks", "compressed_tasks", "full_lead_launch", "error_handling",
        "substitutions", "success_metrics", "qa", "change_log", "escalation_log",
        "remediation_log", "usage")
CONFIG: dict[str, Any] = {"configurable": {"thread_id": "launch-1"}}


def approval(approver: str) -> Command:
    return Command(resume={"type": "approval", "approver": approver, "decision": "approve",
                           "note": None, "by": None})


def steps(plan: dict[str, Any]) -> Counter[tuple[str, str, str]]:
    """The transitions as (node, event, agent): parallel drafts may land in either order."""
    return Counter((t["node"], t["event"], t["agent"]) for t in plan["transitions"])


@pytest.fixture
def thread(clock: Any) -> Any:
    """``build_graph()`` on an in-memory checkpointer, run until the approval gate."""
    graph = build_graph(InMemorySaver())
    ctx = RunContext(clock=clock)
    graph.invoke(launch_input(**WITH_APPROVERS), CONFIG, context=ctx)
    return graph, ctx


def test_a_thread_waiting_for_approval_exports_the_plan_the_cli_writes(
        thread: Any, workdir: Path, clock: Any) -> None:
    graph, _ = thread
    plan = export_plan(graph.get_state(CONFIG))
    assert verify(plan) == plan  # schema, hash chain and digest
    cli = Orchestrator(workdir / "plans", clock=clock).launch(**WITH_APPROVERS).plan
    assert {k: plan[k] for k in SAME} == {k: cli[k] for k in SAME}
    assert plan["status"] == "awaiting_approval" and plan["pending"]["type"] == "approval"
    assert steps(plan) == steps(cli)
    assert plan["plan_id"] == "plan-20261125-090001"  # the first transition's time
    assert plan["context_passing"]["checkpoint"] == "langgraph thread launch-1"


def test_the_exported_plan_follows_the_thread_to_go_live(thread: Any, workdir: Path) -> None:
    graph, ctx = thread
    for approver in ("legal", "finance"):
        graph.invoke(approval(approver), CONFIG, context=ctx)
    plan = export_plan(graph.get_state(CONFIG), plan_id="plan-20261125-120000",
                       model="offline", out_dir="/srv/launches/advocates")
    verify(plan)
    assert (plan["status"], plan["pending"]) == ("completed", None)
    assert {a["approver"]: a["status"] for a in plan["approvals"]} == {
        "legal": "approved", "finance": "approved"}
    assert plan["transitions"][-1]["node"] == "go_live"
    assert plan["plan_id"] == "plan-20261125-120000"
    assert plan["context_passing"]["artifacts_location"] == "/srv/launches/advocates"
    file = workdir / f"{plan['plan_id']}.json"
    file.write_text(json.dumps(plan, indent=2, ensure_ascii=False), encoding="utf-8")
    assert main(["validate", str(file)]) == 0


def test_a_thread_whose_launch_has_not_started_has_no_plan_to_export() -> None:
    graph = build_graph(InMemorySaver())
    with pytest.raises(UsageError) as caught:
        export_plan(graph.get_state(CONFIG))
    assert caught.value.code == UsageError.code


class Metered:
    """A runner that bills every call and keeps its own budget, as the Claude runner does."""

    name = "metered"
    price = 0.01

    def __init__(self, max_cost_usd: float | None = None, spent_usd: float = 0.0,
                 **_: Any) -> None:
        self.started_at = spent_usd
        self.budget = Budget(max_cost_usd, spent_usd)
        self.drafter = OfflineDrafter()

    def run(self, call: AgentCall) -> AgentResult:
        self.budget.reserve(self.price)
        self.budget.settle(self.price, self.price)
        result = self.drafter.run(call)
        result.usage = Usage(model="claude-sonnet-5-5", calls=1, cost_usd=self.price)
        return result


def test_each_plan_is_charged_to_its_own_runner_and_budget(
        workdir: Path, clock: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    runners: list[Metered] = []

    def resolve(model: Any, **options: Any) -> Metered:
        runners.append(Metered(**options))
        return runners[-1]

    monkeypatch.setattr(_orchestrator, "resolve_runner", resolve)
    orch = Orchestrator(workdir / "plans", model="claude-sonnet-5-5", clock=clock,
                        max_cost_usd=50.0)
    a = orch.launch(**{**SEED_REQUEST, "approvers": "legal"})
    b = orch.launch(**{**SEED_REQUEST, "approvers": "legal", "program": "Partner Push"})
    a_spent = a.plan["usage"]["total"]["cost_usd"]
    b_spent = b.plan["usage"]["total"]["cost_usd"]
    assert a_spent > 0 and b_spent > 0
    b_runner = runners[-1]
    done = orch.approve(a.plan_id, "legal")
    assert done.status == "completed"
    a_runner = runners[-1]
    assert a_runner is not b_runner  # plan A's approval does not run on plan B's runner
    assert a_runner.started_at == pytest.approx(a_spent)  # ... and starts from A's spend
    assert b_runner.budget.spent_usd == pytest.approx(b_spent)  # B's budget is untouched
    total = done.plan["usage"]["total"]["cost_usd"]
    assert a_runner.budget.spent_usd == pytest.approx(total)


def test_a_host_graph_on_a_naive_clock_records_instants_in_utc() -> None:
    """A host running the graph itself with ``RunContext(clock=datetime.now)`` (naive,
    local) gets transitions stamped in UTC with the offset, as the Orchestrator's are."""
    import datetime as dt

    with local_zone("Asia/Tokyo"):
        graph = build_graph(InMemorySaver())
        local = dt.datetime(2026, 11, 25, 18, 30)  # 18:30 in Tokyo is 09:30 UTC
        values = graph.invoke(launch_input(**WITH_APPROVERS), CONFIG,
                              context=RunContext(clock=lambda: local))
    stamps = {t["at"] for t in values["transitions"]}
    assert stamps == {"2026-11-25T09:30:00+00:00"}
