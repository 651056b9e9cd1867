"""People in the loop: the approval gate and the escalation ladder's upper rungs.

``approval_gate`` and ``exec_sponsor`` pause the run with LangGraph ``interrupt`` in
LangChain's human-in-the-loop shape (``hitl``); the CLI, a LangGraph UI or any host resumes
them with ``Command(resume=...)``. ``referral_architect`` is
rung 2: it writes a remediation and may re-run the stuck stage once.
"""

from __future__ import annotations

import datetime as dt

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from referral_orchestrator.launch.schedule import calendar_for

from . import hitl
from .state import LaunchState, RunContext, attempts_allowed
from .steps import Update, asked_for_substitute, context_of, run_agent, transition, waivable

DECISIONS = hitl.SPONSOR_DECISIONS


def descope(state: LaunchState, channel: str, *, by: str, reason: str, at: str) -> Update:
    """Drop a channel: new request, its drafts removed, its tasks marked descoped."""
    req = state["request"]
    if channel not in req["channels"] or len(req["channels"]) < 2:
        return {}
    channels = [c for c in req["channels"] if c != channel]
    tasks = [{**t, "status": "descoped"} if t["id"] == f"creative-{channel}" else t
             for t in state.get("tasks", [])]
    return {
        "request": {**req, "channels": channels},
        "tasks": tasks,
        "comms": {k: None for k in state.get("comms", {}) if k.startswith(channel + ":")},
        "changes": [{"what": "channels", "before": req["channels"], "after": channels,
                     "by": by, "reason": reason, "at": at}],
    }


def postpone(state: LaunchState, new_date: str, *, by: str, reason: str, at: str) -> Update:
    """Move the launch date; the checklist re-plans every due date from it."""
    req = state["request"]
    return {
        "request": {**req, "launch_date": new_date},
        "changes": [{"what": "launch_date", "before": req["launch_date"], "after": new_date,
                     "by": by, "reason": reason, "at": at}],
    }


def approval_gate(state: LaunchState, runtime: Runtime[RunContext]) -> Update:
    """Wait for decisions until every approver has approved (see ``hitl`` for the answers)."""
    ctx = context_of(runtime)
    approvals = state.get("approvals", {})
    pending = [a for a in approvals.values() if a["status"] == "pending"]
    rejected = [a["approver"] for a in approvals.values() if a["status"] == "rejected"]
    if not pending and rejected:  # never pass a rejected package: rework it first
        return {"outcome": {"approval": "rework"}, "transitions": [transition(
            ctx, "approval_gate", "rework", stage="approval",
            reason="rejected by " + ", ".join(rejected))]}
    if not pending:
        return {"outcome": {"approval": "ok"}, "transitions": [transition(
            ctx, "approval_gate", "approved", stage="approval",
            reason="all approvers approved")]}
    # The answer is validated before LangGraph stores it: a malformed one is refused and
    # the question stays open (a stored bad answer would be replayed on every re-run).
    answer = interrupt(hitl.approval_request(dict(state), pending),
                       response_schema=hitl.approval_schema([a["approver"] for a in pending]))
    now = ctx.clock().isoformat()
    if isinstance(answer, hitl.Slipped):
        slipped = answer.approvers
        reason = ", ".join(f"{a} (due {approvals[a]['deadline']})" for a in slipped)
        return {
            "approvals": {a: {**approvals[a], "slipped": True} for a in slipped},
            "outcome": {"approval": "escalate"},
            "escalation": {"stage": "approval", "trigger": "approval_slipped",
                           "reason": f"approval not decided by its deadline: {reason}",
                           "approvers": slipped, "attempts": 0},
            "transitions": [transition(ctx, "approval_gate", "approval_slipped",
                                       stage="approval", reason=reason)],
        }
    verdicts: list[hitl.Verdict] = answer
    update: Update = {"approvals": {}, "transitions": []}
    for i, v in enumerate(verdicts):
        by = v.by or v.approver
        update["approvals"][v.approver] = {
            **approvals[v.approver], "status": "approved" if v.decision == "approve"
            else "rejected", "decided_at": now, "note": v.note, "by": by,
            **({"identity": v.identity} if v.identity else {}),
            "history": [*approvals[v.approver].get("history", []),
                        {"decision": v.decision, "note": v.note, "at": now,
                         **({"identity": v.identity} if v.identity else {})}]}
        update["transitions"].append(transition(
            ctx, "approval_gate", "approved" if v.decision == "approve" else "rejected",
            agent=v.approver, stage="approval", reason=v.note or "",
            suffix=f"decision-{i + 1}" if i else ""))
    rejections = [v for v in verdicts if v.decision == "reject"]
    if not rejections:
        left = len(pending) - len(verdicts)
        update["outcome"] = {"approval": "pending" if left else "ok"}
        return update
    # one rework round, however many approvers sent the package back in this answer
    attempt = state.get("attempts", {}).get("approval", 0) + 1
    update["attempts"] = {"approval": attempt}
    notes = [f"{v.approver} rejected the launch package: {v.note or 'no note given'}"
             for v in rejections]
    update["failures"] = {"communications": notes, "approval": notes}
    update["changes"] = [{"what": "comms kit", "before": "submitted for approval",
                          "after": "rework requested", "by": v.by or v.approver,
                          "reason": v.note or "rejected", "at": now} for v in rejections]
    if attempt >= attempts_allowed(state, "approval"):
        update["outcome"] = {"approval": "escalate"}
        update["escalation"] = {"stage": "approval", "trigger": "rejections_exhausted",
                                "reason": "; ".join(notes), "attempts": attempt}
    else:
        update["outcome"] = {"approval": "rework"}
    return update


def referral_architect(state: LaunchState, runtime: Runtime[RunContext]) -> Update:
    """Rung 2: propose a remediation and re-run the stuck stage once."""
    ctx = context_of(runtime)
    esc = dict(state.get("escalation") or {})
    stage, now = esc.get("stage", "unknown"), ctx.clock().isoformat()
    used = any(r.get("rung") == 2 and r.get("stage") == stage
               for r in state.get("remediations", []))
    log = {"rung": 2, "agent": "referral-architect", **esc, "at": now}
    if used:
        return {"outcome": {"ladder": "sponsor"},
                "escalations": [{**log, "result": "already re-ran once; to exec sponsor"}],
                "transitions": [transition(ctx, "referral_architect", "escalated",
                                           agent="referral-architect", stage=stage,
                                           reason="rung 2 already used for this stage")]}
    inputs = {"request": state["request"], "stage": stage, "reason": esc.get("reason", ""),
              "trigger": esc.get("trigger", ""),
              "failing_channel": esc.get("failing_channel"), "failures": state.get("failures")}
    step = run_agent(state, ctx, "remediation", inputs, node="referral_architect", attempt=1,
                     feedback=[])
    if step.reassign is not None:
        return asked_for_substitute(ctx, step, node="referral_architect", stage=stage,
                                    attempt=1, outcome_key="ladder")
    if step.output is None or not step.output["rerun"]:
        why = step.error or (step.output or {}).get("summary", "no remediation")
        return {"outcome": {"ladder": "sponsor"}, "usage": step.usage,
                "escalations": [{**log, "result": f"no safe remediation: {why}"}],
                "transitions": [transition(ctx, "referral_architect", "escalated",
                                           agent=step.agent, stage=stage, reason=why)]}
    rem = step.output
    update: Update = {"outcome": {"ladder": "rerun"}, "usage": step.usage,
                      "budget": {stage: state.get("budget", {}).get(stage, 0) + 1}}
    if rem["action"] == "descope_channel" and rem.get("channel"):
        update.update(descope(state, rem["channel"], by="referral-architect",
                              reason=rem["summary"], at=now))
    elif rem["action"] == "move_date" and rem.get("new_launch_date"):
        update.update(postpone(state, rem["new_launch_date"], by="referral-architect",
                               reason=rem["summary"], at=now))
        update["outcome"] = {"ladder": "replan"}
    if stage == "approval":
        cal = calendar_for(state["request"])
        extended = {a: {**state["approvals"][a], "slipped": False,
                        "deadline": cal.add_business_days(dt.date.fromisoformat(
                            state["approvals"][a]["deadline"]), 2).isoformat()}
                    for a in esc.get("approvers", [])}
        update["approvals"] = extended
    update["remediations"] = [{"rung": 2, "by": "referral-architect", "stage": stage,
                               "trigger": esc.get("trigger", ""), "action": rem["action"],
                               "summary": rem["summary"], "at": now}]
    update["escalations"] = [{**log, "result": rem["summary"]}]
    update["escalation"] = None
    update["transitions"] = [transition(ctx, "referral_architect", "remediated",
                                        agent=step.agent, stage=stage, reason=rem["summary"])]
    return update


def exec_sponsor(state: LaunchState, runtime: Runtime[RunContext]) -> Update:
    """Rung 3: a person decides - proceed, descope, postpone, or halt (the rip-cord)."""
    ctx = context_of(runtime)
    esc = dict(state.get("escalation") or {})
    stage = esc.get("stage", "unknown")
    answer: hitl.SponsorDecision = interrupt(
        hitl.sponsor_request(dict(state), esc),
        response_schema=hitl.sponsor_schema(state["request"]))
    decision, note = answer.decision, answer.note or ""
    by, now = answer.by or "exec-sponsor", ctx.clock().isoformat()
    update: Update = {
        "decision": {"decision": decision, "stage": stage, "trigger": esc.get("trigger", ""),
                     "by": by, "note": note, "at": now,
                     **({"identity": answer.identity} if answer.identity else {})},
        "escalations": [{"rung": 3, "agent": "exec-sponsor", **esc, "at": now,
                         "result": f"{decision} decided by {by}"}],
        "remediations": [{"rung": 3, "by": by, "stage": stage, "action": decision,
                          "summary": note or f"exec sponsor decided to {decision}", "at": now,
                          **({"identity": answer.identity} if answer.identity else {})}],
        "escalation": None,
    }
    if decision == "halt":
        update.update(status="halted", outcome={"ladder": "halt"})
    elif decision == "proceed":
        update["outcome"] = {"ladder": "proceed", stage: "waived"}
        failed = [c["id"] for c in state.get("qa", {}).get(stage, {}).get("checks", [])
                  if not c["passed"]]
        update["waivers"] = waivable(failed)
    elif decision == "descope":
        assert answer.channel is not None  # checked by the response schema
        update.update(descope(state, answer.channel, by=by, reason=note or "descoped",
                              at=now))
        update["outcome"] = {"ladder": "rerun"}
        update["budget"] = {stage: state.get("budget", {}).get(stage, 0) + 1}
    else:
        assert answer.launch_date is not None  # checked by the response schema
        update.update(postpone(state, answer.launch_date, by=by,
                               reason=note or "postponed", at=now))
        update["outcome"] = {"ladder": "replan"}
        update["budget"] = {stage: state.get("budget", {}).get(stage, 0) + 1}
    update["transitions"] = [transition(ctx, "exec_sponsor", f"decision_{decision}",
                                        agent="exec-sponsor", stage=stage, reason=note)]
    return update
