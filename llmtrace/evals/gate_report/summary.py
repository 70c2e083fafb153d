"""The top of a gate report: the verdict, the runs compared, and the gate table with a plot of
every bound's interval."""

from __future__ import annotations

import math
import re

from ..gates import GateOutcome, GateResult
from ..html import Cell, decision_badge, escape, format_number, interval_plot, table
from .data import RunView

__all__ = ["bound_of", "gate_table", "runs_table", "verdict_banner"]

_BOUND = re.compile(r"(>=|<=)\s*([+-]?(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?|[+-]?inf)%?\s*$")


def bound_of(outcome: GateOutcome) -> tuple[float | None, str | None]:
    """The bound and its direction ("min" or "max") of a decided rule. Read from the outcome
    when it carries them, else from the rule text (``metric >= 0.8``, ``... <= +10%``)."""
    bound = getattr(outcome, "bound", None)
    direction = getattr(outcome, "direction", None)
    if isinstance(bound, (int, float)) and direction in ("min", "max"):
        return float(bound), str(direction)
    match = _BOUND.search(outcome.rule)
    if match is None:
        return None, None
    if "decided as max: 0" in outcome.reason:  # a relative bound on a baseline of 0
        return 0.0, "max"
    return float(match.group(2)), "min" if match.group(1) == ">=" else "max"


def _why(result: GateResult) -> str:
    counts = {d: sum(g.decision == d for g in result.gates) for d in ("pass", "warn", "fail")}
    level = f" at {result.confidence:.0%} confidence" if result.confidence else ""
    if result.decision == "fail":
        data = sum(g.decision == "fail" and g.metric.startswith("data.") for g in result.gates)
        exact = f" {data} of them data checks: exact counts, no interval." if data else ""
        return (
            f"{counts['fail']} of {len(result.gates)} bounds shown broken{level}: "
            f"the whole interval lies on the wrong side of the bound.{exact}"
        )
    if result.decision == "warn":
        return (
            f"No bound shown broken, but {counts['warn']} of {len(result.gates)} could not be "
            f"told apart from their bound{level}. Warn means “not shown safe”, never “safe”."
        )
    return f"All {len(result.gates)} bounds shown satisfied{level}."


def verdict_banner(result: GateResult | None) -> str:
    """The decision, large, in colour, symbol and words."""
    if result is None:
        return (
            '<div class="verdict d-none" role="status"><span class="word">no gate</span>'
            '<span class="why">No gate was decided for this run. Decide one with '
            "<code>llmtrace gate --config gates.yaml --candidate RUN --html FILE</code>, or "
            "give <code>llmtrace report</code> a <code>--config</code>.</span></div>"
        )
    symbol = {"pass": "✓", "warn": "!", "fail": "✗"}.get(result.decision, "")
    strict = " Strict: warn counts as fail." if result.strict else ""
    return (
        f'<div class="verdict d-{escape(result.decision)}" role="status">'
        f'<span class="word">{symbol} {escape(result.decision)}</span>'
        f'<span class="why">{escape(_why(result) + strict)}</span></div>'
    )


def _field(run: dict[str, object], name: str, version: str) -> str:
    label, tag = run.get(name), run.get(version)
    if label is None and tag is None:
        return "–"
    return f"{label or ''}{'@' + str(tag) if tag else ''}"


def runs_table(candidate: RunView, baseline: RunView | None) -> str:
    """The triples compared, side by side."""
    views = [candidate] + ([baseline] if baseline else [])
    rows: list[list[object]] = [
        ["run id", *(Cell(f"<code>{escape(v.run_id)}</code>") for v in views)],
        ["suite", *(v.run["suite"] for v in views)],
        ["model", *(v.run["model"] for v in views)],
        ["prompt", *(_field(v.run, "prompt_name", "prompt_version") for v in views)],
        ["dataset", *(_field(v.run, "dataset_name", "dataset_version") for v in views)],
        ["examples", *(str(len(v.examples)) for v in views)],
        ["epochs", *(str(v.run["epochs"]) for v in views)],
        ["status", *(v.run["status"] for v in views)],
        ["started", *(str(v.run["started_at"])[:19] for v in views)],
    ]
    headers = ["", "candidate"] + (["baseline"] if baseline else [])
    return table(headers, rows, caption="The runs compared: one (dataset, model, prompt) each.")


def _ends(outcome: GateOutcome) -> tuple[float | None, float | None]:
    """The interval's ends. A stored gate keeps an unbounded end as NULL: with the other end
    known, a missing end is read as unbounded."""
    low, high = outcome.ci_low, outcome.ci_high
    if low is None and high is None:
        return None, None
    return (-math.inf if low is None else low), (math.inf if high is None else high)


def _interval(outcome: GateOutcome) -> str:
    low, high = _ends(outcome)
    if low is None or high is None:
        return "–"
    return f"[{format_number(low)}, {format_number(high)}]"


def gate_table(result: GateResult) -> str:
    """One row per bound: decision in words and colour, numbers, a plot, and the gate's note."""
    rows = []
    for g in result.gates:
        bound, direction = bound_of(g)
        estimate = g.estimate if g.estimate is None or math.isfinite(g.estimate) else None
        low, high = _ends(g)
        plot = interval_plot(estimate, low, high, bound, direction, g.decision)
        rows.append(
            [
                Cell(f"<code>{escape(g.rule)}</code>"),
                Cell(decision_badge(g.decision)),
                Cell(escape(format_number(g.estimate)), "num"),
                Cell(escape(_interval(g)), "num"),
                g.n,
                Cell(plot, "plot"),
            ]
        )
    level = f"{result.confidence:.0%} " if result.confidence else ""
    caption = (
        f"Each bound, decided on its {level}interval: pass when the whole interval satisfies it, "
        "fail when the whole interval breaks it, warn when it straddles the bound. In the plot "
        "the bar is the interval, the dot the estimate, the dashed line the bound, and the "
        "shaded side breaks it."
    )
    headers = ["rule", "decision", "estimate", "interval", "n", "interval against bound"]
    return table(headers, rows, caption=caption, numeric=(2, 3, 4)) + _notes(result)


def _notes(result: GateResult) -> str:
    """What the gate said about each bound, below the table (the notes are paragraphs)."""
    items = "".join(
        f"<li>{decision_badge(g.decision)} <code>{escape(g.rule)}</code>: {escape(g.reason)}</li>"
        for g in result.gates
        if g.reason
    )
    return f'<h3>Notes</h3><ul class="notes">{items}</ul>' if items else ""
