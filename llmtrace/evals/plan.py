"""``evals.plan()``: how many examples and epochs a gates file needs to detect a stated effect.

From a baseline run it estimates, per metric, how much of the spread is between examples
(only more examples shrink it) and how much is between epochs of one example (more epochs
shrink it too), then gives for each bound and each number of epochs the examples needed so
that, with probability ``power``:

- a baseline bound (``max_drop``, ``max_rise``, ``max_increase_pct``) fails a candidate whose
  true change is ``effect`` worse than the baseline (for ``max_increase_pct``, ``effect`` is in
  percent), and passes an unchanged candidate;
- an absolute bound (``min``, ``max``) passes a candidate whose truth sits ``effect`` on the
  good side of it (and fails one ``effect`` on the bad side).

Normal approximation, one-sided at ``(1 - confidence) / 2`` per end, as the gate decides.
Paired bounds assume the candidate keeps the baseline's per-example levels (what pairing
exploits) and its epoch-to-epoch spread; with one epoch in the baseline the two parts cannot be
told apart and all the spread is taken as epoch-to-epoch (so more epochs look more useful than
they may be: the plan says so). Percentile bounds also need the examples an order statistic
needs (72 for p95 at 0.95), whatever the effect.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from .._store_path import default_db_path
from . import stats
from .gate_config import GateConfig, GateRule
from .gate_metrics import PERCENTILES, _clusters, _kind
from .gates import _config, _load
from .metrics import Clusters, RunData

__all__ = ["PlanRow", "format_plan", "plan"]


@dataclass(frozen=True)
class PlanRow:
    """The examples one bound needs at each number of epochs (None: no n can do it)."""

    rule: str
    goal: str
    examples: dict[int, int | None]
    note: str = ""


@dataclass(frozen=True)
class _Odds:
    confidence: float
    power: float


@dataclass(frozen=True)
class _Spread:
    between: float  # variance of example-level means, net of epoch noise
    within: float  # variance between epochs of one example
    mean: float
    separable: bool
    density: float = math.nan  # at the 95th percentile, for percentile bounds


def _density(clusters: Clusters, q: float) -> float:
    """The density of the per-example mixture at its q-quantile, from the spread of the
    quantiles 5 points either side (a difference quotient)."""
    rows = [list(v) for v in clusters.values() if len(v)]
    low = stats.clustered_percentile(rows, max(1.0, (q - 0.05) * 100))
    high = stats.clustered_percentile(rows, min(99.9, (q + 0.05) * 100))
    return 0.1 / (high - low) if high > low else math.inf


def _spread(clusters: Clusters, percentile: float | None = None) -> _Spread:
    values = {k: [v for v in vs if not math.isnan(v)] for k, vs in clusters.items()}
    values = {k: vs for k, vs in values.items() if vs}
    if len(values) < 2:
        raise ValueError("the baseline needs at least 2 examples with observations")
    means = np.array([np.mean(v) for v in values.values()])
    multi = [np.var(v, ddof=1) for v in values.values() if len(v) > 1]
    total = float(means.var(ddof=1))
    density = _density(values, percentile) if percentile is not None else math.nan
    if not multi:
        return _Spread(0.0, total, float(means.mean()), False, density)
    within = float(np.mean(multi))
    epochs = float(np.mean([len(v) for v in values.values()]))
    between = max(0.0, total - within / epochs)
    return _Spread(between, within, float(means.mean()), True, density)


def _n(variance_one: float, distance: float, confidence: float, power: float) -> int | None:
    if distance <= 0:
        return None
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0) + NormalDist().inv_cdf(power)
    return max(2, math.ceil(z * z * variance_one / (distance * distance)))


def _paired_rows(
    rule: GateRule, spread: _Spread, effect: float, epochs: Sequence[int], odds: _Odds
) -> list[PlanRow]:
    rows = []
    bounds: list[tuple[str, float, float]] = []  # text, allowance, scale of the effect
    if rule.max_drop is not None:
        bounds.append((f"{rule.metric} - baseline >= -{rule.max_drop:g}", rule.max_drop, 1.0))
    if rule.max_rise is not None:
        bounds.append((f"{rule.metric} - baseline <= +{rule.max_rise:g}", rule.max_rise, 1.0))
    if rule.max_increase_pct is not None:
        text = f"{rule.metric} vs baseline <= +{rule.max_increase_pct:g}%"
        scale = 100.0 / spread.mean if spread.mean else math.nan
        bounds.append((text, rule.max_increase_pct, scale))
    for text, allowance, scale in bounds:
        if math.isnan(scale):
            rows.append(PlanRow(text, "-", {}, "the baseline is 0: a relative bound has no scale"))
            continue
        unit = "%" if scale != 1.0 else ""

        def variance(k: int, scale: float = scale) -> float:
            return 2.0 * spread.within / k * scale * scale

        bounded = scale == 1.0 and _kind(rule.metric) == "bounded"

        def needed(distance: float, k: int, bounded: bool = bounded) -> int | None:
            n = _n(variance(k), distance, odds.confidence, odds.power)
            if n is None or not bounded:
                return n
            # the interval of a [0, 1] difference is never narrower than the exact bound on
            # the share of examples that changed at all (stats.paired_difference)
            return max(n, _zero_count_n(distance, odds.confidence))

        fail = {k: needed(effect - allowance, k) for k in epochs}
        never = "" if effect > allowance else "a change within the allowance never fails"
        rows.append(PlanRow(text, f"fail a change of {effect:g}{unit}", fail, never))
        if allowance > 0:
            keep = {k: needed(allowance, k) for k in epochs}
            rows.append(PlanRow(text, "pass an unchanged candidate", keep))
    return rows


def _zero_count_n(distance: float, confidence: float) -> int:
    """The fewest examples whose zero-count bound (stats.zero_count_upper_bound) is below
    ``distance``."""
    if distance >= 1.0:
        return 1
    return math.ceil(math.log((1.0 - confidence) / 2.0) / math.log(1.0 - distance))


def _absolute_rows(
    rule: GateRule, spread: _Spread, effect: float, epochs: Sequence[int], odds: _Odds
) -> list[PlanRow]:
    rows = []
    alpha = (1.0 - odds.confidence) / 2.0
    for bound, direction in ((rule.min, "min"), (rule.max, "max")):
        if bound is None:
            continue
        text = f"{rule.metric} {'>=' if direction == 'min' else '<='} {bound:g}"
        note = ""
        floor = 0
        if _kind(rule.metric) == "bounded":
            truth = bound + effect if direction == "min" else bound - effect
            # even a perfect sample must clear the bound: Clopper-Pearson of n/n (or 0/n)
            edge = bound if direction == "min" else 1.0 - bound
            if 0.0 < edge < 1.0:
                floor = math.ceil(math.log(alpha) / math.log(edge))
            within = spread.within if spread.separable else truth * (1.0 - truth)
            between = spread.between if spread.separable else 0.0
        else:
            within, between = spread.within, spread.between
        if rule.metric in PERCENTILES:
            q = PERCENTILES[rule.metric] / 100.0
            floor = stats.percentile_min_clusters(q * 100.0, odds.confidence)
            note = (
                f"percentiles count examples, not epochs; an order statistic needs at least "
                f"{floor} examples to bound p{q * 100:g}"
            )
            # the sample quantile's variance q(1-q) / (n f^2), f the density at the quantile
            within, between = 0.0, q * (1.0 - q) / spread.density**2
        examples = {}
        for k in epochs:
            n = _n(between + within / k, effect, odds.confidence, odds.power)
            examples[k] = None if n is None else max(n, floor)
        rows.append(PlanRow(text, f"pass a truth {effect:g} inside the bound", examples, note))
    return rows


def plan(
    config: str | os.PathLike[str] | dict[str, Any] | GateConfig,
    baseline: str,
    *,
    effect: float | Mapping[str, float],
    power: float = 0.8,
    epochs: Sequence[int] = (1, 2, 3, 5),
    db: str | os.PathLike[str] | None = None,
) -> list[PlanRow]:
    """Examples needed per bound of ``config`` and per number of epochs (see the module
    docstring for what "needed" means and what is assumed).

    ``effect`` is in each metric's own units (percent for ``max_increase_pct``): one number
    for every rule, or a mapping from metric name to effect (rules without one are listed as
    such).

    Example:
        >>> for row in evals.plan("gates.yaml", baseline=run.id, effect=0.05):
        ...     print(row.rule, row.goal, row.examples)
    """
    if not 0.5 <= power < 1.0:
        raise ValueError(f"power must be in [0.5, 1), got {power!r}")
    for value in effect.values() if isinstance(effect, Mapping) else [effect]:
        if not value > 0:
            raise ValueError(f"effect must be above 0, got {value!r}")
    parsed = _config(config)
    data: RunData = _load(baseline, default_db_path(db))
    odds = _Odds(parsed.confidence, power)
    rows: list[PlanRow] = []
    for rule in parsed.gates:
        stated = _effect_for(rule.metric, effect)
        if stated is None:
            rows.append(PlanRow(rule.metric, "-", {}, f"no effect stated for {rule.metric}"))
            continue
        q = PERCENTILES.get(rule.metric)
        spread = _spread(_clusters(rule.metric, data), None if q is None else q / 100.0)
        note = (
            ""
            if spread.separable
            else "the baseline has 1 epoch, so epoch-to-epoch spread is assumed to be all of it"
        )
        made = _absolute_rows(rule, spread, stated, epochs, odds)
        made += _paired_rows(rule, spread, stated, epochs, odds)
        rows += [
            PlanRow(r.rule, r.goal, r.examples, "; ".join(x for x in (r.note, note) if x))
            for r in made
        ]
    return rows


def _effect_for(metric: str, effect: float | Mapping[str, float]) -> float | None:
    if isinstance(effect, Mapping):
        return effect.get(metric)
    return effect


def _cell(row: PlanRow, epochs: int) -> str:
    if not row.examples:
        return "-"
    needed = row.examples.get(epochs)
    return "never" if needed is None else str(needed)


def format_plan(rows: Sequence[PlanRow], epochs: Sequence[int] = (1, 2, 3, 5)) -> str:
    """The plan as a plain-text table, one line per bound and goal."""
    header = ["rule", "goal", *[f"{k} epoch{'s' if k > 1 else ''}" for k in epochs]]
    body = [
        [
            r.rule,
            r.goal,
            *[_cell(r, k) for k in epochs],
        ]
        for r in rows
    ]
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
        for row in [header, *body]
    ]
    notes = sorted({r.note for r in rows if r.note})
    return "\n".join([*lines, *(f"note: {n}" for n in notes)]) + "\n"
