"""People in the loop, the LangChain way: the gates' interrupts are ``HITLRequest``s and any
of the answers LangGraph UIs send resumes them (checked against the installed ``langchain``
and ``langgraph`` types, not copies of them).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import pytest
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.errors import is_invalid_resume
from langgraph.types import Command
from pydantic import TypeAdapter, ValidationError

from referral_orchestrator import build_graph
from referral_orchestrator.engine.state import RunContext
from referral_orchestrator.surfaces.hosts import launch_input, server_graph
from referral_orchestrator.testing import ScriptedRunner, fail, stuck_at_sponsor_runner
from support import AS_OF, SEED_REQUEST, FakeClock

hitl = pytest.importorskip("langchain.agents.middleware.human_in_the_loop")
legacy = pytest.importorskip("langgraph.prebuilt.interrupt")

class Thread:
    """One launch on an in-memory checkpointer, driven the way a LangGraph client does."""

    def __init__(self, runner: Any = None, approvers: str | None = "legal,finance") -> None:
        self.graph = build_graph(InMemorySaver())
        self.config: Any = {"configurable": {"thread_id": "t"}}
        self.context = RunContext(runner=runner, clock=FakeClock())
        self.out = self.graph.invoke(launch_input(**SEED_REQUEST, approvers=approvers),
                                     self.config, context=self.context)

    def asked(self) -> dict[str, Any]:
        (question,) = self.graph.get_state(self.config).interrupts
        value: dict[str, Any] = question.value
        return value

    def resume(self, value: Any) -> dict[str, Any]:
        self.out = self.graph.invoke(Command(resume=value), self.config, context=self.context)
        return self.out

    @property
    def values(self) -> dict[str, Any]:
        return dict(self.graph.get_state(self.config).values)

    def done(self) -> bool:
        return not self.graph.get_state(self.config).next


@pytest.fixture
def approval() -> Iterator[Thread]:
    yield Thread()


@pytest.fixture
def sponsor() -> Iterator[Thread]:
    yield Thread(stuck_at_sponsor_runner(), approvers=None)


def _exactly(typed_dict: Any, value: dict[str, Any]) -> None:
    """``value`` validates as ``typed_dict`` and has no key the type does not name."""
    TypeAdapter(typed_dict).validate_python(value, strict=True)
    assert set(value) <= set(typed_dict.__annotations__)


# -- the requests ------------------------------------------------------------------------


def test_approval_interrupt_is_langchains_hitl_request_with_one_action_per_approver(
    approval: Thread,
) -> None:
    asked = approval.asked()
    TypeAdapter(hitl.HITLRequest).validate_python(asked, strict=True)
    actions, configs = asked["action_requests"], asked["review_configs"]
    assert [a["args"]["approver"] for a in actions] == ["legal", "finance"]
    for action, config in zip(actions, configs, strict=True):
        _exactly(hitl.ActionRequest, action)
        _exactly(hitl.ReviewConfig, config)
        assert config["action_name"] == action["name"]
        assert config["allowed_decisions"] == ["approve", "reject"]
        assert set(config["allowed_decisions"]) <= set(get_args(hitl.DecisionType))
        assert action["args"]["deadline"] == "2026-12-03"
        for named in ("Customer Advocates", "comms kit", "runbook", "2026-12-03", "approve",
                      "reject"):
            assert named in action["description"]
    # what the CLI, status and the MCP server read is still there beside it
    assert asked["type"] == "approval"
    assert [p["approver"] for p in asked["pending"]] == ["legal", "finance"]


def test_exec_sponsor_interrupt_allows_approve_edit_and_reject(sponsor: Thread) -> None:
    asked = sponsor.asked()
    TypeAdapter(hitl.HITLRequest).validate_python(asked, strict=True)
    (action,), (config,) = asked["action_requests"], asked["review_configs"]
    _exactly(hitl.ActionRequest, action)
    _exactly(hitl.ReviewConfig, config)
    assert config == {"action_name": action["name"],
                      "allowed_decisions": ["approve", "edit", "reject"]}
    assert action["args"]["decision"] == "proceed"
    for named in ("tooling-qa", "postpone", "descope", "halt", "launch_date", "channel"):
        assert named in action["description"]
    assert asked["type"] == "escalation" and asked["stage"] == "tooling-qa"


# -- answers: LangChain HITL decisions ---------------------------------------------------


def test_hitl_decisions_answer_the_approvers_in_order(approval: Thread) -> None:
    answer = {"decisions": [{"type": "approve"}, {"type": "approve"}]}
    TypeAdapter(hitl.HITLResponse).validate_python(answer, strict=True)
    approval.resume(answer)
    assert approval.done()
    approvals = approval.values["approvals"]
    assert {a: r["status"] for a, r in approvals.items()} == {"legal": "approved",
                                                              "finance": "approved"}
    assert approval.values["transitions"][-1]["node"] == "go_live"


def test_a_ui_answering_only_the_first_request_decides_for_the_first_approver(
    approval: Thread,
) -> None:
    approval.resume({"decisions": [{"type": "approve"}]})
    assert approval.values["approvals"]["legal"]["status"] == "approved"
    assert [a["args"]["approver"] for a in approval.asked()["action_requests"]] == ["finance"]


def test_hitl_reject_with_a_message_is_a_rejection_with_that_note(approval: Thread) -> None:
    answer = {"decisions": [{"type": "reject", "message": "add the tax wording"}]}
    TypeAdapter(hitl.HITLResponse).validate_python(answer, strict=True)
    approval.resume(answer)
    legal = approval.values["approvals"]["legal"]
    assert legal["history"][-1] == {"decision": "reject", "note": "add the tax wording",
                                    "at": legal["history"][-1]["at"]}
    assert approval.values["attempts"]["approval"] == 1
    rework = next(c for c in approval.values["changes"] if c["what"] == "comms kit")
    assert (rework["reason"], rework["by"]) == ("add the tax wording", "legal")


def test_hitl_edit_postpones_or_descopes_for_the_exec_sponsor(sponsor: Thread) -> None:
    name = sponsor.asked()["action_requests"][0]["name"]
    answer = {"decisions": [{"type": "edit", "edited_action": {
        "name": name, "args": {"decision": "descope", "channel": "in-app"}}}]}
    TypeAdapter(hitl.HITLResponse).validate_python(answer, strict=True)
    sponsor.resume(answer)
    assert sponsor.values["request"]["channels"] == ["email"]
    assert sponsor.values["decision"]["decision"] == "descope"


def test_hitl_edit_to_a_new_date_postpones_the_launch(sponsor: Thread) -> None:
    name = sponsor.asked()["action_requests"][0]["name"]
    sponsor.resume({"decisions": [{"type": "edit", "edited_action": {
        "name": name, "args": {"decision": "postpone", "launch_date": "2027-01-14"}}}]})
    assert sponsor.values["request"]["launch_date"] == "2027-01-14"
    assert sponsor.values["decision"]["decision"] == "postpone"


def test_hitl_approve_proceeds_and_reject_halts_for_the_exec_sponsor() -> None:
    go = Thread(stuck_at_sponsor_runner(), approvers=None)
    go.resume({"decisions": [{"type": "approve"}]})
    assert go.values["decision"]["decision"] == "proceed" and go.done()

    stop = Thread(stuck_at_sponsor_runner(), approvers=None)
    stop.resume({"decisions": [{"type": "reject", "message": "vendor outage"}]})
    assert stop.values["status"] == "halted"
    assert stop.values["decision"]["note"] == "vendor outage"


# -- answers: legacy Agent Inbox HumanResponse and the project's own value ---------------


def test_agent_inbox_human_responses_still_answer_the_gate(approval: Thread) -> None:
    accept = [{"type": "accept", "args": None}]
    respond = {"type": "response", "args": "fix the CTA"}
    for value in (accept, respond):
        TypeAdapter(legacy.HumanResponse).validate_python(
            value[0] if isinstance(value, list) else value)
    approval.resume(accept)
    assert approval.values["approvals"]["legal"]["status"] == "approved"
    approval.resume(respond)
    finance = approval.values["approvals"]["finance"]
    assert finance["history"][-1]["decision"] == "reject"
    assert finance["history"][-1]["note"] == "fix the CTA"


def test_agent_inbox_edit_answers_the_exec_sponsor(sponsor: Thread) -> None:
    name = sponsor.asked()["action_requests"][0]["name"]
    value = {"type": "edit", "args": {"action": name, "args": {"decision": "descope",
                                                              "channel": "in_app"}}}
    TypeAdapter(legacy.HumanResponse).validate_python(value)
    sponsor.resume([value])
    assert sponsor.values["request"]["channels"] == ["email"]


def test_the_documented_project_values_still_answer_both_gates(
    approval: Thread, sponsor: Thread,
) -> None:
    approval.resume({"type": "approval", "approver": "finance", "decision": "approve",
                     "note": "ok", "by": "Kim"})
    assert approval.values["approvals"]["finance"]["by"] == "Kim"
    sponsor.resume({"decision": "halt", "note": "not now", "by": "Jordan"})
    assert sponsor.values["status"] == "halted"
    assert sponsor.values["decision"]["by"] == "Jordan"


# -- malformed answers -------------------------------------------------------------------

MALFORMED_APPROVALS = [
    {"decision": "approve"},  # no approver
    {"type": "approval", "approver": "marketing", "decision": "approve"},  # not pending
    {"type": "approval", "approver": "legal", "decision": "maybe"},
    {"decisions": [{"type": "approve"}, {"type": "approve"}, {"type": "approve"}]},  # 3 for 2
    {"decisions": []},
    {"decisions": [{"type": "edit", "edited_action": {"name": "x", "args": {}}}]},
    {"decisions": [{"type": "respond", "message": "hi"}]},
    [{"type": "ignore", "args": None}],
    "approve",
]


@pytest.mark.parametrize("bad", MALFORMED_APPROVALS, ids=repr)
def test_a_malformed_approval_answer_is_refused_and_the_gate_stays_answerable(
    approval: Thread, bad: Any,
) -> None:
    with pytest.raises(ValidationError) as caught:
        approval.resume(bad)
    assert is_invalid_resume(caught.value)
    assert caught.value.errors()[0]["type"] == "invalid_resume"
    assert len(approval.asked()["action_requests"]) == 2  # nothing was recorded
    approval.resume({"type": "approval", "approver": "legal", "decision": "approve"})
    approval.resume({"decisions": [{"type": "approve"}]})
    assert approval.done()


MALFORMED_SPONSOR = [
    {"decision": "descope"},  # no channel
    {"decision": "descope", "channel": "fax"},
    {"decision": "postpone", "launch_date": "soon"},
    {"decision": "postpone", "launch_date": "2026-11-01"},  # before the planning date
    {"decision": "maybe"},
    {"decisions": [{"type": "edit", "edited_action": {"name": "escalation_decision",
                                                      "args": {"decision": "postpone"}}}]},
    {"decisions": [{"type": "approve"}, {"type": "approve"}]},
]


@pytest.mark.parametrize("bad", MALFORMED_SPONSOR, ids=repr)
def test_a_malformed_sponsor_answer_is_refused_and_the_sponsor_can_answer_again(
    sponsor: Thread, bad: Any,
) -> None:
    with pytest.raises(ValidationError) as caught:
        sponsor.resume(bad)
    assert caught.value.errors()[0]["type"] == "invalid_resume"
    sponsor.resume({"decision": "proceed", "note": "accept risk"})
    assert sponsor.values["decision"]["decision"] == "proceed"


def test_the_interrupts_publish_a_response_schema_for_typed_forms(approval: Thread) -> None:
    (question,) = approval.graph.get_state(approval.config).interrupts
    schema = question.response_schema
    assert schema and "decisions" in str(schema)


def test_the_deadline_notice_of_status_still_escalates(approval: Thread) -> None:
    approval.resume({"type": "deadline", "slipped": ["legal"],
                     "today": (dt.date(2026, 12, 4)).isoformat()})
    assert approval.values["escalations"][0]["trigger"] == "approval_slipped"


# -- docs/surfaces.md shows what the graph emits and takes -------------------------------

DOC = Path(__file__).resolve().parents[1] / "docs" / "surfaces.md"
FORM = {"program": "Customer Advocates", "launch_date": "2026-12-10",
        "channels": ["email", "in-app"], "approvers": ["legal", "finance"], "as_of": AS_OF}


def doc_json(name: str) -> Any:
    """The JSON block after ``<!-- hitl:<name> -->`` in docs/surfaces.md."""
    found = re.search(rf"<!-- hitl:{name} -->\n```json\n(.*?)\n```", DOC.read_text(), re.S)
    assert found, f"docs/surfaces.md has no hitl:{name} block"
    return json.loads(found.group(1))


def test_the_docs_show_the_approval_request_the_server_graph_emits_and_its_answer() -> None:
    graph = server_graph()
    graph.checkpointer = InMemorySaver()
    config: Any = {"configurable": {"thread_id": "doc"}}
    graph.invoke(FORM, config, context=RunContext(clock=FakeClock()))
    (question,) = graph.get_state(config).interrupts
    assert question.value == doc_json("approval-request")

    graph.invoke(Command(resume=doc_json("approval-resume")), config,
                 context=RunContext(clock=FakeClock()))
    approvals = graph.get_state(config).values["approvals"]
    assert approvals["legal"]["status"] == "approved"
    assert approvals["finance"]["history"][0]["decision"] == "reject"


def test_the_docs_show_the_exec_sponsor_request_and_an_edit_that_postpones() -> None:
    sponsor = Thread(ScriptedRunner({("lifecycle-ops", "tooling-qa"): [
        fail("the tracking vendor's API is down")] * 4}), approvers=None)
    assert sponsor.asked() == doc_json("sponsor-request")
    sponsor.resume(doc_json("sponsor-resume"))
    decision = sponsor.values["decision"]
    assert (decision["decision"], decision["note"]) == ("postpone", "vendor fix due 2027-01-05")
    assert sponsor.values["request"]["launch_date"] == "2027-01-14"
