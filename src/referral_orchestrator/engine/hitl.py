"""What the gates ask people, and the answers they take, in LangChain's human-in-the-loop shape.

The approval gate and the exec sponsor interrupt with the ``HITLRequest`` of LangChain's
human-in-the-loop middleware (``langchain.agents.middleware``): ``action_requests`` (name,
args, description) and ``review_configs`` (action name, allowed decisions), one pair per
pending decision - one per pending approver, in order; one for the sponsor. The keys the
CLI, ``status`` and the MCP server read (``type``, ``pending``, the escalation's ``stage``,
``reason``, ...) sit beside them; LangGraph UIs read only the two lists.

Answers (``Command(resume=...)``), all validated by ``interrupt(..., response_schema=...)``
before LangGraph stores them - a malformed one raises a ``ValidationError`` of type
``invalid_resume`` and the interrupt stays open for a correct answer:

- LangChain HITL decisions, ``{"decisions": [...]}``, in the order of ``action_requests``
  (fewer is fine: a UI answering only the first request decides for the first approver).
  Approval: ``approve``, or ``reject`` with a ``message`` (the rework note). Exec sponsor:
  ``approve`` = proceed, ``reject`` = halt (the message is the reason), ``edit`` with
  ``edited_action.args`` ``{"decision": "postpone", "launch_date": ...}`` or
  ``{"decision": "descope", "channel": ...}``.
- Agent Inbox ``HumanResponse`` values (``langgraph.prebuilt.interrupt``), alone or in a list:
  ``accept`` = approve, ``response`` (text) = reject with that text, ``edit`` = edit.
- The project's own values: ``{"type": "approval", "approver", "decision", "note", "by"}``
  and the sponsor's ``{"decision", "channel" | "launch_date", "note", "by"}``; ``status``
  sends ``{"type": "deadline", "slipped": [...]}`` when an approval is overdue.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Annotated, Any, Literal, NoReturn, NotRequired

from pydantic import Discriminator, PlainValidator, TypeAdapter, ValidationError
from pydantic_core import PydanticCustomError
from typing_extensions import TypedDict

from referral_orchestrator.errors import InvalidRequest
from referral_orchestrator.launch.channels import normalize_channel

APPROVAL_ACTION = "approve_launch_package"
SPONSOR_ACTION = "escalation_decision"
SPONSOR_DECISIONS = ("proceed", "descope", "postpone", "halt")
REASON_SHOWN = 160
Allowed = Literal["approve", "edit", "reject", "respond"]

# -- the request (interrupt value) -------------------------------------------------------


class ActionRequest(TypedDict):
    """One decision a person must make (LangChain's ``ActionRequest``)."""

    name: str
    args: dict[str, Any]
    description: str


class ReviewConfig(TypedDict):
    """What the person may answer to an action (LangChain's ``ReviewConfig``)."""

    action_name: str
    allowed_decisions: list[Allowed]


# -- the answers (resume values) ---------------------------------------------------------


class Approve(TypedDict):
    """HITL ``approve``."""

    type: Literal["approve"]


class Reject(TypedDict):
    """HITL ``reject``; ``message`` says why (the rework note, or the halt's reason)."""

    type: Literal["reject"]
    message: NotRequired[str]


class Action(TypedDict):
    """An action as edited by the person."""

    name: str
    args: dict[str, Any]


class Edit(TypedDict):
    """HITL ``edit``: the exec sponsor's postponement or descope."""

    type: Literal["edit"]
    edited_action: Action


class Respond(TypedDict):
    """HITL ``respond`` (listed so it is refused by name: no gate allows it)."""

    type: Literal["respond"]
    message: str


Decision = Annotated[Approve | Reject | Edit | Respond, Discriminator("type")]


class HITLResponse(TypedDict):
    """LangChain's answer to a ``HITLRequest``: one decision per action request, in order."""

    decisions: list[Decision]


class InboxAction(TypedDict):
    """Agent Inbox's edited action."""

    action: str
    args: dict[str, Any]


class HumanResponse(TypedDict):
    """Agent Inbox's answer (``langgraph.prebuilt.interrupt.HumanResponse``, deprecated)."""

    type: Literal["accept", "ignore", "response", "edit"]
    args: str | InboxAction | None


class Identity(TypedDict):
    """Who decided, as the store established it (``Store.identity``)."""

    name: str
    source: str
    self_asserted: bool


class ApprovalValue(TypedDict):
    """The project's own approval answer (what the CLI and the MCP server send)."""

    type: Literal["approval"]
    approver: str
    decision: Literal["approve", "reject"]
    note: NotRequired[str | None]
    by: NotRequired[str | None]
    identity: NotRequired[Identity | None]


class DeadlineNotice(TypedDict):
    """Sent by ``status`` when pending approvals are past their deadline."""

    type: Literal["deadline"]
    slipped: list[str]
    today: NotRequired[str]


class SponsorValue(TypedDict):
    """The project's own exec-sponsor answer (also the args of an ``edit``)."""

    decision: Literal["proceed", "descope", "postpone", "halt"]
    channel: NotRequired[str | None]
    launch_date: NotRequired[str | None]
    note: NotRequired[str | None]
    by: NotRequired[str | None]
    identity: NotRequired[Identity | None]


ApprovalAnswer = HITLResponse | list[HumanResponse] | HumanResponse | ApprovalValue | DeadlineNotice
SponsorAnswer = HITLResponse | list[HumanResponse] | HumanResponse | SponsorValue

_HITL = TypeAdapter(HITLResponse)
_INBOX = TypeAdapter(list[HumanResponse])
_APPROVAL = TypeAdapter(ApprovalValue)
_DEADLINE = TypeAdapter(DeadlineNotice)
_SPONSOR = TypeAdapter(SponsorValue)


@dataclass(frozen=True)
class Verdict:
    """One approver's decision, whatever shape it came in."""

    approver: str
    decision: Literal["approve", "reject"]
    note: str | None = None
    by: str | None = None
    identity: dict[str, Any] | None = None


@dataclass(frozen=True)
class Slipped:
    """Approvals past their deadline (from ``status``)."""

    approvers: list[str]


@dataclass(frozen=True)
class SponsorDecision:
    """The exec sponsor's decision, whatever shape it came in."""

    decision: Literal["proceed", "descope", "postpone", "halt"]
    channel: str | None = None
    launch_date: str | None = None
    note: str | None = None
    by: str | None = None
    identity: dict[str, Any] | None = None


def _identity(given: Any) -> dict[str, Any] | None:
    """The identity an answer carries, as plain data (``None`` when it has none)."""
    ident = given.get("identity")
    return dict(ident) if ident else None


def _refuse(why: str) -> NoReturn:
    # One error type clients can test for; `why` goes in the context, so braces stay text.
    raise PydanticCustomError("invalid_resume", "{why}", {"why": why})


def _parse(adapter: TypeAdapter[Any], value: Any, what: str) -> Any:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        err = exc.errors()[0]
        where = ".".join(str(p) for p in err["loc"])
        _refuse(f"{what}: {where + ': ' if where else ''}{err['msg']}")


def _decisions(value: Any) -> list[dict[str, Any]] | None:
    """HITL decisions from a ``HITLResponse`` or Agent Inbox response(s); None if neither."""
    if isinstance(value, dict) and "decisions" in value:
        decisions: list[dict[str, Any]] = _parse(_HITL, value, "HITL response")["decisions"]
        return decisions
    inbox = value if isinstance(value, list) else [value] if (
        isinstance(value, dict) and value.get("type") in ("accept", "ignore", "response", "edit")
    ) else None
    if inbox is None:
        return None
    out: list[dict[str, Any]] = []
    for answer in _parse(_INBOX, inbox, "Agent Inbox response"):
        kind, args = answer["type"], answer["args"]
        if kind == "accept":
            out.append({"type": "approve"})
        elif kind == "response":
            if not isinstance(args, str):
                _refuse("Agent Inbox 'response' needs its text in args")
            out.append({"type": "reject", "message": args})
        elif kind == "edit":
            if not isinstance(args, dict):
                _refuse("Agent Inbox 'edit' needs args {'action': ..., 'args': {...}}")
            out.append({"type": "edit", "edited_action": {"name": args["action"],
                                                          "args": args["args"]}})
        else:
            _refuse("'ignore' is not an answer here: a decision is owed (accept, response, edit)")
    return out


SHAPES = ("{'decisions': [...]} (LangChain HITL), Agent Inbox HumanResponse(s), or ")

# -- the approval gate -------------------------------------------------------------------


def approval_request(state: dict[str, Any], pending: list[dict[str, Any]]) -> dict[str, Any]:
    """The approval gate's interrupt: one action request per pending approver."""
    req = state["request"]
    channels = ", ".join(req["channels"])
    drafts, tasks = len(state.get("comms") or {}), len(state.get("tasks") or [])
    package = (f"the comms kit ({drafts} drafts), the runbook ({tasks} tasks), enablement "
               "and partner workflows")
    actions: list[ActionRequest] = [{
        "name": APPROVAL_ACTION,
        "args": {"approver": a["approver"], "deadline": a["deadline"],
                 "program": req["program"], "launch_date": req["launch_date"],
                 "channels": list(req["channels"])},
        "description": (
            f"{a['approver']}: review the launch package of {req['program']} (launch "
            f"{req['launch_date']} via {channels}): {package}. Decide by {a['deadline']}: "
            "approve it, or reject it with a message saying what to change - the package "
            "is reworked with your message and comes back for approval."),
    } for a in pending]
    configs: list[ReviewConfig] = [{"action_name": APPROVAL_ACTION,
                                    "allowed_decisions": ["approve", "reject"]}
                                   for _ in actions]
    return {"action_requests": actions, "review_configs": configs, "type": "approval",
            "pending": [{"approver": a["approver"], "deadline": a["deadline"]}
                        for a in pending],
            "program": req["program"]}


def approval_schema(pending: list[str]) -> Any:
    """``response_schema`` of the approval gate: any accepted shape, checked against
    ``pending`` (the approvers in the order of the action requests)."""

    def check(value: Any) -> list[Verdict] | Slipped:
        if isinstance(value, dict) and value.get("type") == "deadline":
            notice = _parse(_DEADLINE, value, "deadline notice")
            return Slipped([a for a in notice["slipped"] if a in pending])
        if isinstance(value, dict) and ("approver" in value or value.get("type") == "approval"
                                        or "decision" in value):
            given = _parse(_APPROVAL, {"type": "approval", **value}, "approval")
            name = next((p for p in pending
                         if p.lower() == given["approver"].strip().lower()), None)
            if name is None:
                _refuse(f"{given['approver']!r} has no pending approval: pending are "
                        f"{', '.join(pending)}")
            return [Verdict(name, given["decision"], given.get("note"), given.get("by"),
                            _identity(given))]
        decisions = _decisions(value)
        if decisions is None:
            _refuse("expected " + SHAPES + "{'type': 'approval', 'approver': ..., "
                    "'decision': 'approve' | 'reject', 'note': ..., 'by': ...}")
        if not decisions or len(decisions) > len(pending):
            _refuse(f"{len(decisions)} decisions for {len(pending)} pending approvers "
                    f"({', '.join(pending)}): one per action request, in order")
        verdicts = []
        for name, d in zip(pending, decisions, strict=False):
            if d["type"] == "approve":
                verdicts.append(Verdict(name, "approve", by=d.get("by")))
            elif d["type"] == "reject":
                verdicts.append(Verdict(name, "reject", d.get("message"), d.get("by")))
            else:
                _refuse(f"{name}'s approval takes approve, or reject with a message; "
                        f"not {d['type']}")
        return verdicts

    return Annotated[Any, PlainValidator(check, json_schema_input_type=ApprovalAnswer)]


# -- the exec sponsor --------------------------------------------------------------------


def sponsor_request(state: dict[str, Any], escalation: dict[str, Any]) -> dict[str, Any]:
    """The exec sponsor's interrupt: one action request, proceed unless edited."""
    req = state["request"]
    stage = escalation.get("stage", "unknown")
    edits = [f"postpone (args: decision 'postpone', launch_date YYYY-MM-DD after "
             f"{req['as_of']})"]
    if len(req["channels"]) > 1:
        edits.append("descope a channel (args: decision 'descope', channel one of "
                     f"{', '.join(req['channels'])})")
    reason = escalation.get("reason", "")
    if len(reason) > REASON_SHOWN:  # the whole reason is in args; a card shows the start
        reason = reason[:REASON_SHOWN].rstrip() + "..."
    action: ActionRequest = {
        "name": SPONSOR_ACTION,
        "args": {"decision": "proceed", "stage": stage,
                 "trigger": escalation.get("trigger", ""),
                 "reason": escalation.get("reason", ""), "launch_date": req["launch_date"],
                 "channels": list(req["channels"])},
        "description": (
            f"Exec sponsor: {stage} of {req['program']} is stuck "
            f"({escalation.get('trigger', '')}: {reason}). "
            "Approve to proceed as is (its failed checks are waived); edit to "
            + " or to ".join(edits) + "; reject to halt the launch for good (the rip-cord), "
            "with your message as the reason."),
    }
    config: ReviewConfig = {"action_name": SPONSOR_ACTION,
                            "allowed_decisions": ["approve", "edit", "reject"]}
    return {"action_requests": [action], "review_configs": [config], "type": "escalation",
            "options": list(SPONSOR_DECISIONS), **escalation}


def sponsor_schema(request: dict[str, Any]) -> Any:
    """``response_schema`` of the exec sponsor, checked against the launch ``request``."""

    def check(value: Any) -> SponsorDecision:
        decisions = _decisions(value)
        if decisions is None:
            if not (isinstance(value, dict) and "decision" in value):
                _refuse("expected " + SHAPES + "{'decision': 'proceed' | 'descope' | "
                        "'postpone' | 'halt', 'channel' | 'launch_date': ..., 'note': ...}")
            return _sponsor(_parse(_SPONSOR, value, "decision"), request)
        if len(decisions) != 1:
            _refuse(f"{len(decisions)} decisions for the one exec-sponsor request")
        (d,) = decisions
        if d["type"] == "approve":
            return SponsorDecision("proceed", by=d.get("by"))
        if d["type"] == "reject":
            return SponsorDecision("halt", note=d.get("message"), by=d.get("by"))
        if d["type"] == "respond":
            _refuse("the exec sponsor approves (proceed), edits (postpone, descope) or "
                    "rejects (halt); not respond")
        edited = d["edited_action"]
        args = dict(edited["args"])
        if edited["name"] in SPONSOR_DECISIONS:
            args.setdefault("decision", edited["name"])
        elif edited["name"] != SPONSOR_ACTION:
            _refuse(f"edit names {edited['name']!r}: edit {SPONSOR_ACTION!r}")
        return _sponsor(_parse(_SPONSOR, {k: args.get(k) for k in SponsorValue.__annotations__
                                          if k in args}, "edited decision"), request)

    return Annotated[Any, PlainValidator(check, json_schema_input_type=SponsorAnswer)]


def _sponsor(given: dict[str, Any], request: dict[str, Any]) -> SponsorDecision:
    """Check a descope channel or a postponement date against the launch as it stands."""
    decision = given["decision"]
    channel, new_date = given.get("channel"), given.get("launch_date")
    if decision == "descope":
        if not channel:
            _refuse("descope needs the channel to drop")
        try:
            channel = normalize_channel(channel)
        except InvalidRequest as exc:
            _refuse(exc.message)
        if channel not in request["channels"] or len(request["channels"]) < 2:
            _refuse(f"cannot descope {channel}: the launch channels are "
                    f"{', '.join(request['channels'])} and at least one must remain")
    elif decision == "postpone":
        if not new_date:
            _refuse("postpone needs the new launch_date (YYYY-MM-DD)")
        try:
            day = dt.date.fromisoformat(str(new_date).strip())
        except ValueError:
            _refuse(f"launch_date {new_date!r} is not a date: use YYYY-MM-DD")
        if day <= dt.date.fromisoformat(request["as_of"]) or (
                day.isoformat() == request["launch_date"]):
            _refuse(f"launch_date {day} must be a new date after {request['as_of']}")
        new_date = day.isoformat()
    return SponsorDecision(decision, channel if decision == "descope" else None,
                           new_date if decision == "postpone" else None,
                           given.get("note"), given.get("by"), _identity(given))

