"""Draw a LangGraph graph as a standalone SVG, with no network, browser or Graphviz.

    from referral_orchestrator import build_graph
    from referral_orchestrator.drawing import graph_svg
    svg = graph_svg(build_graph().get_graph())   # IPython.display.SVG(svg) in a notebook

Mermaid needs mermaid.js (a CDN, or JupyterLab's copy) and ``draw_png`` needs pygraphviz;
this needs neither, so the picture survives an offline HTML export or a strict
content-security policy. Standard library only, imported by nothing at package import.

Layout, top-down: nodes keep the graph's insertion order (``graph.py`` adds them in flow
order), so an edge to an earlier node is a loop back. Rows are the longest path over the
forward edges. An edge to the next row is drawn directly; longer edges share a lane on
the right (one per target: retries and escalations that skip rows), edges back up share
a lane on the left (one per source); a dot marks where an edge joins its lane. A small
arc over a node is a self-loop (a retry). Solid edges always fire, dashed ones are a
routing function's choice, as in Mermaid.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from xml.sax.saxutils import escape, quoteattr

__all__ = ["graph_svg"]

CHAR_W = 7.8  # advance of one 13 px monospace glyph: labels are measured without a font
CAPTION_W = 6.0  # the same for the 10 px caption (the node's agent / fallbacks)
FONT = 13
PAD_X = 16
NODE_H = 44
TERMINAL_H = 28
ROW_GAP = 30
NODE_GAP = 24
LANE_GAP = 16
LOOP_W = 44  # the strip at a box's top right that a retry arc takes
MARGIN = 16
LEGEND_H = 75
TERMINALS = {"__start__": "start", "__end__": "end"}
INK = "#475569"
# one colour per lane, so an edge can be followed along its lane (all >= 4.5:1 on white)
LANE_COLOURS = ("#4338ca", "#b45309", "#047857", "#be123c", "#0369a1", "#7e22ce",
                "#a16207", "#0f766e")


class _Edge(Protocol):
    source: str
    target: str
    conditional: bool


class _Node(Protocol):
    id: str
    name: str
    metadata: dict[str, Any] | None


class DrawableGraph(Protocol):
    """What :func:`graph_svg` reads: LangChain's ``Graph`` (``get_graph()``) has it."""

    @property
    def nodes(self) -> Mapping[str, _Node]: ...

    @property
    def edges(self) -> list[_Edge]: ...


def _caption(node: _Node) -> str:
    """Who works at a node, from its metadata: ``agent / fallbacks`` (or the person)."""
    meta = getattr(node, "metadata", None) or {}
    who = meta.get("agent") or meta.get("person") or meta.get("decides") or ""
    fallbacks = meta.get("fallbacks")
    if who and isinstance(fallbacks, list | tuple) and fallbacks:
        who += " / " + ", ".join(map(str, fallbacks))
    return str(who)


@dataclass
class _Box:
    id: str
    label: str
    row: int
    caption: str = ""
    x: float = 0.0
    y: float = 0.0
    w: float = 0.0
    h: float = NODE_H
    stubs: dict[str, list[tuple[float, str]]] = field(
        default_factory=lambda: {"left": [], "right": []})

    @property
    def cx(self) -> float:
        return self.x + self.w / 2


@dataclass
class _Lane:
    side: str  # "right": edges down to one target; "left": edges up from one source
    hub: str  # that target or source
    edges: list[_Edge]
    x: float = 0.0
    colour: str = INK


def _rows(order: list[str], edges: list[_Edge]) -> dict[str, int]:
    """Longest-path row of every node over the forward edges (insertion order is topological)."""
    index = {n: i for i, n in enumerate(order)}
    row = dict.fromkeys(order, 0)
    for node in order:
        for e in edges:
            if e.source == node and index[e.target] > index[node]:
                row[e.target] = max(row[e.target], row[node] + 1)
    return row


def _layout(graph: DrawableGraph) -> tuple[dict[str, _Box], list[_Lane], float, float]:
    order = list(graph.nodes)
    index = {n: i for i, n in enumerate(order)}
    edges = [e for e in graph.edges if e.source in index and e.target in index]
    rows = _rows(order, edges)
    boxes = {}
    for n in order:
        label = TERMINALS.get(n, graph.nodes[n].name or n)
        terminal = n in TERMINALS
        caption = "" if terminal else _caption(graph.nodes[n])
        boxes[n] = _Box(n, label, rows[n], caption,
                        w=max(len(label) * CHAR_W, len(caption) * CAPTION_W) + 2 * PAD_X,
                        h=TERMINAL_H if terminal else NODE_H)
    regular = [b.w for n, b in boxes.items() if n not in TERMINALS]
    for n, b in boxes.items():  # one width for every stage: the column reads as a spine
        if n not in TERMINALS and regular:
            b.w = max(regular)

    lanes: dict[tuple[str, str], _Lane] = {}
    for e in edges:
        if index[e.target] > index[e.source] and rows[e.target] - rows[e.source] > 1:
            lanes.setdefault(("right", e.target), _Lane("right", e.target, [])).edges.append(e)
        elif index[e.target] < index[e.source]:
            lanes.setdefault(("left", e.source), _Lane("left", e.source, [])).edges.append(e)

    def extent(lane: _Lane) -> int:
        ends = [rows[lane.hub], *(rows[e.source if lane.side == "right" else e.target]
                                  for e in lane.edges)]
        return max(ends) - min(ends)

    # shorter lanes sit nearer the column, so fewer stubs cross other lanes
    left = sorted((la for la in lanes.values() if la.side == "left"), key=extent)
    right = sorted((la for la in lanes.values() if la.side == "right"), key=extent)

    by_row: dict[int, list[_Box]] = {}
    for b in boxes.values():
        by_row.setdefault(b.row, []).append(b)
    content_w = max(sum(b.w for b in r) + NODE_GAP * (len(r) - 1) for r in by_row.values())
    left_w = len(left) * LANE_GAP + (LANE_GAP if left else 0)
    x0 = MARGIN + left_w
    for r, members in sorted(by_row.items()):
        row_w = sum(b.w for b in members) + NODE_GAP * (len(members) - 1)
        x = x0 + (content_w - row_w) / 2
        top = MARGIN + 18 + r * (NODE_H + ROW_GAP)  # 18: room for self-loops over row 0
        for b in members:
            b.x, b.y = x, top + (NODE_H - b.h) / 2
            x += b.w + NODE_GAP
    for i, lane in enumerate(left):
        lane.x = x0 - LANE_GAP * (i + 1)
    for i, lane in enumerate(right):
        lane.x = x0 + content_w + LANE_GAP * (i + 1)
    for i, lane in enumerate(left + right):
        lane.colour = LANE_COLOURS[i % len(LANE_COLOURS)]
    width = x0 + content_w + len(right) * LANE_GAP + (LANE_GAP if right else 0) + MARGIN
    height = MARGIN + 18 + (max(rows.values()) + 1) * (NODE_H + ROW_GAP) - ROW_GAP + MARGIN
    return boxes, left + right, width, height + LEGEND_H


def _stub_y(box: _Box, side: str, key: str, lane_x: float) -> float:
    """A distinct height on the node's side for each lane it touches (never overlapping)."""
    taken = box.stubs[side]
    if not any(k == key for _, k in taken):
        taken.append((lane_x, key))
    ordered = sorted(taken, key=lambda t: abs(t[0] - box.cx))
    slot = [k for _, k in ordered].index(key)
    return box.y + box.h * (slot + 1) / (len(ordered) + 1)


def _edge(e: _Edge, d: str, colour: str, marker: str, note: str = "") -> str:
    dashed = ' stroke-dasharray="5 4"' if e.conditional else ""
    end = f' marker-end="{marker}"' if marker else ""
    what = note or f"{escape(e.source)} → {escape(e.target)}"
    return (f'<g class="edge" data-source={quoteattr(e.source)} '
            f"data-target={quoteattr(e.target)}><title>{what}</title>"
            f'<path d="{d}" stroke="{colour}"{dashed}{end}/></g>')


def graph_svg(graph: DrawableGraph, *, title: str = "The launch state machine") -> str:
    """The graph as one SVG document (a string): nodes, every edge, a legend.

    ``graph`` is what ``build_graph().get_graph()`` returns (any LangChain ``Graph``).
    Node labels are escaped; the SVG references nothing outside itself.
    """
    boxes, lanes, width, height = _layout(graph)
    order = list(graph.nodes)
    edges = [e for e in graph.edges if e.source in boxes and e.target in boxes]
    ident = "rog" + hashlib.sha1(
        "|".join(order + [f"{e.source}>{e.target}" for e in edges]).encode()).hexdigest()[:8]
    colours = sorted({INK, *(lane.colour for lane in lanes)})

    def arrow(colour: str) -> str:
        return f"url(#{ident}-arrow-{colours.index(colour)})"

    def side_x(box: _Box, side: str) -> float:
        return box.x + box.w if side == "right" else box.x

    # reserve stub slots in a fixed order first, so every slot count is final when drawn
    for lane in lanes:
        for e in lane.edges:
            box = boxes[e.source] if lane.side == "right" else boxes[e.target]
            _stub_y(box, lane.side, f"{lane.side}:{lane.hub}", lane.x)
        _stub_y(boxes[lane.hub], lane.side, f"{lane.side}:{lane.hub}", lane.x)

    parts: list[str] = []
    for lane in lanes:
        key, hub, c = f"{lane.side}:{lane.hub}", boxes[lane.hub], lane.colour
        hub_y = _stub_y(hub, lane.side, key, lane.x)
        ends = [hub_y]
        for e in lane.edges:
            far = boxes[e.source] if lane.side == "right" else boxes[e.target]
            y = _stub_y(far, lane.side, key, lane.x)
            ends.append(y)
            if lane.side == "right":  # source -> lane; the lane ends in the target's arrow
                parts.append(_edge(e, f"M{side_x(far, 'right'):.1f},{y:.1f} H{lane.x:.1f}",
                                   c, ""))
            else:  # lane -> each target, with its own arrow
                parts.append(_edge(e, f"M{lane.x:.1f},{y:.1f} H{side_x(far, 'left'):.1f}",
                                   c, arrow(c)))
            parts.append(f'<circle cx="{lane.x:.1f}" cy="{y:.1f}" r="2.6" fill="{c}"/>')
        dashed = ' stroke-dasharray="5 4"' if all(e.conditional for e in lane.edges) else ""
        trunk = f"M{lane.x:.1f},{min(ends):.1f} V{max(ends):.1f}"
        if lane.side == "right":
            hub_d = f"M{lane.x:.1f},{hub_y:.1f} H{side_x(hub, 'right'):.1f}"
            end = f' marker-end="{arrow(c)}"'
        else:
            hub_d, end = f"M{side_x(hub, 'left'):.1f},{hub_y:.1f} H{lane.x:.1f}", ""
        parts.append(f'<g class="lane" data-hub={quoteattr(lane.hub)}>'
                     f'<path d="{trunk}" stroke="{c}"{dashed}/>'
                     f'<path d="{hub_d}" stroke="{c}"{dashed}{end}/>'
                     f'<circle cx="{lane.x:.1f}" cy="{hub_y:.1f}" r="2.6" fill="{c}"/></g>')

    laned = {(e.source, e.target) for lane in lanes for e in lane.edges}
    direct = [e for e in edges if (e.source, e.target) not in laned and e.source != e.target]
    outs: dict[str, list[_Edge]] = {}
    ins: dict[str, list[_Edge]] = {}
    for e in direct:
        outs.setdefault(e.source, []).append(e)
        ins.setdefault(e.target, []).append(e)
    looped = {e.source for e in edges if e.source == e.target}

    def spot(box: _Box, k: int, n: int) -> float:
        """The k-th of n attachment points along a box's edge, clear of its retry arc."""
        room = box.w
        if box.id in looped and box.w * n / (n + 1) > box.w - LOOP_W:
            room = box.w - LOOP_W
        return box.x + room * (k + 1) / (n + 1)

    for e in direct:  # next row: a curve from the bottom of one box to the top of the other
        src, dst = boxes[e.source], boxes[e.target]
        so = sorted(outs[e.source], key=lambda x: boxes[x.target].cx)
        si = sorted(ins[e.target], key=lambda x: boxes[x.source].cx)
        sx, tx = spot(src, so.index(e), len(so)), spot(dst, si.index(e), len(si))
        sy, ty = src.y + src.h, dst.y
        mid = (ty - sy) / 2
        parts.append(_edge(e, f"M{sx:.1f},{sy:.1f} C{sx:.1f},{sy + mid:.1f} "
                              f"{tx:.1f},{ty - mid:.1f} {tx:.1f},{ty:.1f}", INK, arrow(INK)))
    for e in edges:
        if e.source == e.target:  # a retry: a small arc over the node's right shoulder
            b = boxes[e.source]
            a, z = b.x + b.w - 34, b.x + b.w - 10
            parts.append(_edge(e, f"M{a:.1f},{b.y:.1f} C{a:.1f},{b.y - 20:.1f} "
                                  f"{z:.1f},{b.y - 20:.1f} {z:.1f},{b.y:.1f}", INK, arrow(INK),
                               f"{escape(e.source)} retries"))

    nodes = []
    for n in order:
        b = boxes[n]
        terminal = n in TERMINALS
        nodes.append(
            f'<g class="node{" terminal" if terminal else ""}" data-id={quoteattr(n)}>'
            f'<rect x="{b.x:.1f}" y="{b.y:.1f}" width="{b.w:.1f}" height="{b.h:.1f}" '
            f'rx="{b.h / 2 if terminal else 8:.1f}"/>'
            + (f'<text x="{b.cx:.1f}" y="{b.y + b.h / 2 - 7:.1f}">{escape(b.label)}</text>'
               f'<text class="caption" x="{b.cx:.1f}" y="{b.y + b.h / 2 + 10:.1f}">'
               f"{escape(b.caption)}</text></g>" if b.caption else
               f'<text x="{b.cx:.1f}" y="{b.y + b.h / 2:.1f}">{escape(b.label)}</text></g>'))

    legend = (
        f'<g class="legend" transform="translate({MARGIN},{height - LEGEND_H + 12:.1f})">'
        f'<path d="M0,0 H28" stroke="{INK}" marker-end="{arrow(INK)}"/>'
        '<text x="36" y="0">always</text>'
        f'<path d="M0,17 H28" stroke="{INK}" stroke-dasharray="5 4" '
        f'marker-end="{arrow(INK)}"/><text x="36" y="17">routing decides</text>'
        '<text x="0" y="34">left lanes: back to an earlier node; right lanes: skip ahead</text>'
        '<text x="0" y="51">under a node: who works there / its fallbacks</text>'
        "</g>")
    markers = "".join(
        f'<marker id="{ident}-arrow-{i}" viewBox="0 0 10 10" refX="9" refY="5" '
        'markerWidth="6" markerHeight="6" orient="auto-start-reverse">'
        f'<path d="M0,0 L10,5 L0,10 z" fill="{c}"/></marker>' for i, c in enumerate(colours))
    style = (
        f"#{ident} .edge path, #{ident} .lane path, #{ident} .legend path "
        "{fill: none; stroke-width: 1.4;}"
        f"#{ident} .node rect {{fill: #f2f0ff; stroke: #4338ca; stroke-width: 1.4;}}"
        f"#{ident} .node.terminal rect {{fill: #e0e7ff;}}"
        f"#{ident} .node text {{font: {FONT}px ui-monospace, SFMono-Regular, Menlo, Consolas, "
        "'DejaVu Sans Mono', monospace; fill: #0f172a; text-anchor: middle; "
        "dominant-baseline: central;}"
        f"#{ident} .node text.caption {{font-size: 10px; fill: #475569;}}"
        f"#{ident} .legend text {{font: 12px system-ui, sans-serif; fill: #334155; "
        "dominant-baseline: central;}")
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" id="{ident}" role="img" '
        f'viewBox="0 0 {width:.0f} {height:.0f}" width="{width:.0f}" height="{height:.0f}" '
        f'aria-labelledby="{ident}-title"><title id="{ident}-title">{escape(title)}</title>'
        f"<style>{style}</style><defs>{markers}</defs>"
        '<rect width="100%" height="100%" fill="#ffffff"/>'
        + "".join(parts) + "".join(nodes) + legend + "</svg>\n")
