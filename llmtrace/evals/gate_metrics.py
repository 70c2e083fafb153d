"""What each gate metric reads from a run: its kind and its per-example clusters."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Literal

import numpy as np

from . import stats
from .gate_outcomes import GateError
from .metrics import Clusters, RunData

__all__ = []


PERCENTILES = {"latency.p50_ms": 50.0, "latency.p95_ms": 95.0, "latency.p99_ms": 99.0}
Kind = Literal["bounded", "mean", "total", "percentile", "ratio"]
Direction = Literal["min", "max"]


# --- metrics ----------------------------------------------------------------------------------
def _kind(metric: str) -> Kind:
    if metric in PERCENTILES:
        return "percentile"
    if metric == "cost.usd_per_success":
        return "ratio"
    if metric == "cost.usd_total":
        return "total"
    if metric in ("errors.rate", "safety.violation_rate") or metric.startswith(
        ("safety.", "quality.")
    ):
        return "bounded"
    return "mean"


def _clusters(metric: str, data: RunData) -> Clusters:
    fixed = {
        "errors.rate": data.errors,
        "safety.violation_rate": data.violation,
        "latency.mean_ms": data.latency_ms,
        "cost.usd_per_example": data.cost_usd,
        "cost.usd_total": data.cost_usd,
        "cost.usd_per_success": data.cost_usd,
        "tokens.per_example": data.tokens,
    }
    if metric in fixed:
        return fixed[metric]
    if metric in PERCENTILES:
        return data.latency_ms
    family, _, scorer = metric.partition(".")
    if family in ("quality", "safety"):
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
    raise GateError(f"unknown metric {metric!r}")


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
