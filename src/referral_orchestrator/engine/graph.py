"""The launch state machine, wired from the stage registry. Logic lives in nodes, gates, routing.

    checklist -> tooling_qa -> {communications x N || enablement} -> merge_gate
      -> partner_ops -> approval_gate -> go_live
    agent unavailable: stage -> reassign -> stage (its substitute covers)
    every stage: retry (<= 2) -> referral_architect (rung 2) -> exec_sponsor (rung 3)

Each node carries its agent and fallbacks as metadata (from the roster), so every drawing -
``referral-orchestrator graph``, ``docs/graph.md``, LangGraph Studio - shows who works where.
"""

from __future__ import annotations

import functools
from typing import Any, Literal

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from referral_orchestrator.launch.stages import DRAFT_NODES, NODES, PLAN_STAGES, STAGE, NodeId

from . import gates, nodes
from . import routing as route
from .roster import Roster, roster_from_overrides
from .state import LaunchState, RunContext
from .views import node_agents, stage_view

View = Literal["full", "stages"]
# Nodes with logic of their own; any other stage runs through nodes.stage_node.
NODE_FUNCTIONS: dict[NodeId, Any] = {
    "checklist": nodes.checklist, "tooling_qa": nodes.tooling_qa,
    "communications": nodes.communications, "enablement": nodes.enablement,
    "merge_gate": nodes.merge_gate, "partner_ops": nodes.partner_ops,
    "approval_gate": gates.approval_gate, "go_live": nodes.go_live,
    "reassign": nodes.reassign, "referral_architect": gates.referral_architect,
    "exec_sponsor": gates.exec_sponsor,
}


def build_graph(
    checkpointer: Any = None, *, name: str = "referral-launch", roster: Roster | None = None
) -> CompiledStateGraph[LaunchState, RunContext, LaunchState, LaunchState]:
    """Compile the launch graph; pass a checkpointer to make runs resumable.

    ``roster`` only changes what the drawings say about agents (node metadata); who works
    in a run always comes from the roster in the run's state.
    """
    g = StateGraph(LaunchState, context_schema=RunContext)
    wire(g, roster)
    return g.compile(checkpointer=checkpointer, name=name)


def launch_graph(
    checkpointer: Any,
) -> CompiledStateGraph[LaunchState, RunContext, LaunchState, LaunchState]:
    """The launch graph on ``checkpointer``: compiled once per process, copied per run.

    Compiling wires ~25 nodes and inspects every node function (~0.1 s); a run only needs
    its own checkpointer, and ``Pregel.copy`` swaps it in a shallow copy (~0.2 ms). The
    compiled graph holds no run state, so copies are shared safely across threads.
    """
    return _compiled().copy(update={"checkpointer": checkpointer})


@functools.lru_cache(maxsize=1)
def _compiled() -> CompiledStateGraph[LaunchState, RunContext, LaunchState, LaunchState]:
    return build_graph()


def wire(g: StateGraph[Any, Any, Any, Any], roster: Roster | None = None, *,
         entry: str = START) -> None:
    """Add the launch's nodes and edges to ``g``, the first stage following ``entry``.

    A graph with a front door of its own (the LangGraph server's input form) adds that
    node, then wires the launch behind it.
    """
    agents = node_agents(roster or roster_from_overrides(None))
    for node in NODES:  # flow order
        g.add_node(node, NODE_FUNCTIONS.get(node) or nodes.stage_node_at(node),
                   metadata=agents.get(node))

    g.add_edge(entry, PLAN_STAGES[0].node)
    for stage in route.ROUTED_STAGES:  # ok -> next, retry, reassign, or up the ladder
        g.add_conditional_edges(STAGE[stage].node, route.after(stage), route.ends(stage))
    # the drafts fan out with Send and meet at the merge gate
    g.add_conditional_edges("communications", route.after_communications,
                            ["merge_gate", "enablement"])
    g.add_edge("enablement", "merge_gate")
    g.add_conditional_edges("merge_gate", route.after_merge,
                            [*route.nexts("communications"), *DRAFT_NODES, "referral_architect"])
    g.add_conditional_edges("approval_gate", route.after_approval,
                            [*route.nexts("approval"), "approval_gate", *DRAFT_NODES,
                             "referral_architect"])
    # substitution, then the escalation ladder
    g.add_conditional_edges("reassign", route.after_reassign, route.REASSIGN_ENDS)
    g.add_conditional_edges("referral_architect", route.after_architect,
                            [*route.LADDER_TARGETS, "reassign", "exec_sponsor"])
    g.add_conditional_edges("exec_sponsor", route.after_sponsor, [*route.LADDER_TARGETS, END])


def draw(view: View = "full", roster: Roster | None = None) -> str:
    """The graph as Mermaid: ``full`` is the exact topology, ``stages`` the one-glance view."""
    if view == "stages":
        return stage_view(roster or roster_from_overrides(None))
    return build_graph(roster=roster).get_graph().draw_mermaid()


def __getattr__(attr: str) -> Any:
    # `graph` for langgraph.json, built on first use so importing this module stays cheap.
    if attr == "graph":
        compiled = build_graph()
        globals()["graph"] = compiled
        return compiled
    raise AttributeError(attr)
