"""The graph's nodes: each does one stage's work through the runner and reports an outcome.

A node never decides who works next - it records ``outcome[stage]`` (``ok``, ``retry``,
``reassign``, ``escalate``, ...) and the pure functions in ``routing`` turn that into the
next node. Every node returns exactly one ``transitions`` record of its own, plus one per
handover a fanned-out item made in place (see :func:`run_agent`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.config import get_config
from langgraph.runtime import Runtime
from pydantic import BaseModel, ValidationError

from referral_orchestrator.errors import (
    AgentError,
    AgentUnavailable,
    BudgetExceeded,
    InvalidAgentOutput,
)
from referral_orchestrator.launch import qa
from referral_orchestrator.launch.schedule import calendar_for, full_lead_launch, schedule
from referral_orchestrator.launch.stages import STAGE, STAGE_OUTPUTS, StageId, stages_at
from referral_orchestrator.runners import AgentCall, Usage

from .roster import Assignment, NoSubstitute, roster_from_overrides
from .routing import SHARED_KEYS
from .state import DraftState, LaunchState, RunContext, attempts_allowed

Update = dict[str, Any]


def _ctx(runtime: Runtime[RunContext] | None) -> RunContext:
    ctx = getattr(runtime, "context", None)
    if isinstance(ctx, RunContext):
        return ctx
    if isinstance(ctx, dict) and ctx.get("model"):  # a LangGraph server passes plain data
        from referral_orchestrator.runners import resolve_runner

        return RunContext(runner=resolve_runner(ctx["model"]))
    return RunContext()


def transition(ctx: RunContext, node: str, event: str, *, agent: str = "", stage: str = "",
               attempt: int = 0, reason: str = "", suffix: str = "") -> Update:
    """The node's transition record, keyed by LangGraph step and task so replays dedupe.

    ``suffix`` tells apart a second record of the same task (a handover inside a fan-out).
    """
    meta = get_config().get("metadata", {}) or {}
    key = f"{meta.get('langgraph_step', 0)}:{meta.get('langgraph_checkpoint_ns', node)}"
    return {"key": key + (f":{suffix}" if suffix else ""), "node": node, "event": event,
            "agent": agent, "stage": stage, "attempt": attempt, "reason": reason,
            "at": ctx.clock().isoformat()}


@dataclass
class Step:
    """Result of one agent step, with the handovers and usage it caused."""

    output: dict[str, Any] | None = None
    agent: str = ""
    error: str = ""
    escalate: str = ""  # trigger that skips the retry budget (e.g. budget_exceeded)
    reassign: dict[str, Any] | None = None  # handover the reassign node must make first
    handovers: list[dict[str, Any]] = field(default_factory=list)  # made in place
    excluded: list[str] = field(default_factory=list)  # unavailable, and no one took over
    usage: list[dict[str, Any]] = field(default_factory=list)


def _handover(assignment: Assignment, *, node: str, holder: str, attempt: int,
              unavailable: str, why: str, excluded: list[str]) -> dict[str, Any]:
    """What a stage asks of the reassign node: who cannot work, who covers, and why."""
    return {"stage": assignment.stage, "node": node, "holder": holder, "attempt": attempt,
            "from": unavailable or assignment.primary, "to": assignment.agent,
            "covered": assignment.primary, "why": why, "reason": assignment.reason or "",
            "excluded": excluded}


def run_agent(state: LaunchState | DraftState, ctx: RunContext, stage: StageId,
              inputs: dict[str, Any], *, node: str, attempt: int, feedback: list[str],
              key: str = "", in_place: bool = False) -> Step:
    """Run the stage once with its assigned agent.

    When that agent is unavailable (the roster says so, or it raises ``AgentUnavailable``)
    and a substitute is not yet assigned, the step stops with ``reassign`` set, for the
    reassign node to record the handover; fanned-out work (``in_place``) cannot leave its
    ``Send`` branch, so it hands over on the spot and lists the handover in ``handovers``.
    """
    roster = roster_from_overrides(state.get("roster"))
    holder = key or stage  # a fan-out item is reassigned on its own, not the whole stage
    excluded = set(state.get("excluded", {}).get(holder, []))
    current = state.get("assigned", {}).get(holder)
    step = Step()
    output_type: type[BaseModel] = STAGE_OUTPUTS[stage]
    unavailable, why = "", ""
    failed: list[str] = []  # agents that raised AgentUnavailable since the last handover
    while True:
        try:
            assignment = roster.assign(stage, exclude=frozenset(excluded))
        except NoSubstitute as exc:
            step.error, step.escalate, step.excluded = str(exc), "no_substitute", failed
            return step
        if assignment.substituted and assignment.agent != current:
            handover = _handover(assignment, node=node, holder=holder, attempt=attempt,
                                 unavailable=unavailable,
                                 why=why or roster.why_unavailable(assignment.primary),
                                 excluded=failed)
            if not in_place:
                step.reassign = handover
                return step
            step.handovers.append(handover)
            current, failed = assignment.agent, []
        step.agent = assignment.agent
        call = AgentCall(agent=assignment.agent, stage=stage, output_type=output_type,
                         inputs=inputs, attempt=attempt, feedback=tuple(feedback), key=key)
        try:
            result = ctx.get_runner().run(call)
            _count_usage(step, result.usage, call)
            output = output_type.model_validate(result.output.model_dump())
        except AgentUnavailable as exc:
            _count_usage(step, exc.usage, call)
            excluded.add(assignment.agent)
            failed.append(assignment.agent)
            unavailable, why = assignment.agent, str(exc)
            continue
        except ValidationError as exc:
            step.error = str(InvalidAgentOutput(f"{stage} output invalid: {exc.errors()[0]}"))
            return step
        except BudgetExceeded as exc:  # spending more cannot fix it: straight up the ladder
            _count_usage(step, exc.usage, call)
            step.error, step.escalate = f"{exc.code}: {exc.message}", "budget_exceeded"
            return step
        except AgentError as exc:  # a failed step was still billed: count what it cost
            _count_usage(step, exc.usage, call)
            step.error = f"{exc.code}: {exc.message}"
            return step
        step.output = output.model_dump(mode="json")
        return step


def _count_usage(step: Step, usage: Usage | None, call: AgentCall) -> None:
    """Record billed usage, whether the step succeeded or failed (the budget depends on it)."""
    if usage is not None:
        step.usage.append({**usage.as_dict(), "agent": call.agent, "stage": call.stage,
                           "key": call.key})


def handovers(ctx: RunContext, state: LaunchState | DraftState, made: list[dict[str, Any]], *,
              node: str) -> Update:
    """The records of handovers: a transition each, the substitution, the new assignment.

    The reassign node writes one; a fanned-out item writes those it made in place.
    """
    update: Update = {"transitions": [], "substitutions": [], "assigned": {}, "excluded": {}}
    for i, h in enumerate(made, start=1):
        what = h["stage"] + (f" ({h['holder']})" if h["holder"] != h["stage"] else "")
        update["transitions"].append(transition(
            ctx, node, "reassigned", agent=h["to"], stage=h["stage"], attempt=h["attempt"],
            reason=f"{h['from']} unavailable -> {h['to']} covers {what}: {h['why']}",
            suffix="" if node == "reassign" else f"reassign-{i}"))
        update["substitutions"].append({"stage": h["stage"], "covered": h["covered"],
                                        "substitute": h["to"], "reason": h["reason"],
                                        "at": update["transitions"][-1]["at"]})
        update["assigned"][h["holder"]] = h["to"]
        if h["excluded"]:
            before = update["excluded"].get(h["holder"]) or state.get("excluded", {}).get(
                h["holder"], [])
            update["excluded"][h["holder"]] = [*before, *h["excluded"]]
    return {k: v for k, v in update.items() if v}


def reassign(state: LaunchState, runtime: Runtime[RunContext]) -> Update:
    """Hand a stage over to the substitute its agent's unavailability calls for.

    Pure bookkeeping, no agent call: the stage that found its agent unavailable recorded
    the handover in ``reassignment``; this writes its transition ("lifecycle-ops
    unavailable -> partner-manager covers checklist"), the substitution and the new
    assignment, and routing sends the work back to that stage.
    """
    return handovers(_ctx(runtime), state, [state["reassignment"] or {}], node="reassign")


def asked_for_substitute(ctx: RunContext, step: Step, *, node: str, stage: str,
                         attempt: int, outcome_key: str = "") -> Update:
    """A stage whose agent cannot work: outcome ``reassign``, not an attempt spent."""
    handover = step.reassign or {}
    return {"outcome": {outcome_key or stage: "reassign"}, "reassignment": handover,
            "usage": step.usage,  # an agent that dropped out mid-call may still have billed
            "transitions": [transition(ctx, node, "unavailable", agent=handover["from"],
                                       stage=stage, attempt=attempt, reason=handover["why"])]}


def _bookkeeping(stage: str, step: Step, state: LaunchState, attempt: int,
                 failed_notes: list[str]) -> Update:
    """Outcome, attempts, failures, escalation and logs shared by every agent node."""
    update: Update = {"attempts": {stage: attempt}, "usage": step.usage}
    if step.excluded:
        update["excluded"] = {stage: [*state.get("excluded", {}).get(stage, []), *step.excluded]}
    notes = failed_notes or ([step.error] if step.error else [])
    if not notes:
        update["outcome"] = {stage: "ok"}
        update["failures"] = {stage: None}
        return update
    update["failures"] = {stage: notes}
    if step.escalate or attempt >= attempts_allowed(state, stage):
        trigger = step.escalate or "retries_exhausted"
        update["outcome"] = {stage: "escalate"}
        update["escalation"] = {"stage": stage, "trigger": trigger, "reason": "; ".join(notes),
                                "attempts": attempt}
    else:
        update["outcome"] = {stage: "retry"}
    return update


# A waived check also waives the downstream checks that fail for the same root cause.
WAIVER_COVERS = {"links.params": ("comms.link",), "links.coverage": ("comms.link",)}


def waivable(check_ids: list[str]) -> list[str]:
    """The check ids a sponsor's 'proceed' waives, including their downstream twins."""
    out = list(dict.fromkeys(check_ids))
    for cid in check_ids:
        out += [c for c in WAIVER_COVERS.get(cid, ()) if c not in out]
    return out


def blocking(checks: list[dict[str, Any]], state: Any) -> list[dict[str, Any]]:
    """Failed checks that still block: marks waived ones (the sponsor accepted the risk)."""
    waived = set(state.get("waivers", []))
    out = []
    for check in qa.failing(checks):
        if check["id"] in waived:
            check["waived"] = True
        else:
            out.append(check)
    return out


def _event(update: Update, stage: str) -> str:
    return {"ok": "completed", "retry": "failed", "escalate": "escalated"}[
        update["outcome"][stage]]


def _with_handovers(ctx: RunContext, state: LaunchState | DraftState, step: Step,
                    update: Update, *, node: str) -> Update:
    """Put the handovers a fanned-out item made in place before its own record."""
    if not step.handovers:
        return update
    made = handovers(ctx, state, step.handovers, node=node)
    update["transitions"] = [*made.pop("transitions"), *update["transitions"]]
    excluded = made.pop("excluded", {})
    for holder, agents in update.get("excluded", {}).items():
        excluded[holder] = list(dict.fromkeys([*excluded.get(holder, []), *agents]))
    if excluded:
        update["excluded"] = excluded
    update.update(made)
    return update


def stage_node(stage_id: StageId, inputs_of: Callable[[LaunchState], dict[str, Any]]) -> Any:
    """A node that runs one registry stage and stores its output under its state key."""
    stage = STAGE[stage_id]
    in_place = stage.execution == "parallel"

    def node_fn(state: LaunchState, runtime: Runtime[RunContext]) -> Update:
        ctx = _ctx(runtime)
        attempt = state.get("attempts", {}).get(stage.id, 0) + 1
        feedback = state.get("failures", {}).get(stage.id) or []
        step = run_agent(state, ctx, stage.id, inputs_of(state), node=stage.node,
                         attempt=attempt, feedback=feedback, in_place=in_place)
        if step.reassign is not None:
            return asked_for_substitute(ctx, step, node=stage.node, stage=stage.id,
                                        attempt=attempt)
        update = _bookkeeping(stage.id, step, state, attempt, [])
        if step.output is not None and stage.state_key is not None:
            update[stage.state_key] = step.output
        update["transitions"] = [transition(ctx, stage.node, _event(update, stage.id),
                                            agent=step.agent, stage=stage.id, attempt=attempt,
                                            reason=step.error)]
        return _with_handovers(ctx, state, step, update, node=stage.node)

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
    ctx = _ctx(runtime)
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
    update.update(_bookkeeping(stage, step, state, attempt, notes))
    update["transitions"] = [transition(ctx, "checklist", _event(update, stage),
                                        agent=step.agent, stage=stage, attempt=attempt,
                                        reason="; ".join(notes) or step.error)]
    return update


def tooling_qa(state: LaunchState, runtime: Runtime[RunContext]) -> Update:
    """Stage 2: forms, tracking, fulfillment, workflows - then the tooling QA checks."""
    ctx = _ctx(runtime)
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
    update.update(_bookkeeping(stage, step, state, attempt, notes))
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
    ctx = _ctx(runtime)
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
    update["transitions"] = [transition(ctx, "communications",
                                        "failed" if step.error else "drafted", agent=step.agent,
                                        stage=stage, attempt=attempt,
                                        reason=key + (f": {step.error}" if step.error else ""))]
    return _with_handovers(ctx, state, step, update, node="communications")


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
    ctx = _ctx(runtime)
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
    update.update(_bookkeeping(stage, Step(), state, attempt, notes))
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
