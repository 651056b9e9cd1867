"""Every drawing shows the agents; the stage view reads at a glance; docs/graph.md is current."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

import pytest

from referral_orchestrator.engine.graph import build_graph, draw
from referral_orchestrator.engine.roster import roster_from_overrides
from referral_orchestrator.surfaces.cli import main

ROOT = Path(__file__).resolve().parents[1]
AGENTS = ("lifecycle-ops", "partner-manager", "partner-ops", "referral-architect",
          "exec-sponsor")


def _update_docs():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("update_docs",
                                                  ROOT / "scripts" / "update_docs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _edges(mermaid: str) -> list[str]:
    return [line.strip() for line in mermaid.splitlines() if re.search(r"-->|\.->", line)
            and not line.strip().startswith(("%%", "classDef"))]


def test_docs_graph_md_is_what_update_docs_writes() -> None:
    doc = (ROOT / "docs" / "graph.md").read_text(encoding="utf-8")
    assert doc == _update_docs().render(), "docs/graph.md is stale: run scripts/update_docs.py"


@pytest.mark.parametrize("view", ["full", "stages"])
def test_the_graph_command_prints_each_view_as_docs_graph_md_shows_it(
    view: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["graph", "--view", view]) == 0
    printed = capsys.readouterr().out.strip()
    assert printed == draw(view).strip()  # type: ignore[arg-type]
    assert printed in (ROOT / "docs" / "graph.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("view", ["full", "stages"])
def test_every_agent_and_the_sponsor_appear_in_each_view(view: str) -> None:
    text = draw(view)  # type: ignore[arg-type]
    for agent in AGENTS:
        assert agent in text, (view, agent)


def test_studio_sees_each_nodes_agent_and_fallbacks_as_metadata() -> None:
    nodes = build_graph().get_graph().nodes
    assert nodes["checklist"].metadata == {"agent": "lifecycle-ops",
                                           "fallbacks": ["partner-manager"]}
    assert nodes["partner_ops"].metadata == {"agent": "partner-ops",
                                             "fallbacks": ["partner-manager"]}
    assert nodes["communications"].metadata["partner-kit agent"] == "partner-manager"
    assert nodes["referral_architect"].metadata["rung"] == 2
    assert nodes["exec_sponsor"].metadata == {"person": "exec-sponsor", "rung": 3}


def test_a_roster_override_changes_what_the_drawing_says() -> None:
    roster = roster_from_overrides({"fallbacks": {"lifecycle-ops": ["partner-ops"]}})
    meta = build_graph(roster=roster).get_graph().nodes["go_live"].metadata
    assert meta == {"agent": "lifecycle-ops", "fallbacks": ["partner-ops"]}
    assert "partner-ops covers lifecycle-ops" in draw("stages", roster)


def test_the_full_view_draws_substitution_as_edges_to_and_from_reassign() -> None:
    edges = {(e.source, e.target) for e in build_graph().get_graph().edges}
    for node in ("checklist", "tooling_qa", "partner_ops", "go_live", "referral_architect"):
        assert (node, "reassign") in edges and ("reassign", node) in edges


def test_the_full_view_is_the_exact_topology_and_the_stage_view_is_far_smaller() -> None:
    graph = build_graph().get_graph()
    assert (len(graph.nodes), len(graph.edges)) == (13, 53)
    stages = draw("stages")
    assert len(_edges(stages)) == 16
    fanning = max(sum(e.startswith(f"{n} ") for e in _edges(stages))
                  for n in ("referral_architect", "exec_sponsor", "launch"))
    assert fanning <= 2  # the ladder and reassign meet the flow as one edge each way
