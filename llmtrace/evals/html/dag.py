"""A directed acyclic graph (lineage) drawn as inline SVG: inputs on the left, each node one
column right of its furthest input, edges as curves with arrow heads."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .page import escape
from .svg import document, text

__all__ = ["DagEdge", "DagNode", "dag_plot"]

_COLUMN, _ROW, _BOX_W, _BOX_H, _MARGIN = 230, 52, 196, 38, 8
_MAX_LABEL = 30


@dataclass(frozen=True)
class DagNode:
    id: str
    kind: str
    label: str


@dataclass(frozen=True)
class DagEdge:
    source: str
    target: str
    relation: str


def _columns(nodes: Sequence[DagNode], edges: Sequence[DagEdge]) -> dict[str, int]:
    """Each node's column: 0 for a node with no inputs, else one more than its furthest input
    (cycles, which a lineage never has, are cut after len(nodes) passes)."""
    column = {n.id: 0 for n in nodes}
    for _ in range(len(nodes)):
        changed = False
        for e in edges:
            if e.source in column and e.target in column and column[e.target] <= column[e.source]:
                column[e.target] = column[e.source] + 1
                changed = True
        if not changed:
            break
    return column


def _short(label: str) -> str:
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"


def _edge(start: tuple[float, float], end: tuple[float, float], relation: str) -> str:
    (x1, y1), (x2, y2) = start, end
    bend = (x2 - x1) / 2
    return (
        f'<path d="M{x1:.0f},{y1:.0f} C{x1 + bend:.0f},{y1:.0f} {x2 - bend:.0f},{y2:.0f} '
        f'{x2:.0f},{y2:.0f}" fill="none" stroke="#8a94a6" stroke-width="1.3" '
        f'marker-end="url(#llmtrace-arrow)"><title>{escape(relation)}</title></path>'
    )


def dag_plot(nodes: Sequence[DagNode], edges: Sequence[DagEdge], title: str) -> str:
    """The graph as one SVG image; each edge's relation is its tooltip and in ``title``'s
    accessible description the graph is summarised (give the full edge list as a table too)."""
    if not nodes:
        return ""
    column = _columns(nodes, edges)
    rows: dict[int, int] = {}
    for node in nodes:
        rows[column[node.id]] = rows.get(column[node.id], 0) + 1
    tallest = max(rows.values())
    filled: dict[int, int] = {}
    place: dict[str, tuple[float, float]] = {}
    for node in nodes:  # each column centred on the tallest one
        c = column[node.id]
        top = _MARGIN + (tallest - rows[c]) * _ROW / 2
        place[node.id] = (_MARGIN + c * _COLUMN, top + filled.get(c, 0) * _ROW)
        filled[c] = filled.get(c, 0) + 1
    width = _MARGIN * 2 + max(column.values()) * _COLUMN + _BOX_W
    height = _MARGIN * 2 + tallest * _ROW - (_ROW - _BOX_H)
    parts = [
        '<defs><marker id="llmtrace-arrow" viewBox="0 0 10 10" refX="10" refY="5" '
        'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
        '<path d="M0,0 L10,5 L0,10 z" fill="#8a94a6"/></marker></defs>'
    ]
    for e in edges:
        if e.source in place and e.target in place:
            (sx, sy), (tx, ty) = place[e.source], place[e.target]
            parts.append(_edge((sx + _BOX_W, sy + _BOX_H / 2), (tx, ty + _BOX_H / 2), e.relation))
    for node in nodes:
        x, y = place[node.id]
        parts.append(
            f'<rect x="{x:.0f}" y="{y:.0f}" width="{_BOX_W}" height="{_BOX_H}" rx="5" '
            f'fill="#f5f7fa" stroke="#5b6473"><title>{escape(node.label)}</title></rect>'
        )
        parts.append(text(x + 8, y + 14, node.kind, "start", "muted"))
        parts.append(text(x + 8, y + 30, _short(node.label), "start"))
    summary = f"{title}: {len(nodes)} nodes, {len(edges)} edges"
    return document(int(width), int(height), "".join(parts), summary)
