"""One renderer for every llmtrace HTML page (gate reports, model cards, drift reports).

Pages are single self-contained files: inline stylesheet, no scripts, plots as inline SVG, no
network. Build a page from :class:`Section` parts with :func:`render_page`; fill the parts with
:func:`table`, :func:`facts`, :func:`decision_badge` and the plots.

Example:
    >>> from llmtrace.evals import html
    >>> body = html.table(["metric", "value"], [["quality.exact_match", 0.93]])
    >>> page = html.render_page("Model card", [html.Section("Metrics", body, "metrics")])
"""

from .dag import DagEdge, DagNode, dag_plot
from .page import Cell, Section, decision_badge, escape, facts, format_number, render_page, table
from .plots import Series, ecdf_plot, histogram_plot, interval_plot

__all__ = [
    "Cell",
    "DagEdge",
    "DagNode",
    "Section",
    "Series",
    "dag_plot",
    "decision_badge",
    "ecdf_plot",
    "escape",
    "facts",
    "format_number",
    "histogram_plot",
    "interval_plot",
    "render_page",
    "table",
]
