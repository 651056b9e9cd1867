"""referral_orchestrator.drawing: the state machine as a standalone SVG, drawn offline."""

from __future__ import annotations

import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from langchain_core.runnables.graph import Graph

from referral_orchestrator import build_graph
from referral_orchestrator.drawing import graph_svg

ROOT = Path(__file__).resolve().parents[1]
SVG = "{http://www.w3.org/2000/svg}"


def _parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def _boxes(root: ET.Element) -> dict[str, tuple[float, float, float, float]]:
    out = {}
    for g in root.iter(f"{SVG}g"):
        if "node" in g.get("class", "").split():
            rect = g.find(f"{SVG}rect")
            assert rect is not None
            out[g.get("data-id", "")] = tuple(
                float(rect.get(k, "0")) for k in ("x", "y", "width", "height"))
    return out  # type: ignore[return-value]


def test_launch_graph_svg_has_every_node_and_every_edge_once() -> None:
    graph = build_graph().get_graph()
    root = _parse(graph_svg(graph))
    assert root.tag == f"{SVG}svg" and root.get("role") == "img"
    assert set(_boxes(root)) == set(graph.nodes)
    drawn = sorted((g.get("data-source"), g.get("data-target"))
                   for g in root.iter(f"{SVG}g") if g.get("class") == "edge")
    assert drawn == sorted((e.source, e.target) for e in graph.edges)
    labels = {t.text for t in root.iter(f"{SVG}text")}
    assert {"start", "end", "checklist", "go_live", "exec_sponsor"} <= labels


def test_svg_is_self_contained_and_fits_its_view_box() -> None:
    svg = graph_svg(build_graph().get_graph())
    root = _parse(svg)
    assert "href" not in svg and "http://" not in svg.replace("http://www.w3.org/2000/svg", "")
    _, _, width, height = (float(v) for v in root.get("viewBox", "").split())
    boxes = _boxes(root)
    for x, y, w, h in boxes.values():
        assert 0 <= x <= width - w and 0 <= y <= height - h
    ordered = sorted(boxes.values(), key=lambda b: (b[1], b[0]))
    for i, (x, y, w, h) in enumerate(ordered):  # no two nodes overlap
        for ox, oy, ow, oh in ordered[i + 1:]:
            assert x + w <= ox or ox + ow <= x or y + h <= oy or oy + oh <= y


def test_flow_order_runs_top_down_and_escalation_sits_below_go_live() -> None:
    boxes = _boxes(_parse(graph_svg(build_graph().get_graph())))
    flow = ["__start__", "checklist", "tooling_qa", "communications", "merge_gate",
            "partner_ops", "approval_gate", "go_live", "referral_architect", "exec_sponsor"]
    tops = [boxes[n][1] for n in flow]
    assert tops == sorted(tops) and len(set(tops)) == len(tops)


def test_drawing_is_deterministic_and_ids_do_not_clash_between_graphs() -> None:
    first = graph_svg(build_graph().get_graph())
    assert first == graph_svg(build_graph().get_graph())
    small = Graph()
    a, b = small.add_node(None, "a"), small.add_node(None, "b")
    small.add_edge(a, b)
    assert _parse(first).get("id") != _parse(graph_svg(small)).get("id")


def test_any_langchain_graph_draws_with_siblings_skips_and_loops_and_escapes_names() -> None:
    g = Graph()
    names = ["<start>", "left & co", "right", "join", "done"]
    n = {name: g.add_node(None, name) for name in names}
    for src, dst, cond in [("<start>", "left & co", False), ("<start>", "right", True),
                           ("left & co", "join", False), ("right", "join", False),
                           ("<start>", "done", True), ("join", "<start>", True),
                           ("join", "join", True)]:
        g.add_edge(n[src], n[dst], conditional=cond)
    svg = graph_svg(g, title="A <small> graph")
    root = _parse(svg)  # well-formed: every name was escaped
    assert "&lt;start&gt;" in svg and "left &amp; co" in svg
    boxes = _boxes(root)
    assert boxes[n["left & co"].id][1] == boxes[n["right"].id][1]  # siblings share a row
    edges = [g_ for g_ in root.iter(f"{SVG}g") if g_.get("class") == "edge"]
    assert len(edges) == 7


def test_importing_drawing_pulls_in_no_graph_or_plotting_library() -> None:
    code = ("import sys, referral_orchestrator; before = set(sys.modules); "
            "import referral_orchestrator.drawing; "
            "print(sorted(set(sys.modules) - before))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, timeout=60)
    added = json.loads(done.stdout.replace("'", '"'))
    heavy = ("langgraph", "langchain", "IPython", "matplotlib", "PIL", "pygraphviz")
    assert not [m for m in added if m.startswith(heavy)], added


def test_docs_graph_svg_is_what_the_graph_draws_today() -> None:
    checked_in = (ROOT / "docs" / "graph.svg").read_text(encoding="utf-8")
    assert checked_in == graph_svg(build_graph().get_graph()), (
        "docs/graph.svg is stale: run python scripts/update_docs.py")


def test_notebook_draws_the_graph_locally_not_with_mermaid_js() -> None:
    nb = json.loads((ROOT / "examples" / "referral_launch.ipynb").read_text())
    code = ["".join(c["source"]) for c in nb["cells"] if c["cell_type"] == "code"]
    assert any("graph_svg(" in src and "SVG(" in src for src in code)
    assert not any("```mermaid" in src for src in code)
