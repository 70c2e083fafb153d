"""The lineage graph itself: nodes keyed by content hashes, edges between them, and its
renderings as text, Mermaid, Graphviz DOT and JSON. Built by ``lineage``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Edge", "Lineage", "LineageNode", "to_dot", "to_mermaid", "to_text"]


def _digest(value: Any) -> str:
    canonical = json.dumps(value, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class LineageNode:
    """One input or record: ``id`` is ``kind:content-hash``."""

    id: str
    kind: str
    label: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    relation: str


@dataclass
class Lineage:
    """Nodes and edges, oldest input first; render with ``to_text``, ``to_mermaid``,
    ``to_dot`` or ``to_json``."""

    root: str
    nodes: list[LineageNode] = field(default_factory=list)
    edges: list[Edge] = field(default_factory=list)

    def add(self, kind: str, key: Any, label: str, **attributes: Any) -> str:
        node_id = f"{kind}:{key if isinstance(key, str) else _digest(key)}"
        if all(n.id != node_id for n in self.nodes):
            self.nodes.append(LineageNode(node_id, kind, label, attributes))
        return node_id

    def link(self, source: str, target: str, relation: str) -> None:
        edge = Edge(source, target, relation)
        if edge not in self.edges:
            self.edges.append(edge)

    def node(self, node_id: str) -> LineageNode:
        return next(n for n in self.nodes if n.id == node_id)

    def to_json(self) -> str:
        return json.dumps(
            {
                "root": self.root,
                "nodes": [vars(n) for n in self.nodes],
                "edges": [vars(e) for e in self.edges],
            },
            default=str,
            indent=2,
        )

    def to_text(self) -> str:
        return to_text(self)

    def to_mermaid(self) -> str:
        return to_mermaid(self)

    def to_dot(self) -> str:
        return to_dot(self)


_DETAIL_KEYS = {
    "dataset": ("rows", "content_hash", "source"),
    "prompt": ("template_hash",),
    "model": ("snapshots_seen",),
    "code": ("commit", "dirty"),
    "environment": ("packages",),
    "gate": ("baseline_run_id",),
    "approval": ("role", "note"),
    "release": ("stage",),
}


def _details(lineage: Lineage, node_id: str) -> str:
    node = lineage.node(node_id)
    shown = [
        f"{key}={json.dumps(node.attributes[key], default=str)}"
        for key in _DETAIL_KEYS.get(node.kind, ())
        if node.attributes.get(key) not in (None, [], {})
    ]
    return f"  ({', '.join(shown)})" if shown else ""


def to_text(lineage: Lineage) -> str:
    """One line per node, then one per edge: ``source --relation--> target``."""
    lines = [f"lineage of {lineage.node(lineage.root).label}", "nodes:"]
    lines += [f"  [{n.kind}] {n.label}{_details(lineage, n.id)}" for n in lineage.nodes]
    lines.append("edges:")
    lines += [
        f"  {lineage.node(e.source).label} --{e.relation}--> {lineage.node(e.target).label}"
        for e in lineage.edges
    ]
    return "\n".join(lines)


def _quoted(text: str) -> str:
    return text.replace('"', "'")


def to_mermaid(lineage: Lineage) -> str:
    """A ``graph LR`` Mermaid flowchart."""
    index = {n.id: f"n{i}" for i, n in enumerate(lineage.nodes)}
    lines = ["graph LR"]
    lines += [f'    {index[n.id]}["{_quoted(n.label)}"]' for n in lineage.nodes]
    lines += [
        f"    {index[e.source]} -->|{_quoted(e.relation)}| {index[e.target]}" for e in lineage.edges
    ]
    return "\n".join(lines)


def to_dot(lineage: Lineage) -> str:
    """A Graphviz ``digraph``; node names are the content-hash ids."""
    lines = ["digraph lineage {", "    rankdir=LR;", "    node [shape=box];"]
    lines += [f'    "{n.id}" [label="{_quoted(n.label)}"];' for n in lineage.nodes]
    lines += [
        f'    "{e.source}" -> "{e.target}" [label="{_quoted(e.relation)}"];' for e in lineage.edges
    ]
    lines.append("}")
    return "\n".join(lines)
