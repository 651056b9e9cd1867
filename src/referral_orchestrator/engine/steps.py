"""One agent step and its bookkeeping: who does the work, the call, the outcome it records.

:func:`run_agent` assigns a stage to its owner or a substitute (the roster), runs it once
through the run context's runner and returns a :class:`Step`; :func:`bookkeeping` turns the
step into the outcome, attempts, failures and escalation every node records; :func:`reassign`
is the small node that writes a substitution as its own transition. Nodes (``nodes``) and the
people-in-the-loop gates (``gates``) are built from these.
"""

from __future__ import annotations

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
from referral_orchestrator.launch.stages import STAGE_OUTPUTS, StageId
from referral_orchestrator.runners import AgentCall, Usage

from .roster import Assignment, NoSubstitute, roster_from_overrides
from .state import DraftState, LaunchState, RunContext, attempts_allowed

Update = dict[str, Any]


def context_of(runtime: Runtime[RunContext] | None) -> RunContext:
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
        if ctx.on_call is not None:
            ctx.on_call()
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
    return handovers(context_of(runtime), state, [state["reassignment"] or {}], node="reassign")


def asked_for_substitute(ctx: RunContext, step: Step, *, node: str, stage: str,
                         attempt: int, outcome_key: str = "") -> Update:
    """A stage whose agent cannot work: outcome ``reassign``, not an attempt spent."""
    handover = step.reassign or {}
    return {"outcome": {outcome_key or stage: "reassign"}, "reassignment": handover,
            "usage": step.usage,  # an agent that dropped out mid-call may still have billed
            "transitions": [transition(ctx, node, "unavailable", agent=handover["from"],
                                       stage=stage, attempt=attempt, reason=handover["why"])]}


def bookkeeping(stage: str, step: Step, state: LaunchState, attempt: int,
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


def event_of(update: Update, stage: str) -> str:
    return {"ok": "completed", "retry": "failed", "escalate": "escalated"}[
        update["outcome"][stage]]


def with_handovers(ctx: RunContext, state: LaunchState | DraftState, step: Step,
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
