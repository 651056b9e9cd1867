"""The launch state machine, wired in flow order. Logic lives in _nodes, _gates, _routing.

    checklist -> tooling_qa -> {communications x N || enablement} -> merge_gate
      -> partner_ops -> approval_gate -> go_live
    every stage: retry (<= 2) -> referral_architect (rung 2) -> exec_sponsor (rung 3)
"""

from __future__ import annotations

from typing import Any

from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph

from . import gates, nodes
from . import routing as route
from .state import LaunchState, RunContext

DRAFTS = ["communications", "enablement"]
STAGES = ["checklist", "tooling_qa", "partner_ops", "approval_gate", "go_live"]


def build_graph(
    checkpointer: Any = None, *, name: str = "referral-launch"
) -> CompiledStateGraph[LaunchState, RunContext, LaunchState, LaunchState]:
    """Compile the launch graph; pass a checkpointer to make runs resumable."""
    g = StateGraph(LaunchState, context_schema=RunContext)
    g.add_node("checklist", nodes.checklist)
    g.add_node("tooling_qa", nodes.tooling_qa)
    g.add_node("communications", nodes.communications)
    g.add_node("enablement", nodes.enablement)
    g.add_node("merge_gate", nodes.merge_gate)
    g.add_node("partner_ops", nodes.partner_ops)
    g.add_node("approval_gate", gates.approval_gate)
    g.add_node("go_live", nodes.go_live)
    g.add_node("referral_architect", gates.referral_architect)
    g.add_node("exec_sponsor", gates.exec_sponsor)

    g.add_edge(START, "checklist")
    g.add_conditional_edges("checklist", route.after_checklist,
                            ["tooling_qa", "checklist", "referral_architect"])
    g.add_conditional_edges("tooling_qa", route.after_tooling,
                            [*DRAFTS, "tooling_qa", "referral_architect"])
    g.add_conditional_edges("communications", route.after_communications,
                            ["merge_gate", "enablement"])
    g.add_edge("enablement", "merge_gate")
    g.add_conditional_edges("merge_gate", route.after_merge,
                            ["partner_ops", *DRAFTS, "referral_architect"])
    g.add_conditional_edges("partner_ops", route.after_partner_ops,
                            ["approval_gate", "go_live", "partner_ops", "referral_architect"])
    g.add_conditional_edges("approval_gate", route.after_approval,
                            ["go_live", "approval_gate", *DRAFTS, "referral_architect"])
    g.add_conditional_edges("go_live", route.after_go_live,
                            ["go_live", "referral_architect", END])
    g.add_conditional_edges("referral_architect", route.after_architect,
                            [*STAGES, *DRAFTS, "exec_sponsor"])
    g.add_conditional_edges("exec_sponsor", route.after_sponsor, [*STAGES, *DRAFTS, END])
    return g.compile(checkpointer=checkpointer, name=name)


def __getattr__(attr: str) -> Any:
    # `graph` for langgraph.json, built on first use so importing this module stays cheap.
    if attr == "graph":
        compiled = build_graph()
        globals()["graph"] = compiled
        return compiled
    raise AttributeError(attr)
