"""The graph's stage nodes: each does one stage's work through the runner and reports an outcome.

A node never decides who works next - it records ``outcome[stage]`` (``ok``, ``retry``,
``reassign``, ``escalate``, ...) and the pure functions in ``routing`` turn that into the
next node. Every node returns exactly one ``transitions`` record of its own, plus one per
handover a fanned-out item made in place (see :func:`run_agent`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from langgraph.runtime import Runtime

from referral_orchestrator.launch import qa
from referral_orchestrator.launch.schedule import calendar_for, full_lead_launch, schedule
from referral_orchestrator.launch.stages import STAGE, StageId, stages_at

from .roster import NoSubstitute, roster_from_overrides
from .routing import SHARED_KEYS
from .state import DraftState, LaunchState, RunContext
from .steps import (
    Step,
    Update,
    asked_for_substitute,
    blocking,
    bookkeeping,
    context_of,
    event_of,
    reassign,
    run_agent,
    transition,
    with_handovers,
)

__all__ = ["reassign"]  # re-exported: the graph wires it as a node beside the stages


def stage_node(stage_id: StageId, inputs_of: Callable[[LaunchState], dict[str, Any]]) -> Any:
    """A node that runs one registry stage and stores its output under its state key."""
    stage = STAGE[stage_id]
    in_place = stage.execution == "parallel"

    def node_fn(state: LaunchState, runtime: Runtime[RunContext]) -> Update:
        ctx = context_of(runtime)
        attempt = state.get("attempts", {}).get(stage.id, 0) + 1
        feedback = state.get("failures", {}).get(stage.id) or []
        step = run_agent(state, ctx, stage.id, inputs_of(state), node=stage.node,
                         attempt=attempt, feedback=feedback, in_place=in_place)
        if step.reassign is not None:
            return asked_for_substitute(ctx, step, node=stage.node, stage=stage.id,
                                        attempt=attempt)
        update = bookkeeping(stage.id, step, state, attempt, [])
        if step.output is not None and stage.state_key is not None:
            update[stage.state_key] = step.output
        update["transitions"] = [transition(ctx, stage.node, event_of(update, stage.id),
                                            agent=step.agent, stage=stage.id, attempt=attempt,
                                            reason=step.error)]
        return with_handovers(ctx, state, step, update, node=stage.node)

    node_fn.__name__ = stage.node
    return node_fn


def _stage_owners(state: LaunchState) -> dict[str, str]:
    roster = roster_from_overrides(state.get("roster"))
    owners: dict[str, str] = {}
    for agent in roster.agents.values():
        for cap in agent.capabilities:
            try:
                owners[cap] = roster.assign(cap).agent
            except NoSubstitute:
                owners[cap] = agent.name
    return owners


def checklist(state: LaunchState, runtime: Runtime[RunContext]) -> Update:
    """Stage 1: the design charter and the dated task list (lifecycle-ops)."""
    ctx = context_of(runtime)
    stage: StageId = "checklist"
    attempt = state.get("attempts", {}).get(stage, 0) + 1
    inputs = {"request": state["request"], "owners": _stage_owners(state)}
    step = run_agent(state, ctx, stage, inputs, node="checklist", attempt=attempt,
                     feedback=state.get("failures", {}).get(stage) or [])
    if step.reassign is not None:
        return asked_for_substitute(ctx, step, node="checklist", stage=stage, attempt=attempt)
    notes: list[str] = []
    update: Update = {}
    if step.output is not None:
        tasks = step.output["tasks"]
        req = state["request"]
        try:
            compressed = schedule(tasks, launch=dt.date.fromisoformat(req["launch_date"]),
                                  as_of=dt.date.fromisoformat(req["as_of"]),
                                  calendar=calendar_for(req))
        except Exception as exc:  # a model's task list with unknown deps or cycles
            notes.append(f"task list rejected: {exc}")
        else:
            update.update(charter=step.output["charter"], tasks=tasks, compressed_tasks=compressed,
                          full_lead_launch=full_lead_launch(
                              tasks, dt.date.fromisoformat(req["launch_date"]),
                              calendar_for(req)).isoformat())
    update.update(bookkeeping(stage, step, state, attempt, notes))
    update["transitions"] = [transition(ctx, "checklist", event_of(update, stage),
                                        agent=step.agent, stage=stage, attempt=attempt,
                                        reason="; ".join(notes) or step.error)]
    return update


def tooling_qa(state: LaunchState, runtime: Runtime[RunContext]) -> Update:
    """Stage 2: forms, tracking, fulfillment, workflows - then the tooling QA checks."""
    ctx = context_of(runtime)
    stage: StageId = "tooling-qa"
    attempt = state.get("attempts", {}).get(stage, 0) + 1
    inputs = {"request": state["request"], "charter": state.get("charter"),
              "landing_url": state["landing_url"],
              "tasks": _tasks_of(state, "tooling-qa")}
    step = run_agent(state, ctx, stage, inputs, node="tooling_qa", attempt=attempt,
                     feedback=state.get("failures", {}).get(stage) or [])
    if step.reassign is not None:
        return asked_for_substitute(ctx, step, node="tooling_qa", stage=stage, attempt=attempt)
    update: Update = {}
    notes: list[str] = []
    if step.output is not None:
        checks = qa.tooling_checks(dict(state), step.output)
        notes = [f"{c['id']} {c['target']}: {c['detail']}".replace(" :", ":")
                 for c in blocking(checks, state)]
        update["tooling"] = step.output
        update["qa"] = {stage: {"passed": not notes, "attempt": attempt, "checks": checks}}
    update.update(bookkeeping(stage, step, state, attempt, notes))
    event = {"ok": "qa_passed", "retry": "qa_failed", "escalate": "escalated"}[
        update["outcome"][stage]]
    update["transitions"] = [transition(ctx, "tooling_qa", event, agent=step.agent,
                                        stage=stage, attempt=attempt,
                                        reason="; ".join(notes) or step.error)]
    return update


def communications(state: DraftState, runtime: Runtime[RunContext]) -> Update:
    """Stage 3 (fanned out): one channel x segment draft, the partner kit or the landing page.

    A handover happens in place: the item cannot leave its ``Send`` branch without the
    merge gate running before it is drafted, so it records the handover as its own
    transition (node ``communications``, event ``reassigned``) before its draft.
    """
    ctx = context_of(runtime)
    key, attempt = state["key"], state["attempt"]
    stage: StageId = "partner-kit" if key == "partner-kit" else "communications"
    inputs = {k: state.get(k) for k in ("request", "charter", "landing_url", "channel",
                                        "segment", "link")}
    step = run_agent(state, ctx, stage, inputs, node="communications", attempt=attempt,
                     feedback=state.get("feedback", []), key=key, in_place=True)
    update: Update = {"attempts": {"communications": attempt}, "usage": step.usage,
                      "failures": {key: [step.error] if step.error else None}}
    if step.excluded:
        update["excluded"] = {key: [*state.get("excluded", {}).get(key, []), *step.excluded]}
    if step.output is not None:
        update["comms"] = {key: {"assets": step.output["assets"], "agent": step.agent}}
        # QA of this item now, while other drafts are out; the merge gate reuses it
        qa.item_checks(state["request"], key, step.output["assets"], state.get("link"))
    update["transitions"] = [transition(ctx, "communications",
                                        "failed" if step.error else "drafted", agent=step.agent,
                                        stage=stage, attempt=attempt,
                                        reason=key + (f": {step.error}" if step.error else ""))]
    return with_handovers(ctx, state, step, update, node="communications")


def _tasks_of(state: Any, *stages: str) -> list[dict[str, Any]]:
    """Only the tasks a stage owns: smaller, cache-friendlier model inputs."""
    return [t for t in state.get("tasks", []) if t["stage"] in stages]


def _open_checks(state: Any) -> dict[str, list[dict[str, Any]]]:
    """Failed or waived QA checks per stage (go-live needs those, not every pass)."""
    return {stage: [c for c in result.get("checks", []) if not c["passed"]]
            for stage, result in state.get("qa", {}).items()}


enablement = stage_node("enablement",
                        lambda s: {"request": s["request"], "charter": s.get("charter"),
                                   "tasks": _tasks_of(s, "enablement", "partner-kit")})
go_live = stage_node("go-live",
                     lambda s: {"request": s["request"], "qa": _open_checks(s),
                                "tasks": _tasks_of(s, "go-live", "post-launch-support")})
_partner_workflows = stage_node(
    "partner-workflows", lambda s: {"request": s["request"], "approvals": s.get("approvals", {})})


def stage_node_at(node: str) -> Any:
    """The node of a stage with no logic of its own: the request, the charter, its tasks."""
    (stage,) = [s for s in stages_at(node) if s.in_plan]
    return stage_node(stage.id, lambda s: {"request": s["request"], "charter": s.get("charter"),
                                           "tasks": _tasks_of(s, stage.id)})


def merge_gate(state: LaunchState, runtime: Runtime[RunContext]) -> Update:
    """Join of communications and enablement: content QA over everything drafted."""
    ctx = context_of(runtime)
    stage = "communications"
    attempt = state.get("attempts", {}).get(stage, 1)
    req = state["request"]
    links = {f"{link['channel']}:{link['segment']}": link["url"]
             for link in state.get("tooling", {}).get("tracking_links", [])}
    checks = qa.content_checks(req, state.get("comms", {}), links)
    errors = {k: v for k, v in state.get("failures", {}).items()
              if v and (k in SHARED_KEYS or ":" in k)}
    if not state.get("enablement"):
        errors["enablement"] = state.get("failures", {}).get("enablement") or ["no enablement"]
    failed = blocking(checks, state)
    notes = [f"{c['id']} {c['target']}: {c['detail']}" for c in failed]
    notes += [f"{k}: {'; '.join(v)}" for k, v in errors.items()]
    update: Update = {"qa": {stage: {"passed": not notes, "attempt": attempt, "checks": checks}}}
    update.update(bookkeeping(stage, Step(), state, attempt, notes))
    if notes:
        retry_keys = sorted({c["target"] for c in failed} | set(errors))
        update["qa"][stage]["retry_keys"] = retry_keys
        bad_channels = sorted({k.split(":")[0] for k in retry_keys if ":" in k})
        if "escalation" in update and bad_channels:
            update["escalation"]["failing_channel"] = bad_channels[0]
    event = {"ok": "merged", "retry": "qa_failed", "escalate": "escalated"}[
        update["outcome"][stage]]
    update["transitions"] = [transition(ctx, "merge_gate", event, stage=stage,
                                        attempt=attempt, reason="; ".join(notes))]
    return update


def partner_ops(state: LaunchState, runtime: Runtime[RunContext]) -> Update:
    """Partner workflows and the approval package (partner-ops skill)."""
    update: Update = _partner_workflows(state, runtime)
    if "reassignment" in update:
        return update
    req = state["request"]
    deadline = calendar_for(req).add_business_days(dt.date.fromisoformat(req["launch_date"]),
                                 -int(req.get("approval_lead_days", 5))).isoformat()
    approvals: dict[str, Any] = {}
    for name in req["approvers"]:
        current = state.get("approvals", {}).get(name)
        if current is None:
            approvals[name] = {"approver": name, "deadline": deadline, "status": "pending",
                               "decided_at": None, "note": None, "history": []}
        elif current["status"] in ("rejected", "pending"):
            # re-open a rejected package; a postponed launch moves open deadlines with it
            approvals[name] = {**current, "status": "pending", "decided_at": None,
                               "deadline": max(current["deadline"], deadline)}
    if approvals:
        update["approvals"] = approvals
    return update
