"""Embed the compiled launch graph as a subgraph of a host's own ``StateGraph``.

The host state carries the launch graph's keys, so ``build_graph()`` plugs in as a node.
With a checkpointer on the host, the approval gate's ``interrupt`` pauses the whole host
run; ``Command(resume=...)`` with the approver's decision continues it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, StateGraph
from langgraph.types import Command

from referral_orchestrator import build_graph
from referral_orchestrator.engine.state import LaunchState
from referral_orchestrator.surfaces.hosts import launch_input


class HostState(LaunchState, total=False):
    """The host's keys next to the launch graph's."""

    brief: str
    announcement: str


def intake(state: HostState) -> dict[str, Any]:
    """Turn the host's brief into the launch graph's validated input."""
    program = state["brief"].removeprefix("launch ").strip()
    launch_date = dt.date.today() + dt.timedelta(days=21)
    return launch_input(program, launch_date.isoformat(), "email,in-app", approvers="legal")


def announce(state: HostState) -> dict[str, Any]:
    """Use the launch's results in the host."""
    last = state["transitions"][-1]
    return {"announcement": f"{state['request']['program']}: {last['node']} {last['event']}, "
                            f"{len(state['tasks'])} tasks on the runbook"}


host = StateGraph(HostState)
host.add_node("intake", intake)
host.add_node("referral_launch", build_graph())  # the compiled graph as a subgraph
host.add_node("announce", announce)
host.add_edge(START, "intake")
host.add_edge("intake", "referral_launch")
host.add_edge("referral_launch", "announce")
host.add_edge("announce", END)
app = host.compile(checkpointer=InMemorySaver())

config = {"configurable": {"thread_id": "host-demo"}}
paused = app.invoke({"brief": "launch Customer Advocates"}, config)
(question,) = paused["__interrupt__"]
print("host paused:", question.value)

decision = {"type": "approval", "approver": "legal", "decision": "approve",
            "note": "terms reviewed", "by": "Dana (legal)"}
done = app.invoke(Command(resume=decision), config)
print(done["announcement"])
assert done["transitions"][-1]["node"] == "go_live"
