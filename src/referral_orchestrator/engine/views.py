"""Who works where, for every drawing of the graph, and the stage-level view.

:func:`node_agents` turns the roster into node metadata: LangGraph keeps it on the compiled
graph, so ``get_graph().draw_mermaid()`` (the ``full`` view), LangGraph Studio and the
notebook all show each node's agent and fallbacks. :func:`stage_view` draws the same launch
at the level a reader takes in at a glance: the stages in flow order with their agents,
and the two guardrails (substitution and the escalation ladder) as one edge each way.
"""

from __future__ import annotations

from typing import Any

from referral_orchestrator.launch.stages import (
    DRAFT_NODES,
    END,
    NODES,
    PLAN_STAGES,
    STAGE,
    Stage,
    Target,
    follows,
    stages_at,
)

from .roster import Roster


def _fallbacks(roster: Roster, agent: str) -> list[str] | str:
    return roster.fallback_map().get(agent) or "none"


def node_agents(roster: Roster) -> dict[str, dict[str, Any]]:
    """Node id -> metadata naming the agent that works there and its fallbacks."""
    ladder = roster.ladder()
    about: dict[str, dict[str, Any]] = {}
    for node in NODES:
        meta: dict[str, Any] = {}
        for i, stage in enumerate(s for s in stages_at(node) if s.output is not None):
            agent = roster.owner_of(stage.owner)
            prefix = "" if i == 0 else f"{stage.id} "
            meta[prefix + "agent"] = agent
            meta[prefix + "fallbacks"] = _fallbacks(roster, agent)
            if agent in ladder[1:]:
                meta["rung"] = ladder.index(agent) + 1
        about[node] = meta
    approval = STAGE["approval"]
    about[approval.node] = {"decides": "the named approvers",
                            "package": roster.owner_of(approval.owner)}
    about["reassign"] = {"decides": "roster fallbacks",
                         "substitutes": [f"{agent} by {' then '.join(subs)}"
                                         for agent, subs in roster.fallback_map().items()
                                         if subs]}
    about["exec_sponsor"] = {"person": ladder[-1], "rung": len(ladder)}
    return {node: meta for node, meta in about.items() if meta}


def _quote(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def _box(stage: Stage, roster: Roster) -> str:
    """One stage's label: name, agents, fallbacks."""
    lines = [f"<b>{stage.label}</b>"]
    if stage.execution == "parallel" and stage.node == "communications":
        lines.append("per channel x segment")
    for i, item in enumerate(s for s in stages_at(stage.node) if s.output is not None):
        agent = roster.owner_of(item.owner)
        fallbacks = _fallbacks(roster, agent)
        cover = ", ".join(fallbacks) if isinstance(fallbacks, list) else fallbacks
        lines.append(("" if i == 0 else f"{item.label}: ") + agent
                     + f", <small>fallback {cover}</small>")
    if stage.output is None:
        lines.append(f"approvers decide; package by {roster.owner_of(stage.owner)}")
    return "<br/>".join(lines)


def _targets(target: Target) -> list[str]:
    if target == END:
        return ["done"]
    return list(DRAFT_NODES) if target in DRAFT_NODES else [target]


def stage_view(roster: Roster) -> str:
    """The stage-level Mermaid: flow, agents, and the guardrails around the flow."""
    ladder, fallback_map = roster.ladder(), roster.fallback_map()
    out = ["---", "title: referral launch - stages, agents and guardrails", "---",
           "flowchart TD", '    start(["launch-program"])',
           '    subgraph launch ["stages (rung 1: each retries at most twice)"]']
    nodes = list(dict.fromkeys(s.node for s in PLAN_STAGES))
    for node in nodes:
        (stage,) = [s for s in PLAN_STAGES if s.node == node]
        shape = ("[[", "]]") if stage.execution == "parallel" else (
            ("{{", "}}") if stage.output is None else ("[", "]"))
        out.append(f"        {node}{shape[0]}{_quote(_box(stage, roster))}{shape[1]}")
    out.append('        merge_gate{{"merge gate<br/>content QA"}}')
    edges: list[str] = []
    for node in nodes:
        (stage,) = [s for s in PLAN_STAGES if s.node == node]
        if stage.execution == "parallel":
            edges.append(f"        {node} --> merge_gate")
            continue
        main, alt = follows(stage.id, approvers=True), follows(stage.id, approvers=False)
        edges += [f"        {node} --> {t}" for t in _targets(main) if t != "done"]
        if alt != main:
            edges += [f"        {node} -. no approvers .-> {t}" for t in _targets(alt)]
    after_drafts = follows(STAGE["communications"].id, approvers=True)
    edges += [f"        merge_gate --> {t}" for t in _targets(after_drafts)]
    out += [*edges, "    end"]
    last = next(s.node for s in PLAN_STAGES if s.next == END)
    covers = "<br/>".join(f"{' then '.join(subs)} covers {agent}"
                          for agent, subs in fallback_map.items() if subs)
    out += [
        '    done(["end"])',
        f"    start --> {PLAN_STAGES[0].node}",
        f"    {last} -- launched --> done",
        f'    reassign(["<b>reassign</b>: an agent is unavailable<br/>{covers}"])',
        "    launch <-.-> reassign",
        '    subgraph ladder ["escalation ladder: retries exhausted, no substitute, approval '
        'slipped"]',
        f'        referral_architect["<b>rung 2: {ladder[1]}</b><br/>remediates, re-runs the '
        'stage once"]',
        f'        exec_sponsor["<b>rung 3: {ladder[2]}</b>, a person<br/>proceed, descope, '
        'postpone or halt"]',
        "    end",
        "    launch <-.-> referral_architect",
        "    referral_architect -. no safe fix .-> exec_sponsor",
        "    exec_sponsor -. proceed, descope, postpone .-> launch",
        "    exec_sponsor -. halt .-> done",
    ]
    return "\n".join(out) + "\n"
