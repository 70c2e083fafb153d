"""Lineage as text, Mermaid and Graphviz DOT (JSON is ``Lineage.to_json``)."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .lineage import Lineage

__all__ = ["to_dot", "to_mermaid", "to_text"]

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
