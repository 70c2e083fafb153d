"""``evals.gate()``: a run, optionally against a baseline, judged pass / warn / fail per bound.

Each bound of each rule becomes one gate outcome with its estimate, interval, n and decision
(see :func:`llmtrace.evals.stats.decide`): pass when the whole interval satisfies the bound, fail
when the whole interval breaks it, warn when the data cannot tell. Warn means "not shown safe",
never "safe". Each bound errs one-sided at ``(1 - confidence) / 2`` (2.5% at 0.95): a candidate
whose true value sits exactly on the bound passes it at most that often, and fails it at most
that often. With k bounds, the chance that at least one fails a candidate that meets them all
grows towards k times that; ``family_wise: holm`` in the gates file keeps it at 2.5%.

Which interval each metric gets, and the rules for awkward data:

- ``quality.*``, ``safety.*`` and the rates: Clopper-Pearson on the clustering-adjusted n;
  each example weighs once (the mean of its epochs), whatever its number of epochs.
- ``latency.p50/p95/p99_ms``: distribution-free order statistics over examples; when there are
  too few examples to bound the percentile the interval is unbounded and the bound warns.
- ``cost.usd_per_success``: Fieller's interval on per-example cost and successes.
- a safety outcome that was never checked (the target or the scorer errored) is unknown: it
  counts as a violation for the upper end of the interval and as clean for the lower end.
- ``max: 0`` on a rate fails on any observed event; with none observed it warns and reports
  the exact upper bound (a sample can never show a rate of exactly 0).
- relative bounds on a baseline of 0 are decided as ``max: 0`` on the candidate.
- a baseline bound is computed on the examples both runs share; the examples left out are
  listed, and a bound that left out candidate examples can at best warn.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..errors import UserError
from ..store.connection import connect_write
from ..store.query import default_db_path
from . import stats
from .gate_config import GateConfig, GateRule, load_gate_config, parse_gate_config
from .metrics import Clusters, RunData, load_run_data
from .runner import Run
from .stats.distributions import _z

__all__ = ["GateError", "GateOutcome", "GateResult", "gate"]

PERCENTILES = {"latency.p50_ms": 50.0, "latency.p95_ms": 95.0, "latency.p99_ms": 99.0}
Kind = Literal["bounded", "mean", "total", "percentile", "ratio"]
Direction = Literal["min", "max"]


class GateError(UserError):
    """The gate cannot be decided as asked (unknown run or scorer, runs not comparable): the
    CLI exits 2."""


@dataclass(frozen=True)
class GateOutcome:
    """One bound of one rule, decided."""

    metric: str
    rule: str
    decision: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    reason: str = ""
    excluded: tuple[str, ...] = ()


@dataclass
class GateResult:
    """The release decision and its evidence."""

    decision: str
    candidate_run_id: str
    baseline_run_id: str | None
    confidence: float
    strict: bool
    gates: list[GateOutcome] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    family_wise: str = "none"

    @property
    def passed(self) -> bool:
        return self.decision != "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "passed": self.passed,
            "candidate_run_id": self.candidate_run_id,
            "baseline_run_id": self.baseline_run_id,
            "confidence": self.confidence,
            "strict": self.strict,
            "family_wise": self.family_wise,
            "overrides": self.overrides,
            "gates": [{**vars(g), "excluded": list(g.excluded)} for g in self.gates],
        }


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
            f"{len(keys)} shared examples cannot bound p{PERCENTILES[metric]:g} at "
            f"{config.confidence:.0%} (needs at least {needed}); a bootstrap here would "
            "under-state the tail"
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
    interval_at, notes = _absolute_interval_at(metric, candidate, config)
    bounds = []
    if rule.min is not None:
        bounds.append(
            _Bound(metric, f"{metric} >= {_fmt(rule.min)}", rule.min, "min", interval_at, notes)
        )
    if rule.max is not None:
        bounds.append(
            _Bound(metric, f"{metric} <= {_fmt(rule.max)}", rule.max, "max", interval_at, notes)
        )
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
    if metric in PERCENTILES:
        floor = _percentile_floor_note(metric, keys, config)
        if floor:
            notes.append(floor)
            cap = cap or "at best warn: too few examples for a percentile comparison"
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


# --- deciding ---------------------------------------------------------------------------------
def _inconclusive(interval: stats.Interval, bound: float, confidence: float) -> str:
    text = (
        f"inconclusive: the {confidence:.0%} interval [{_fmt(interval.low)}, "
        f"{_fmt(interval.high)}] straddles {_fmt(bound)}"
    )
    if not (math.isfinite(interval.low) and math.isfinite(interval.high)):
        return text
    se = interval.se or (interval.high - interval.low) / (2 * _z(confidence))
    if not se:
        return text
    mde = stats.minimum_detectable_effect(se, confidence)
    needed = stats.required_n(interval.n, se, abs(interval.estimate - bound), confidence)
    edge = _edge_n(interval, bound, confidence)
    if edge is not None:
        needed = max(needed or 0, edge)
    text += f"; at n={interval.n} the minimum detectable effect is {_fmt(mde)}"
    if needed is not None:
        text += f"; about {needed} examples would decide it at the observed distance"
    else:
        text += "; the estimate sits on the bound, so no sample size would decide it"
    return text


def _edge_n(interval: stats.Interval, bound: float, confidence: float) -> int | None:
    """For a [0, 1] estimate at 0 or 1, the examples a flawless sample needs to clear the
    bound exactly (Clopper-Pearson of n/n or 0/n), which the normal approximation misses."""
    alpha = (1.0 - confidence) / 2.0
    if interval.estimate == 1.0 and 0.0 < bound < 1.0 and interval.high == 1.0:
        return math.ceil(math.log(alpha) / math.log(bound))
    if interval.estimate == 0.0 and 0.0 < bound < 1.0 and interval.low == 0.0:
        return math.ceil(math.log(alpha) / math.log(1.0 - bound))
    return None


def _zero_bound_note(interval: stats.Interval, confidence: float) -> str:
    return (
        f"none observed in {interval.n} examples (their epochs may agree, so each example "
        f"counts once); the rate is below {_fmt(interval.high)} at "
        f"{1 - (1 - confidence) / 2:.1%} (exact); a sample cannot show a rate of exactly 0, so "
        f"max: 0 fails on any violation and otherwise warns (this sample would pass max: "
        f"{_fmt(_round_up(interval.high))})"
    )


def _round_up(value: float) -> float:
    digits = 2 - math.floor(math.log10(value)) if value > 0 else 2
    scale = math.pow(10.0, digits)
    return math.ceil(value * scale) / scale


def _decide(bound: _Bound, confidence: float) -> GateOutcome:
    interval = bound.interval_at(confidence)
    decision: str = stats.decide(interval, bound.bound, bound.direction)
    reasons = []
    if decision == "warn":
        zero_rate = (
            bound.bound == 0
            and bound.direction == "max"
            and _kind(bound.metric) == "bounded"
            and interval.low == 0
        )
        reasons.append(
            _zero_bound_note(interval, confidence)
            if zero_rate
            else _inconclusive(interval, bound.bound, confidence)
        )
    if decision == "pass" and bound.at_best_warn:
        decision = "warn"
        reasons.append(bound.at_best_warn)
    reasons += [interval.note, *bound.notes]
    estimate = interval.estimate if math.isfinite(interval.estimate) else None
    return GateOutcome(
        bound.metric,
        bound.rule,
        decision,
        estimate,
        interval.low,
        interval.high,
        interval.n,
        "; ".join(r for r in reasons if r),
        bound.excluded,
    )


def _holm(bounds: list[_Bound], outcomes: list[GateOutcome], confidence: float) -> None:
    """Holm's step-down over every bound's one-sided p-value of failing: a fail stands only if
    Holm rejects its bound; otherwise it becomes warn and says so."""
    alpha = (1.0 - confidence) / 2.0
    p_values = [
        stats.one_sided_p_value(b.interval_at, b.bound, b.direction, "fail")
        if o.decision == "fail"
        else 1.0
        for b, o in zip(bounds, outcomes, strict=True)
    ]
    m = len(bounds)
    rejected = set()
    for rank, index in enumerate(sorted(range(m), key=lambda i: p_values[i])):
        if p_values[index] > alpha / (m - rank):
            break
        rejected.add(index)
    for i, outcome in enumerate(outcomes):
        if outcome.decision == "fail" and i not in rejected:
            note = (
                f"fails alone (one-sided p={p_values[i]:.3g}) but not after Holm's correction "
                f"over {m} bounds"
            )
            reason = "; ".join(r for r in (note, outcome.reason) if r)
            outcomes[i] = replace(outcome, decision="warn", reason=reason)


def _mismatches(candidate: RunData, baseline: RunData) -> list[str]:
    problems = []
    if candidate.run["dataset_version"] != baseline.run["dataset_version"]:
        problems.append(
            f"dataset versions differ: candidate {candidate.run['dataset_version']}, "
            f"baseline {baseline.run['dataset_version']}"
        )
    for scorer in sorted(set(candidate.judge_versions) & set(baseline.judge_versions)):
        ours, theirs = candidate.judge_versions[scorer], baseline.judge_versions[scorer]
        if ours != theirs:
            problems.append(
                f"scorer {scorer!r} judged by different versions: candidate {ours}, "
                f"baseline {theirs}"
            )
    return problems


def _load(run: Run | str, db: Path) -> RunData:
    run_id = run.id if isinstance(run, Run) else run
    data = load_run_data(db, run_id)
    if data is None:
        raise GateError(f"no run {run_id!r} in {db}")
    if data.run["status"] != "completed":
        raise GateError(f"run {run_id} is {data.run['status']}, not completed")
    return data


def _config(config: str | os.PathLike[str] | dict[str, Any] | GateConfig) -> GateConfig:
    if isinstance(config, GateConfig):
        return config
    if isinstance(config, dict):
        return parse_gate_config(config, "gate config")
    return load_gate_config(config)


def _store(db: Path, result: GateResult) -> None:
    conn = connect_write(db, timeout_s=30.0)
    try:
        conn.executemany(
            "INSERT INTO gate_results (run_id, baseline_run_id, metric, rule, estimate, ci_low, "
            "ci_high, n, decision, reason, overrides) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    result.candidate_run_id,
                    result.baseline_run_id,
                    g.metric,
                    g.rule,
                    _finite(g.estimate),
                    _finite(g.ci_low),
                    _finite(g.ci_high),
                    g.n,
                    g.decision,
                    g.reason,
                    json.dumps(result.overrides),
                ]
                for g in result.gates
            ],
        )
    finally:
        conn.close()


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def decide_rules(
    config: GateConfig, candidate: RunData, baseline: RunData | None
) -> list[GateOutcome]:
    """Every bound of every rule decided, with Holm's correction when the config asks."""
    bounds = [b for rule in config.gates for b in _bounds(rule, candidate, baseline, config)]
    outcomes = [_decide(b, config.confidence) for b in bounds]
    if config.family_wise == "holm":
        _holm(bounds, outcomes, config.confidence)
    return outcomes


def gate(
    candidate: Run | str,
    baseline: Run | str | None = None,
    config: str | os.PathLike[str] | dict[str, Any] | GateConfig = "gates.yaml",
    *,
    strict: bool = False,
    allow_mismatch: bool = False,
    db: str | os.PathLike[str] | None = None,
) -> GateResult:
    """Decide a release: every rule of ``config`` against ``candidate`` (and ``baseline``).

    Example:
        >>> result = evals.gate(candidate=run, baseline=base_run, config="gates.yaml")
        >>> result.decision, [(g.metric, g.decision) for g in result.gates]
    """
    parsed = _config(config)
    path = default_db_path(db or (candidate.db_path if isinstance(candidate, Run) else None))
    cand = _load(candidate, path)
    base = _load(baseline, path) if baseline is not None else None
    overrides: list[str] = []
    if base is not None:
        problems = _mismatches(cand, base)
        if problems and not allow_mismatch:
            raise GateError(
                "runs are not comparable: "
                + "; ".join(problems)
                + " (pass --allow-mismatch to compare anyway; it is recorded)"
            )
        overrides = [f"allowed mismatch: {p}" for p in problems]
    outcomes = decide_rules(parsed, cand, base)
    if strict:
        outcomes = [
            replace(o, decision="fail", reason="strict: " + o.reason) if o.decision == "warn" else o
            for o in outcomes
        ]
    decisions = {o.decision for o in outcomes}
    decision = "fail" if "fail" in decisions else "warn" if "warn" in decisions else "pass"
    result = GateResult(
        decision,
        cand.run["run_id"],
        base.run["run_id"] if base else None,
        parsed.confidence,
        strict,
        outcomes,
        overrides,
        parsed.family_wise,
    )
    _store(path, result)
    return result
