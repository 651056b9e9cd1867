"""Agent-host surfaces: transition streams, langchain-core tools, the graph as a subgraph."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode
from langgraph.types import Command

from referral_orchestrator import InvalidRequest, Orchestrator, build_graph
from referral_orchestrator.engine.state import LaunchState
from referral_orchestrator.plan.chain import verify
from referral_orchestrator.surfaces.hosts import (
    as_tool,
    as_tools,
    launch_input,
    server_graph,
    stream,
)
from support import AS_OF, SEED_REQUEST


def test_sync_stream_yields_every_plan_transition_in_order_as_it_happens(
    orch: Orchestrator,
) -> None:
    transitions = stream(orch, "launch", **SEED_REQUEST)
    seen = []
    for record in transitions:
        assert {"node", "event", "agent", "attempt", "reason", "hash", "prev_hash"} <= set(record)
        seen.append(record)
    result = transitions.result
    assert result is not None and result.status == "completed"
    assert seen == result.plan["transitions"] == transitions.records
    assert [r["seq"] for r in seen] == list(range(1, len(seen) + 1))
    verify(result.plan)


def test_async_stream_runs_inside_an_event_loop_and_streams_approvals_too(
    orch: Orchestrator,
) -> None:
    async def go() -> tuple[list[str], list[str], Any]:
        launched = stream(orch, "launch", **SEED_REQUEST, approvers="legal")
        first = [r["node"] async for r in launched]
        assert launched.result is not None
        assert launched.result.status == "awaiting_approval"
        approved = stream(orch, "approve", launched.result.plan_id, "legal", note="ok")
        second = [r["node"] async for r in approved]
        return first, second, approved.result

    first, second, result = asyncio.run(go())
    assert first[0] == "checklist" and "approval_gate" not in first
    assert second[0] == "approval_gate" and second[-1] == "go_live"
    assert result.status == "completed"
    assert [t["node"] for t in result.plan["transitions"]] == first + second


def test_stream_raises_the_callers_error_and_can_be_iterated_once(orch: Orchestrator) -> None:
    bad = stream(orch, "launch", "Customer Advocates", "2026-12-10", "fax", as_of=AS_OF)
    with pytest.raises(InvalidRequest) as info:
        list(bad)
    assert info.value.code == "unknown_channel"
    with pytest.raises(RuntimeError):
        list(bad)
    with pytest.raises(ValueError):
        stream(orch, "list_plans")  # type: ignore[arg-type]


def test_launch_tool_returns_the_json_document_and_bad_input_as_a_fixable_error(
    orch: Orchestrator,
) -> None:
    tool = as_tool(orch)
    assert tool.name == "launch_referral_program"
    assert set(tool.args) >= {"program", "launch_date", "channels", "approvers"}
    data = json.loads(tool.invoke({**SEED_REQUEST, "channels": ["email", "in-app"]}))
    assert data["status"] == "completed" and data["channels"] == ["email", "in-app"]
    error = tool.invoke({**SEED_REQUEST, "launch_date": "2026-13-40", "channels": ["email"]})
    assert error.startswith("error (")


def test_launch_tool_and_graph_input_take_the_country_timezone_and_currency(
    orch: Orchestrator,
) -> None:
    data = json.loads(as_tool(orch).invoke({
        **SEED_REQUEST, "channels": ["email"], "country": "DE", "subdivision": "BY",
        "currency": "CHF"}))
    req = orch.status(data["plan_id"]).plan["request"]["normalized"]
    assert (req["country"], req["subdivision"], req["timezone"], req["currency"]) == (
        "DE", "BY", "Europe/Berlin", "CHF")
    values = launch_input(**SEED_REQUEST, country="JP", timezone="UTC")
    assert (values["request"]["timezone"], values["request"]["currency"]) == ("UTC", "JPY")


def test_host_tool_node_runs_launch_then_approve_calls_from_a_model(orch: Orchestrator) -> None:
    tools = as_tools(orch)
    assert [t.name for t in tools] == ["launch_referral_program", "approve_referral_launch",
                                      "decide_referral_escalation", "referral_launch_status"]
    host = StateGraph(MessagesState)
    host.add_node("tools", ToolNode(tools))
    host.add_edge(START, "tools")
    host.add_edge("tools", END)
    app = host.compile()

    def call(name: str, args: dict[str, Any]) -> dict[str, Any]:
        # the AI message a host model would send; the host's ToolNode runs our tool
        msg = AIMessage("", tool_calls=[{"name": name, "args": args, "id": f"call-{name}"}])
        out = asyncio.run(app.ainvoke({"messages": [msg]}))
        return dict(json.loads(out["messages"][-1].content))

    launched = call("launch_referral_program", {
        **SEED_REQUEST, "channels": ["email"], "approvers": ["finance"]})
    assert launched["status"] == "awaiting_approval"
    done = call("approve_referral_launch", {"plan": launched["plan_id"],
                                            "approver": "finance"})
    assert done["status"] == "completed"
    assert call("referral_launch_status", {"plan": launched["plan_id"]})["status"] == "completed"


class HostState(LaunchState, total=False):
    """A host's own state: its keys plus the launch graph's, so the subgraph plugs in."""

    brief: str
    announcement: str


def test_compiled_graph_embeds_as_a_subgraph_and_its_approval_interrupt_reaches_the_host(
) -> None:
    def intake(state: HostState) -> dict[str, Any]:
        program = state["brief"].split(":", 1)[1].strip()
        return launch_input(program, "2026-12-10", "email,in-app", approvers="legal",
                            as_of=AS_OF)

    def announce(state: HostState) -> dict[str, Any]:
        live = state["transitions"][-1]["node"] == "go_live"
        return {"announcement": f"{state['request']['program']}: "
                                + ("live" if live else "not live")}

    host = StateGraph(HostState)
    host.add_node("intake", intake)
    host.add_node("referral_launch", build_graph())
    host.add_node("announce", announce)
    host.add_edge(START, "intake")
    host.add_edge("intake", "referral_launch")
    host.add_edge("referral_launch", "announce")
    host.add_edge("announce", END)
    app = host.compile(checkpointer=InMemorySaver())
    config = {"configurable": {"thread_id": "host-1"}}

    paused = app.invoke({"brief": "launch: Customer Advocates"}, config)
    (asked,) = paused["__interrupt__"]
    assert asked.value["type"] == "approval"
    assert [p["approver"] for p in asked.value["pending"]] == ["legal"]

    done = app.invoke(Command(resume={"type": "approval", "approver": "legal",
                                      "decision": "approve", "note": "ok", "by": "Dana"}),
                      config)
    assert done["announcement"] == "Customer Advocates: live"
    assert done["approvals"]["legal"]["by"] == "Dana"
    assert done["transitions"][-1]["node"] == "go_live"


def test_launch_input_validates_like_the_cli_and_server_graph_has_no_checkpointer() -> None:
    values = launch_input(**SEED_REQUEST, segments="power users")
    assert values["request"]["channels"] == ["email", "in-app"]
    assert values["request"]["program"] == "Customer Advocates"
    with pytest.raises(InvalidRequest):
        launch_input("Customer Advocates", "2026-12-10", "fax", as_of=AS_OF)
    graph = server_graph()
    assert graph.checkpointer is None
    assert "approval_gate" in graph.get_graph().nodes
