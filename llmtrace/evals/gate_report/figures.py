"""Distributions of candidate against baseline: scores, latency, and cost per example."""

from __future__ import annotations

import numpy as np

from ..html import Series, ecdf_plot, escape, histogram_plot, table
from .data import RunView

__all__ = ["cost_section", "distributions_section", "legend"]


def legend(candidate: RunView, baseline: RunView | None) -> str:
    """Which line is which, in words as well as line style."""
    text = (
        f'<p class="legend"><span class="swatch"></span>candidate '
        f"<code>{escape(candidate.run_id)}</code>"
    )
    if baseline is not None:
        text += (
            f'<span class="swatch base"></span>baseline (dashed) '
            f"<code>{escape(baseline.run_id)}</code>"
        )
    return text + "</p>"


def _series(
    candidate: RunView, baseline: RunView | None, values: dict[str, list[float]]
) -> list[Series]:
    series = [Series("candidate", values["cand"], "cand")]
    if baseline is not None:
        series.append(Series("baseline", values["base"], "base"))
    return series


def _scores(view: RunView | None, scorer: str) -> list[float]:
    if view is None:
        return []
    means = (e.mean_score(scorer) for e in view.examples.values())
    return [m for m in means if m is not None]


def _bins(kind: str, values: list[float]) -> tuple[list[float], list[tuple[float, str]]]:
    """Bin edges, and named ticks for a score that is only ever 0 or 1."""
    if values and all(v in (0.0, 1.0) for v in values):
        names = ("0 clean", "1 violation") if kind == "safety" else ("0 fail", "1 pass")
        return [0.0, 0.5, 1.0], [(0.25, names[0]), (0.75, names[1])]
    lo = min([0.0, *values])
    hi = max([1.0, *values])
    return [float(e) for e in np.linspace(lo, hi, 11)], []


def _figure(svg: str, caption: str) -> str:
    if not svg:
        return f"<figure><figcaption>{escape(caption)}: no values.</figcaption></figure>"
    return f"<figure>{svg}<figcaption>{escape(caption)}</figcaption></figure>"


def distributions_section(candidate: RunView, baseline: RunView | None) -> str:
    """A histogram of each scorer's per-example mean, and the latency ECDF."""
    figures = []
    for scorer, (kind, _model, _version) in sorted(candidate.scorers.items()):
        values = {"cand": _scores(candidate, scorer), "base": _scores(baseline, scorer)}
        title = f"{kind}.{scorer}: per-example mean score"
        edges, ticks = _bins(kind, values["cand"] + values["base"])
        series = _series(candidate, baseline, values)
        svg = histogram_plot(series, edges, "score (mean over epochs)", title, ticks)
        figures.append(_figure(svg, title))
    latency = {
        "cand": candidate.latencies(),
        "base": baseline.latencies() if baseline else [],
    }
    title = "latency of the target, per example-epoch"
    svg = ecdf_plot(_series(candidate, baseline, latency), "latency (ms)", title)
    figures.append(_figure(svg, title + " (ECDF: the share of example-epochs at or below x)"))
    return legend(candidate, baseline) + '<div class="figures">' + "".join(figures) + "</div>"


def _cost_row(label: str, view: RunView) -> list[object]:
    costs = view.costs_per_example()
    known = sum(len(e.cost_usd) for e in view.examples.values())
    epochs = sum(e.epochs for e in view.examples.values())
    successes = sum(e.successes for e in view.examples.values())
    total = float(sum(sum(e.cost_usd) for e in view.examples.values()))
    if not costs:
        return [label, None, None, None, None, None, f"0 of {epochs}"]
    return [
        label,
        float(np.mean(costs)),
        float(np.median(costs)),
        float(np.percentile(costs, 95)),
        total,
        total / successes if successes else None,
        f"{known} of {epochs}",
    ]


def cost_section(candidate: RunView, baseline: RunView | None) -> str:
    """Cost per example (the mean over its epochs of its trace's cost): a table and an ECDF."""
    rows = [_cost_row("candidate", candidate)]
    if baseline is not None:
        rows.append(_cost_row("baseline", baseline))
    summary = table(
        [
            "run",
            "mean USD",
            "median USD",
            "p95 USD",
            "total USD",
            "USD per success",
            "example-epochs priced",
        ],
        rows,
        caption="Cost per example: the mean over its epochs of its trace's priced LLM calls. "
        "A success (as in cost.usd_per_success) is an example-epoch with no error and every "
        "quality scorer at least 0.5.",
        numeric=(1, 2, 3, 4, 5, 6),
    )
    costs = {
        "cand": candidate.costs_per_example(),
        "base": baseline.costs_per_example() if baseline else [],
    }
    title = "cost per example"
    svg = ecdf_plot(_series(candidate, baseline, costs), "cost per example (USD)", title)
    note = ""
    if not costs["cand"]:
        note = (
            '<p class="muted">No example of the candidate has a priced trace (does the target '
            "make traced LLM calls on a model with a known price?).</p>"
        )
    figure = _figure(svg, title + " (ECDF: the share of examples at or below x)")
    return summary + note + legend(candidate, baseline) + figure
