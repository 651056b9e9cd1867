"""Pure routing: state in, next node out. No I/O, no model, no clock.

Each function reads the outcome a node recorded (``ok``, ``retry``, ``reassign``,
``escalate``, ...) and the ladder's decision, and returns a node id (or the ``Send`` fan-out
of the drafts). What follows a stage comes from the stage registry (``launch/stages.py``);
:func:`ends` gives each router's possible targets, which the graph draws.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from langgraph.types import Send

from referral_orchestrator.launch.stages import (
    DRAFT_NODES,
    END,
    PLAN_STAGES,
    STAGE,
    NodeId,
    StageId,
    Target,
    follows,
)

from .state import LaunchState

Route = Target | list[Send]
Router = Callable[[LaunchState], Route]
# Work items beside channel x segment: the partner kit (partner-manager) and the shared
# landing page every tracking link lands on (lifecycle-ops).
SHARED_KEYS = {"partner-kit": "partners", "landing-page": "all visitors"}
# Sequential agent stages: each routes with after(stage) (fanned-out items hand over in
# place, see steps.run_agent; the approval gate is people; the ladder routes itself).
ROUTED_STAGES: tuple[StageId, ...] = tuple(
    s.id for s in PLAN_STAGES if s.execution == "sequential" and s.output is not None)
# Nodes the ladder can send work back to (every stage's node; the drafts fan out).
LADDER_TARGETS: list[str] = list(dict.fromkeys(s.node for s in PLAN_STAGES))
REASSIGN_ENDS: list[str] = [*(STAGE[s].node for s in ROUTED_STAGES), "referral_architect"]


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
            "assigned": state.get("assigned", {}),
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


def _go(state: LaunchState, target: Target) -> Route:
    # The drafts are not one node but a fan-out: every work item (and enablement) at once.
    return dispatch_drafts(state) if target in DRAFT_NODES else target


def next_after(state: LaunchState, stage: StageId) -> Route:
    """The node that follows ``stage`` on ok, or when the sponsor says proceed."""
    return _go(state, follows(stage, approvers=bool(state["request"]["approvers"])))


def rerun(state: LaunchState, stage: StageId, trigger: str = "") -> Route:
    """The node that re-runs ``stage`` (a rejected package is re-drafted, not re-asked)."""
    if stage == "approval" and trigger == "rejections_exhausted":
        return dispatch_drafts(state)
    return _go(state, STAGE[stage].node)


def after_stage(state: LaunchState, stage: StageId) -> Route:
    """A sequential agent stage: ok -> what follows; retry; reassign; else the ladder."""
    outcome = _outcome(state, stage)
    if outcome in ("ok", "waived"):
        return next_after(state, stage)
    if outcome == "retry":
        return STAGE[stage].node
    if outcome == "reassign":
        return "reassign"
    return "referral_architect"


def after(stage: StageId) -> Router:
    """The router of a sequential agent stage's node (named ``after_<slug>``)."""

    def router(state: LaunchState) -> Route:
        return after_stage(state, stage)

    router.__name__ = router.__qualname__ = f"after_{STAGE[stage].slug}"
    return router


def nexts(stage: StageId) -> list[str]:
    """Every node that may follow ``stage`` (with or without approvers; drafts fanned out)."""
    follow = [follows(stage, approvers=True), follows(stage, approvers=False)]
    return list(dict.fromkeys(
        n for t in follow for n in ([*DRAFT_NODES] if t in DRAFT_NODES else [t])))


def ends(stage: StageId) -> list[str]:
    """Every node :func:`after` may route ``stage`` to (the edges the graph draws)."""
    return [*nexts(stage), STAGE[stage].node, "reassign", "referral_architect"]


def after_communications(state: LaunchState) -> Literal["merge_gate", "enablement"]:
    """Diamond: straight to the merge gate. Pipeline: enablement first, if it is not done."""
    needs = not state.get("enablement") or bool(state.get("failures", {}).get("enablement"))
    if state["request"]["pattern"] == "pipeline" and needs:
        return "enablement"
    return "merge_gate"


def after_merge(state: LaunchState) -> Route:
    """Everything drafted and QA'd -> what follows the drafts; else re-draft what failed."""
    outcome = _outcome(state, "communications")
    if outcome in ("ok", "waived"):
        return next_after(state, "communications")
    if outcome == "retry":
        return dispatch_drafts(state, only=state["qa"]["communications"].get("retry_keys"))
    return "referral_architect"


def after_approval(state: LaunchState) -> Route:
    """All approved -> go-live; more to decide -> wait again; rejected -> rework the kit."""
    outcome = _outcome(state, "approval")
    if outcome == "rework":
        return dispatch_drafts(state)
    if outcome == "ok":
        return next_after(state, "approval")
    if outcome == "pending":
        return "approval_gate"
    return "referral_architect"


def after_reassign(state: LaunchState) -> NodeId:
    """A substitute took the stage over: back to the node that asked for the handover."""
    node: NodeId = (state.get("reassignment") or {})["node"]
    return node


def after_architect(state: LaunchState) -> Route:
    """Rung 2 remediated -> re-run the stage once; nothing safe -> rung 3."""
    ladder = _outcome(state, "ladder")
    last = (state.get("remediations") or [{}])[-1]
    if ladder == "rerun":
        return rerun(state, last.get("stage", ""), last.get("trigger", ""))
    if ladder == "replan":
        return "checklist"
    if ladder == "reassign":
        return "reassign"
    return "exec_sponsor"


def after_sponsor(state: LaunchState) -> Route:
    """The person's decision: halt ends the run; the others continue it."""
    decision = state.get("decision") or {}
    ladder, stage = _outcome(state, "ladder"), decision.get("stage", "")
    if ladder == "halt":
        return END
    if ladder == "proceed":
        return next_after(state, stage)
    if ladder == "replan":
        return "checklist"
    return rerun(state, stage, decision.get("trigger", ""))
