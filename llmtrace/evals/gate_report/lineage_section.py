"""The run's lineage (:func:`llmtrace.evals.lineage`): a graph, then its nodes and edges as
tables (the tables are what a screen reader and a printout rely on)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...errors import UserError
from ..html import escape, table
from ..html.dag import DagEdge, DagNode, dag_plot
from ..lineage_graph import Lineage

__all__ = ["lineage_body", "lineage_section"]

_MAX_DETAIL = 240


def _details(attributes: dict[str, Any]) -> str:
    shown = ", ".join(
        f"{key}={value if isinstance(value, str) else json.dumps(value, default=str)}"
        for key, value in attributes.items()
        if value not in (None, [], {}, "")
    )
    return shown if len(shown) <= _MAX_DETAIL else shown[: _MAX_DETAIL - 1] + "…"


def lineage_section(db: Path, run_id: str) -> str | None:
    """The lineage of ``run_id``, or None when the store cannot give one."""
    from ..lineage import lineage  # the registry's modules, loaded only when a report asks

    try:
        graph = lineage(run_id, db=db)
    except UserError:
        return None
    return lineage_body(graph, f"run {run_id}")


def lineage_body(graph: Lineage, subject: str) -> str:
    """A lineage graph as a figure, then its nodes and edges as tables (a gate report's run,
    a model card's release)."""
    labels = {n.id: n.label for n in graph.nodes}
    svg = dag_plot(
        [DagNode(n.id, n.kind, n.label) for n in graph.nodes],
        [DagEdge(e.source, e.target, e.relation) for e in graph.edges],
        f"lineage of {subject}",
    )
    nodes = table(
        ["kind", "node", "details"],
        [[n.kind, n.label, _details(n.attributes)] for n in graph.nodes],
        caption=f"What the {subject.split()[0]} rests on, by content hash.",
    )
    edges = table(
        ["from", "relation", "to"],
        [[labels[e.source], e.relation, labels[e.target]] for e in graph.edges],
        caption="Edges of the lineage graph.",
    )
    caption = (
        "Inputs on the left, each node right of what it rests on; hover an edge for its "
        "relation. The same graph as tables follows."
    )
    figure = f'<figure class="wide">{svg}<figcaption>{escape(caption)}</figcaption></figure>'
    return figure + nodes + edges
