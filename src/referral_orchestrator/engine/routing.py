"""Pure routing: state in, next node out. No I/O, no model, no clock.

Each function reads the outcome a node recorded (``ok``, ``retry``, ``escalate``, ...)
and the ladder's decision, and returns a node id (or the ``Send`` fan-out of the drafts).
"""

from __future__ import annotations

from typing import Any, Literal

from langgraph.types import Send

from .state import LaunchState

Rerun = Literal["checklist", "tooling_qa", "partner_ops", "approval_gate", "go_live"]
# Work items beside channel x segment: the partner kit (partner-manager) and the shared
# landing page every tracking link lands on (lifecycle-ops).
SHARED_KEYS = {"partner-kit": "partners", "landing-page": "all visitors"}


def work_keys(state: LaunchState) -> list[str]:
    """Every communications work item: channel x segment, plus the shared assets."""
    req = state["request"]
    return [f"{c}:{s}" for c in req["channels"] for s in req["audience"]] + list(SHARED_KEYS)


def dispatch_drafts(state: LaunchState, only: list[str] | None = None) -> list[Send]:
    """Fan the drafts out with ``Send`` (and enablement, in the diamond)."""
    keys = work_keys(state) if only is None else [k for k in work_keys(state) if k in only]
    failures = state.get("failures", {})
    general = [n for n in failures.get("communications") or [] if "rejected" in n]
    links = {f"{link['channel']}:{link['segment']}": link["url"]
             for link in state.get("tooling", {}).get("tracking_links", [])}
    attempt = state.get("attempts", {}).get("communications", 0) + 1
    sends = []
    for key in keys:
        channel, _, segment = key.partition(":")
        notes = [n for n in failures.get("communications") or [] if key in n]
        payload: dict[str, Any] = {
            "request": state["request"], "charter": state.get("charter"),
            "landing_url": state["landing_url"], "key": key, "channel": channel,
            "segment": segment or SHARED_KEYS[key], "link": links.get(key, ""),
            "attempt": attempt,
            "feedback": [*(failures.get(key) or []), *notes, *general],
            "roster": state.get("roster"), "excluded": state.get("excluded", {}),
        }
        sends.append(Send("communications", payload))
    wants_enablement = not state.get("enablement") or bool(failures.get("enablement"))
    if wants_enablement and (only is None or "enablement" in only):
        diamond = state["request"]["pattern"] == "diamond"
        if diamond or not sends:
            sends.append(Send("enablement", dict(state)))
    return sends


def _outcome(state: LaunchState, stage: str) -> str:
    return state.get("outcome", {}).get(stage, "ok")


def after_checklist(state: LaunchState) -> Literal["tooling_qa", "checklist",
                                                   "referral_architect"]:
    """Checklist done -> tooling; failed -> retry; exhausted -> ladder."""
    return {"ok": "tooling_qa", "retry": "checklist"}.get(  # type: ignore[return-value]
        _outcome(state, "checklist"), "referral_architect")


def after_tooling(state: LaunchState) -> Literal["tooling_qa", "referral_architect"] | list[Send]:
    """QA passed -> fan out the drafts; failed -> retry with feedback; exhausted -> ladder."""
    outcome = _outcome(state, "tooling-qa")
    if outcome == "ok":
        return dispatch_drafts(state)
    return "tooling_qa" if outcome == "retry" else "referral_architect"


def after_communications(state: LaunchState) -> Literal["merge_gate", "enablement"]:
    """Diamond: straight to the merge gate. Pipeline: enablement first, if it is not done."""
    needs = not state.get("enablement") or bool(state.get("failures", {}).get("enablement"))
    if state["request"]["pattern"] == "pipeline" and needs:
        return "enablement"
    return "merge_gate"


def after_merge(state: LaunchState) -> Literal["partner_ops", "referral_architect"] | list[Send]:
    """Everything drafted and QA'd -> partner ops; else re-draft only what failed."""
    outcome = _outcome(state, "communications")
    if outcome in ("ok", "waived"):
        return "partner_ops"
    if outcome == "retry":
        return dispatch_drafts(state, only=state["qa"]["communications"].get("retry_keys"))
    return "referral_architect"


def after_partner_ops(state: LaunchState) -> Literal["approval_gate", "go_live", "partner_ops",
                                                     "referral_architect"]:
    """Approvers named -> the approval gate; none -> go-live."""
    outcome = _outcome(state, "partner-workflows")
    if outcome == "ok":
        return "approval_gate" if state["request"]["approvers"] else "go_live"
    return "partner_ops" if outcome == "retry" else "referral_architect"


def after_approval(state: LaunchState) -> Literal["approval_gate", "go_live",
                                                  "referral_architect"] | list[Send]:
    """All approved -> go-live; more to decide -> wait again; rejected -> rework the kit."""
    outcome = _outcome(state, "approval")
    if outcome == "rework":
        return dispatch_drafts(state)
    return {"ok": "go_live", "pending": "approval_gate"}.get(  # type: ignore[return-value]
        outcome, "referral_architect")


def after_go_live(state: LaunchState) -> Literal["go_live", "referral_architect", "__end__"]:
    """Launched -> end; failed -> retry; exhausted -> ladder."""
    return {"ok": "__end__", "retry": "go_live"}.get(  # type: ignore[return-value]
        _outcome(state, "go-live"), "referral_architect")


def rerun(state: LaunchState, stage: str, trigger: str = "") -> Rerun | list[Send]:
    """The node that re-runs ``stage`` (a rejected package is re-drafted, not re-asked)."""
    if stage in ("communications", "enablement", "partner-kit") or (
            stage == "approval" and trigger == "rejections_exhausted"):
        return dispatch_drafts(state)
    return {"checklist": "checklist", "tooling-qa": "tooling_qa",  # type: ignore[return-value]
            "partner-workflows": "partner_ops", "approval": "approval_gate",
            "go-live": "go_live"}[stage]


def next_after(state: LaunchState, stage: str) -> Rerun | Literal["__end__"] | list[Send]:
    """The node that follows ``stage`` when the sponsor says proceed."""
    if stage == "tooling-qa":
        return dispatch_drafts(state)
    if stage == "partner-workflows":
        return "approval_gate" if state["request"]["approvers"] else "go_live"
    return {"checklist": "tooling_qa", "communications": "partner_ops",  # type: ignore[return-value]
            "enablement": "partner_ops", "approval": "go_live", "go-live": "__end__"}[stage]


def after_architect(state: LaunchState) -> Rerun | Literal["exec_sponsor"] | list[Send]:
    """Rung 2 remediated -> re-run the stage once; nothing safe -> rung 3."""
    ladder = _outcome(state, "ladder")
    last = (state.get("remediations") or [{}])[-1]
    if ladder == "rerun":
        return rerun(state, last.get("stage", ""), last.get("trigger", ""))
    return "checklist" if ladder == "replan" else "exec_sponsor"


def after_sponsor(state: LaunchState) -> Rerun | Literal["__end__"] | list[Send]:
    """The person's decision: halt ends the run; the others continue it."""
    decision = state.get("decision") or {}
    ladder, stage = _outcome(state, "ladder"), decision.get("stage", "")
    if ladder == "halt":
        return "__end__"
    if ladder == "proceed":
        return next_after(state, stage)
    return "checklist" if ladder == "replan" else rerun(state, stage, decision.get("trigger", ""))
