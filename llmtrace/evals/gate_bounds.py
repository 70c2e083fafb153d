"""Each rule's bounds, with the interval each is judged on (absolute or against a baseline)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from . import stats
from .gate_config import GateConfig, GateRule
from .gate_judges import agreement_interval_at
from .gate_metrics import (
    PERCENTILES,
    Direction,
    _clusters,
    _epoch_note,
    _kind,
    _observed,
    _statistic,
)
from .gate_outcomes import GateError
from .metrics import Clusters, RunData

__all__ = []


@dataclass
class _Bound:
    """One bound before its decision: how to get its interval at any confidence (Holm needs
    more than one), and what the gate must say about it."""

    metric: str
    rule: str
    bound: float
    direction: Direction
    interval_at: Callable[[float], stats.Interval]
    notes: list[str] = field(default_factory=list)
    excluded: tuple[str, ...] = ()
    at_best_warn: str = ""
    undecidable: str = ""


def _absolute_interval_at(
    metric: str, data: RunData, config: GateConfig
) -> tuple[Callable[[float], stats.Interval], list[str]]:
    kind = _kind(metric)
    clusters = _observed(metric, data)
    if not clusters:
        raise GateError(f"{metric}: run {data.run['run_id']} has no observations")
    notes = [_epoch_note(clusters)]
    if kind == "bounded":
        return (lambda c: stats.clustered_rate(clusters, c)), notes
    if kind == "mean":
        return (lambda c: stats.clustered_mean(clusters, c, skew_correction=True)), notes
    if kind == "percentile":
        q = PERCENTILES[metric]
        return (lambda c: stats.percentile_interval(clusters, q, c)), notes
    if kind == "ratio":
        keys = sorted(k for k in data.cost_usd if data.cost_usd[k])
        costs = [sum(data.cost_usd[k]) for k in keys]
        successes = [sum(data.success[k]) for k in keys]
        return (lambda c: stats.ratio_interval(costs, successes, c)), notes
    sums = {k: [float(sum(v))] for k, v in clusters.items()}
    n = len(sums)

    def total(c: float) -> stats.Interval:
        per = stats.clustered_mean(sums, c, skew_correction=True)
        return replace(per, estimate=per.estimate * n, low=per.low * n, high=per.high * n)

    return total, notes


def _paired_keys(
    metric: str, candidate: RunData, baseline: RunData
) -> tuple[list[str], tuple[str, ...], tuple[str, ...]]:
    cand, base = _observed(metric, candidate), _observed(metric, baseline)
    shared = sorted(set(cand) & set(base))
    if not shared:
        raise GateError(f"{metric}: candidate and baseline share no examples")
    return shared, tuple(sorted(set(cand) - set(base))), tuple(sorted(set(base) - set(cand)))


def _bootstrap_at(
    statistic: Callable[[Sequence[str]], float], keys: Sequence[str], config: GateConfig
) -> Callable[[float], stats.Interval]:
    values = stats.bootstrap_distribution(
        statistic, keys, resamples=config.bootstrap_resamples, seed=config.seed
    )
    estimate = statistic(keys)
    return lambda c: stats.interval_from_distribution(estimate, values, len(keys), c)


def _cluster_means(clusters: Clusters, keys: Sequence[str]) -> list[float]:
    return [float(np.nanmean(clusters[k])) for k in keys]


def _difference_at(
    metric: str, candidate: RunData, baseline: RunData, keys: list[str], config: GateConfig
) -> Callable[[float], stats.Interval]:
    """Candidate minus baseline on the shared examples."""
    kind = _kind(metric)
    cand, base = _clusters(metric, candidate), _clusters(metric, baseline)
    if kind in ("bounded", "mean"):
        c_means, b_means = _cluster_means(cand, keys), _cluster_means(base, keys)
        c_map = {k: [v] for k, v in zip(keys, c_means, strict=True)}
        b_map = {k: [v] for k, v in zip(keys, b_means, strict=True)}
        bounded = kind == "bounded"
        return lambda c: stats.paired_difference(c_map, b_map, c, bounded=bounded)
    if kind == "total":
        diffs = {k: [sum(cand[k]) - sum(base[k])] for k in keys}
        zeros = {k: [0.0] for k in keys}

        def total(c: float) -> stats.Interval:
            per = stats.paired_difference(diffs, zeros, c)
            n = len(keys)
            return replace(per, estimate=per.estimate * n, low=per.low * n, high=per.high * n)

        return total
    cand_stat, base_stat = _statistic(metric, candidate), _statistic(metric, baseline)
    return _bootstrap_at(lambda ks: cand_stat(ks) - base_stat(ks), keys, config)


def _relative_at(
    metric: str, candidate: RunData, baseline: RunData, keys: list[str], config: GateConfig
) -> Callable[[float], stats.Interval] | None:
    """Candidate / baseline - 1, in percent, on the shared examples; None when the baseline is
    exactly 0 there (the ratio is undefined)."""
    kind = _kind(metric)
    cand, base = _clusters(metric, candidate), _clusters(metric, baseline)
    if kind in ("bounded", "mean", "total"):
        reduce: Callable[[Sequence[float]], float] = (
            (lambda v: float(sum(v))) if kind == "total" else (lambda v: float(np.nanmean(v)))
        )
        c_values = [reduce(cand[k]) for k in keys]
        b_values = [reduce(base[k]) for k in keys]
        if not any(b_values):
            return None

        def relative(c: float) -> stats.Interval:
            ratio = stats.ratio_interval(c_values, b_values, c)
            return replace(
                ratio,
                estimate=(ratio.estimate - 1.0) * 100.0,
                low=(ratio.low - 1.0) * 100.0,
                high=(ratio.high - 1.0) * 100.0,
            )

        return relative
    base_stat = _statistic(metric, baseline)
    if base_stat(keys) == 0:
        return None
    cand_stat = _statistic(metric, candidate)

    def compare(ks: Sequence[str]) -> float:
        c, b = cand_stat(ks), base_stat(ks)
        if b == 0 or math.isnan(b) or math.isnan(c):
            return math.nan if c == 0 or math.isnan(c) or math.isnan(b) else math.inf
        return (c / b - 1.0) * 100.0

    return _bootstrap_at(compare, keys, config)


def _percentile_floor_note(metric: str, keys: Sequence[str], config: GateConfig) -> str:
    needed = stats.percentile_min_clusters(PERCENTILES[metric], config.confidence)
    if len(keys) < needed:
        return (
            f"warn whatever the data: {len(keys)} shared examples cannot bound "
            f"p{PERCENTILES[metric]:g} at {config.confidence:.0%} (needs at least {needed}), and "
            "a bootstrap comparison below that errs both ways (an identical-shape candidate "
            "10% slower failed max_increase_pct: 10 in 11.8% of 10-example runs); an absolute "
            f"max on {metric} can still fail"
        )
    return ""


# --- building the bounds of a rule -------------------------------------------------------------
def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _rule_notes(rule: GateRule, candidate: RunData) -> list[str]:
    metric = rule.metric
    family, _, scorer = metric.partition(".")
    notes = []
    if family == "quality" and candidate.scorer_errors.get(scorer):
        notes.append(f"{candidate.scorer_errors[scorer]} scorer error(s) left out")
    if metric == "safety.violation_rate" and not any(
        kind == "safety" for kind in candidate.scorer_kinds.values()
    ):
        notes.append("the run has no safety scorer, so no violation could have been observed")
    if metric.startswith("cost.") and candidate.unknown_cost:
        if candidate.unknown_cost >= candidate.example_epochs:
            raise GateError(
                f"{metric}: no example-epoch of run {candidate.run['run_id']} has a "
                "known cost (does the target make traced LLM calls on a priced model?)"
            )
        notes.append(f"{candidate.unknown_cost} example-epoch(s) with unknown cost counted as 0")
    return notes


def _absolute_bounds(rule: GateRule, candidate: RunData, config: GateConfig) -> list[_Bound]:
    metric = rule.metric
    cap = ""
    if _kind(metric) == "agreement":
        interval_at, notes, cap = agreement_interval_at(metric, candidate)
    else:
        interval_at, notes = _absolute_interval_at(metric, candidate, config)
    bounds = []
    if rule.min is not None:
        text = f"{metric} >= {_fmt(rule.min)}"
        bounds.append(_Bound(metric, text, rule.min, "min", interval_at, notes, (), cap))
    if rule.max is not None:
        text = f"{metric} <= {_fmt(rule.max)}"
        bounds.append(_Bound(metric, text, rule.max, "max", interval_at, notes, (), cap))
    return bounds


def _exclusion(
    only_candidate: tuple[str, ...], only_baseline: tuple[str, ...]
) -> tuple[list[str], str]:
    def listed(ids: tuple[str, ...]) -> str:
        shown = ", ".join(ids[:10])
        return shown + (f" and {len(ids) - 10} more" if len(ids) > 10 else "")

    notes = []
    if only_candidate:
        notes.append(
            f"{len(only_candidate)} candidate example(s) not in the baseline left out: "
            f"{listed(only_candidate)}"
        )
    if only_baseline:
        notes.append(
            f"{len(only_baseline)} baseline example(s) not in the candidate left out: "
            f"{listed(only_baseline)}"
        )
    cap = (
        "at best warn: the left-out candidate examples could hide a regression"
        if only_candidate
        else ""
    )
    return notes, cap


def _baseline_bounds(
    rule: GateRule, candidate: RunData, baseline: RunData, config: GateConfig
) -> list[_Bound]:
    metric = rule.metric
    keys, only_cand, only_base = _paired_keys(metric, candidate, baseline)
    notes, cap = _exclusion(only_cand, only_base)
    excluded = only_cand + only_base
    floor = _percentile_floor_note(metric, keys, config) if metric in PERCENTILES else ""
    bounds = []
    if rule.max_drop is not None or rule.max_rise is not None:
        difference = _difference_at(metric, candidate, baseline, keys, config)
        if rule.max_drop is not None:
            text = f"{metric} - baseline >= -{_fmt(rule.max_drop)}"
            bounds.append(
                _Bound(metric, text, -rule.max_drop, "min", difference, list(notes), excluded, cap)
            )
        if rule.max_rise is not None:
            text = f"{metric} - baseline <= +{_fmt(rule.max_rise)}"
            bounds.append(
                _Bound(metric, text, rule.max_rise, "max", difference, list(notes), excluded, cap)
            )
    if rule.max_increase_pct is not None:
        text = f"{metric} vs baseline <= +{_fmt(rule.max_increase_pct)}%"
        relative = _relative_at(metric, candidate, baseline, keys, config)
        if relative is None:
            # c <= (1 + pct/100) * 0 allows no rise at all: decide it as max: 0 on the
            # candidate's shared examples, with the same honesty as any max: 0.
            shared = _observed(metric, candidate, keys)
            at, _ = _absolute_interval_at_clusters(metric, shared, candidate)
            zero_note = "the baseline is 0 on the shared examples, so any rise is infinite: "
            zero_note += "decided as max: 0 on the candidate"
            bounds.append(_Bound(metric, text, 0.0, "max", at, [*notes, zero_note], excluded, cap))
        else:
            bounds.append(
                _Bound(
                    metric,
                    text,
                    rule.max_increase_pct,
                    "max",
                    relative,
                    list(notes),
                    excluded,
                    cap,
                )
            )
    for bound in bounds:
        bound.undecidable = floor
    return bounds


def _absolute_interval_at_clusters(
    metric: str, clusters: Clusters, data: RunData
) -> tuple[Callable[[float], stats.Interval], list[str]]:
    kind = _kind(metric)
    if kind == "percentile":
        q = PERCENTILES[metric]
        return (lambda c: stats.percentile_interval(clusters, q, c)), []
    if kind == "bounded":
        return (lambda c: stats.clustered_rate(clusters, c)), []
    return (lambda c: stats.clustered_mean(clusters, c, skew_correction=True)), []


def _bounds(
    rule: GateRule, candidate: RunData, baseline: RunData | None, config: GateConfig
) -> list[_Bound]:
    notes = _rule_notes(rule, candidate)
    bounds = []
    if rule.min is not None or rule.max is not None:
        bounds += _absolute_bounds(rule, candidate, config)
    if any(x is not None for x in (rule.max_drop, rule.max_rise, rule.max_increase_pct)):
        if baseline is None:
            raise GateError(
                f"{rule.metric}: max_drop, max_rise and max_increase_pct need a baseline run"
            )
        bounds += _baseline_bounds(rule, candidate, baseline, config)
    for bound in bounds:
        bound.notes = [n for n in [*notes, *bound.notes] if n]
    return bounds
