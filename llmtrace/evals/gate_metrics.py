"""The gate-metric registry: every metric a gates file can name, declared once with its name
pattern, kind (which interval it takes), direction and what it reads from a run.

Adding a gate metric is one declaration here: ``@gate_metric("name", kind=...,
higher_is_better=...)`` on a function ``(metric, run) -> {example id: [values per epoch]}``.
Gate validation (``gate_config.py``), intervals (``gate_bounds.py``) and sample-size planning
(``plan.py``) all read this table. (The trace gate's metrics are still their own table in
``production/trace_metrics.py``, and ``data.*`` rules are exact checks in ``data_checks.py``.)"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from . import stats
from .gate_outcomes import GateError
from .metrics import Clusters, RunData

__all__ = ["REGISTRY", "GateMetric", "find_metric", "gate_metric", "metric_names"]


Kind = Literal["bounded", "mean", "total", "percentile", "ratio", "agreement"]
Direction = Literal["min", "max"]
ClustersOf = Callable[[str, RunData], Clusters]


# --- the registry -----------------------------------------------------------------------------
@dataclass(frozen=True)
class GateMetric:
    """One gate metric, declared once with :func:`gate_metric`.

    ``name`` is what a gates file writes; a ``<part>`` in it stands for a name (a scorer's).
    ``kind`` chooses the interval (:mod:`llmtrace.evals.gate_bounds`): ``bounded`` values in
    [0, 1] (Clopper-Pearson on the effective n), ``mean`` / ``total`` unbounded values
    (skew-corrected t), ``percentile`` (order statistics), ``ratio`` (Fieller on cost and
    successes), ``agreement`` (a judge's stored calibration, not measured on the run).
    ``clusters`` reads its per-example observations from a run.
    """

    name: str
    kind: Kind
    higher_is_better: bool
    clusters: ClustersOf | None
    percentile: float | None = None
    absolute_only: bool = False
    pattern: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        parts = re.split(r"<[a-z]+>", self.name)
        regex = "[A-Za-z0-9_\\-]+".join(re.escape(p) for p in parts)
        object.__setattr__(self, "pattern", re.compile(f"^{regex}$"))


REGISTRY: list[GateMetric] = []


def gate_metric(
    name: str,
    *,
    kind: Kind,
    higher_is_better: bool = False,
    percentile: float | None = None,
    absolute_only: bool = False,
) -> Callable[[ClustersOf], ClustersOf]:
    """Register the decorated ``clusters(metric, run) -> {example id: [values]}`` as the
    gate metric ``name``. Earlier declarations win where names overlap (an exact name before
    a ``<part>`` pattern)."""

    def register(clusters: ClustersOf) -> ClustersOf:
        REGISTRY.append(
            GateMetric(name, kind, higher_is_better, clusters, percentile, absolute_only)
        )
        return clusters

    return register


def find_metric(metric: str) -> GateMetric | None:
    """The registered metric a gates file's ``metric`` names, or None."""
    return next((m for m in REGISTRY if m.pattern.match(metric)), None)


def metric_names() -> list[str]:
    return [m.name for m in REGISTRY]


# --- the metrics of an eval run ----------------------------------------------------------------
@gate_metric("errors.rate", kind="bounded")
def _errors(metric: str, data: RunData) -> Clusters:
    return data.errors


@gate_metric("safety.violation_rate", kind="bounded")
def _violations(metric: str, data: RunData) -> Clusters:
    return data.violation


def _latency(metric: str, data: RunData) -> Clusters:
    return data.latency_ms


for _q in (50, 95, 99):
    gate_metric(f"latency.p{_q}_ms", kind="percentile", percentile=float(_q))(_latency)
gate_metric("latency.mean_ms", kind="mean")(_latency)


def _cost(metric: str, data: RunData) -> Clusters:
    return data.cost_usd


gate_metric("cost.usd_total", kind="total")(_cost)
gate_metric("cost.usd_per_example", kind="mean")(_cost)
gate_metric("cost.usd_per_success", kind="ratio")(_cost)  # over data.success


@gate_metric("tokens.per_example", kind="mean")
def _tokens(metric: str, data: RunData) -> Clusters:
    return data.tokens


def _scores(metric: str, data: RunData) -> Clusters:
    family, _, scorer = metric.partition(".")
    kind = data.scorer_kinds.get(scorer)
    if kind is None:
        known = sorted(f"{k}.{s}" for s, k in data.scorer_kinds.items())
        raise GateError(
            f"{metric}: run {data.run['run_id']} has no scorer {scorer!r}; "
            f"its scorer metrics are {known}"
        )
    if kind != family:
        raise GateError(f"{metric}: scorer {scorer!r} is a {kind} scorer; use {kind}.{scorer}")
    return data.scores.get(scorer, {})


gate_metric("quality.<scorer>", kind="bounded", higher_is_better=True)(_scores)
gate_metric("safety.<scorer>", kind="bounded")(_scores)
# read from the judge version's stored calibration (gate_judges.py), not from the run
REGISTRY.append(GateMetric("judge.<scorer>.agreement", "agreement", True, None, absolute_only=True))
JUDGE_AGREEMENT = re.compile(r"^judge\.(?P<judge>[A-Za-z0-9_\-]+)\.agreement$")
PERCENTILES = {m.name: m.percentile for m in REGISTRY if m.percentile is not None}


def _metric(metric: str) -> GateMetric:
    found = find_metric(metric)
    if found is None:
        raise GateError(f"unknown metric {metric!r}")
    return found


def _kind(metric: str) -> Kind:
    return _metric(metric).kind


def _clusters(metric: str, data: RunData) -> Clusters:
    read = _metric(metric).clusters
    if read is None:
        raise GateError(f"{metric}: not measured on a run's observations")
    return read(metric, data)


def _observed(metric: str, data: RunData, keys: Sequence[str] | None = None) -> Clusters:
    clusters = _clusters(metric, data)
    chosen = clusters if keys is None else keys
    return {k: list(clusters[k]) for k in chosen if clusters.get(k)}


def _statistic(metric: str, data: RunData) -> Callable[[Sequence[str]], float]:
    """The metric recomputed on a chosen list of example ids (for bootstrap resamples); NaN
    where it is undefined (no success at all, 0/0)."""
    kind = _kind(metric)
    values = _clusters(metric, data)
    if kind == "percentile":
        q = PERCENTILES[metric]

        return lambda keys: stats.clustered_percentile([values[k] for k in keys], q)
    if kind == "ratio":

        def per_success(keys: Sequence[str]) -> float:
            successes = sum(sum(data.success[k]) for k in keys)
            cost = sum(sum(data.cost_usd[k]) for k in keys)
            if successes:
                return cost / successes
            return math.inf if cost else math.nan

        return per_success
    if kind == "total":
        return lambda keys: float(sum(sum(values[k]) for k in keys))
    return lambda keys: float(np.mean([np.nanmean(values[k]) for k in keys]))


def _epoch_note(clusters: Clusters) -> str:
    sizes = {len(v) for v in clusters.values()}
    if len(sizes) > 1:
        return (
            f"examples have {min(sizes)} to {max(sizes)} epochs: each example weighs once "
            "(the mean of its epochs)"
        )
    return ""
