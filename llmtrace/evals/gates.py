"""``evals.gate()``: a run, optionally against a baseline, judged pass / warn / fail per rule.

Each bound of each rule becomes one gate outcome with its estimate, interval, n and decision
(see :func:`llmtrace.evals.stats.decide`); the result is fail if any outcome fails, else warn if
any warns, else pass. ``strict=True`` turns warn into fail. The evidence is stored in
``gate_results`` beside the candidate run.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from ..store.connection import connect_write
from ..store.query import default_db_path
from . import stats
from .gate_config import GateConfig, GateRule, load_gate_config, parse_gate_config
from .metrics import Clusters, RunData, load_run_data
from .runner import Run

__all__ = ["GateError", "GateOutcome", "GateResult", "gate"]

PERCENTILES = {"latency.p50_ms": 50.0, "latency.p95_ms": 95.0, "latency.p99_ms": 99.0}
MIN_PERCENTILE_OBSERVATIONS = 20
Kind = Literal["mean", "rate", "total", "percentile", "ratio"]


class GateError(ValueError):
    """The gate cannot be decided as asked (unknown run or scorer, runs not comparable,
    too little data for a percentile): the CLI exits 2."""


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
            "overrides": self.overrides,
            "gates": [vars(g) for g in self.gates],
        }


# --- metrics ----------------------------------------------------------------------------------
def _kind(metric: str, data: RunData) -> Kind:
    if metric in PERCENTILES:
        return "percentile"
    if metric == "cost.usd_per_success":
        return "ratio"
    if metric == "cost.usd_total":
        return "total"
    if metric in ("errors.rate", "safety.violation_rate") or metric.startswith("safety."):
        return "rate"
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


def _statistic(metric: str, data: RunData) -> Callable[[Sequence[str]], float]:
    """The metric recomputed on a chosen list of example ids (for bootstrap resamples)."""
    kind = _kind(metric, data)
    values = _clusters(metric, data)
    if kind == "percentile":
        q = PERCENTILES[metric]
        return lambda keys: float(np.percentile([v for k in keys for v in values[k]], q))
    if kind == "ratio":

        def per_success(keys: Sequence[str]) -> float:
            successes = sum(sum(data.success[k]) for k in keys)
            cost = sum(sum(data.cost_usd[k]) for k in keys)
            return cost / successes if successes else math.inf

        return per_success
    if kind == "total":
        return lambda keys: float(sum(sum(values[k]) for k in keys))
    return lambda keys: float(np.mean([np.mean(values[k]) for k in keys]))


def _absolute_interval(metric: str, data: RunData, config: GateConfig) -> stats.Interval:
    kind = _kind(metric, data)
    clusters = {k: v for k, v in _clusters(metric, data).items() if v}
    if not clusters:
        raise GateError(f"{metric}: run {data.run['run_id']} has no observations")
    if kind == "mean":
        return stats.clustered_mean(clusters, config.confidence)
    if kind == "rate":
        return stats.clustered_rate(clusters, config.confidence)
    if kind == "total":
        sums = np.array([sum(v) for v in clusters.values()])
        n = len(sums)
        se = float(math.sqrt(n) * sums.std(ddof=1)) if n > 1 else 0.0
        return stats._t_interval(float(sums.sum()), se, n, config.confidence)
    observations = sum(len(v) for v in clusters.values())
    if kind == "percentile" and observations < MIN_PERCENTILE_OBSERVATIONS:
        raise GateError(
            f"{metric}: percentile gates need at least "
            f"{MIN_PERCENTILE_OBSERVATIONS} observations; run "
            f"{data.run['run_id']} has {observations} (unsupported)"
        )
    keys = sorted(clusters)
    return stats.bootstrap_interval(
        _statistic(metric, data),
        keys,
        config.confidence,
        resamples=config.bootstrap_resamples,
        seed=config.seed,
    )


def _paired_interval(
    metric: str, candidate: RunData, baseline: RunData, config: GateConfig, relative: bool
) -> stats.Interval:
    kind = _kind(metric, candidate)
    cand, base = _clusters(metric, candidate), _clusters(metric, baseline)
    shared = sorted(k for k in set(cand) & set(base) if cand[k] and base[k])
    if not shared:
        raise GateError(f"{metric}: candidate and baseline share no examples")
    if not relative and kind in ("mean", "rate"):
        return stats.paired_difference(
            {k: cand[k] for k in shared}, {k: base[k] for k in shared}, config.confidence
        )
    if (
        kind == "percentile"
        and min(sum(len(cand[k]) for k in shared), sum(len(base[k]) for k in shared))
        < MIN_PERCENTILE_OBSERVATIONS
    ):
        raise GateError(
            f"{metric}: percentile gates need at least "
            f"{MIN_PERCENTILE_OBSERVATIONS} observations per run (unsupported)"
        )
    cand_stat, base_stat = _statistic(metric, candidate), _statistic(metric, baseline)

    def compare(keys: Sequence[str]) -> float:
        c, b = cand_stat(keys), base_stat(keys)
        if relative:
            return (c / b - 1.0) * 100.0 if b else math.inf
        return c - b

    return stats.bootstrap_interval(
        compare, shared, config.confidence, resamples=config.bootstrap_resamples, seed=config.seed
    )


# --- deciding ---------------------------------------------------------------------------------
def _fmt(value: float) -> str:
    return f"{value:.6g}"


def _inconclusive(interval: stats.Interval, bound: float, confidence: float) -> str:
    se = interval.se
    if not se:
        se = (interval.high - interval.low) / (2 * stats._z(confidence))
    mde = stats.minimum_detectable_effect(se, confidence)
    needed = stats.required_n(interval.n, se, abs(interval.estimate - bound), confidence)
    text = (
        f"inconclusive: the {confidence:.0%} interval [{_fmt(interval.low)}, "
        f"{_fmt(interval.high)}] straddles {_fmt(bound)}; at n={interval.n} the minimum "
        f"detectable effect is {_fmt(mde)}"
    )
    if needed is not None:
        text += f"; about {needed} examples would decide it at the observed distance"
    else:
        text += "; the estimate sits on the bound, so no sample size would decide it"
    return text


def _outcome(
    metric: str,
    rule: str,
    interval: stats.Interval,
    bound: float,
    direction: Literal["min", "max"],
    confidence: float,
    note: str = "",
) -> GateOutcome:
    decision = stats.decide(interval, bound, direction)
    reason = _inconclusive(interval, bound, confidence) if decision == "warn" else ""
    reason = "; ".join(part for part in (reason, note) if part)
    return GateOutcome(
        metric, rule, decision, interval.estimate, interval.low, interval.high, interval.n, reason
    )


def _zero_rate(metric: str, rule: str, data: RunData, interval: stats.Interval) -> GateOutcome:
    observed = int(sum(sum(v) for v in _clusters(metric, data).values()))
    decision = "pass" if observed == 0 else "fail"
    reason = "none observed" if observed == 0 else f"{observed} observed; the bound allows none"
    return GateOutcome(
        metric, rule, decision, interval.estimate, interval.low, interval.high, interval.n, reason
    )


def _evaluate_rule(
    rule: GateRule, candidate: RunData, baseline: RunData | None, config: GateConfig
) -> list[GateOutcome]:
    metric = rule.metric
    outcomes: list[GateOutcome] = []
    note = ""
    family, _, scorer = metric.partition(".")
    if family == "quality" and candidate.scorer_errors.get(scorer):
        note = f"{candidate.scorer_errors[scorer]} scorer error(s) left out"
    if metric.startswith("cost.") and candidate.unknown_cost:
        if candidate.unknown_cost >= candidate.example_epochs:
            raise GateError(
                f"{metric}: no example-epoch of run {candidate.run['run_id']} has a "
                "known cost (does the target make traced LLM calls on a priced model?)"
            )
        note = f"{candidate.unknown_cost} example-epoch(s) with unknown cost counted as 0"
    if rule.min is not None or rule.max is not None:
        interval = _absolute_interval(metric, candidate, config)
        if rule.min is not None:
            outcomes.append(
                _outcome(
                    metric,
                    f"{metric} >= {_fmt(rule.min)}",
                    interval,
                    rule.min,
                    "min",
                    config.confidence,
                    note,
                )
            )
        if rule.max is not None:
            text = f"{metric} <= {_fmt(rule.max)}"
            if rule.max == 0 and _kind(metric, candidate) == "rate":
                outcomes.append(_zero_rate(metric, text, candidate, interval))
            else:
                outcomes.append(
                    _outcome(metric, text, interval, rule.max, "max", config.confidence, note)
                )
    if rule.max_drop is not None or rule.max_increase_pct is not None:
        if baseline is None:
            raise GateError(f"{metric}: max_drop and max_increase_pct need a baseline run")
        if rule.max_drop is not None:
            interval = _paired_interval(metric, candidate, baseline, config, relative=False)
            outcomes.append(
                _outcome(
                    metric,
                    f"{metric} - baseline >= -{_fmt(rule.max_drop)}",
                    interval,
                    -rule.max_drop,
                    "min",
                    config.confidence,
                    note,
                )
            )
        if rule.max_increase_pct is not None:
            interval = _paired_interval(metric, candidate, baseline, config, relative=True)
            outcomes.append(
                _outcome(
                    metric,
                    f"{metric} vs baseline <= +{_fmt(rule.max_increase_pct)}%",
                    interval,
                    rule.max_increase_pct,
                    "max",
                    config.confidence,
                    note,
                )
            )
    return outcomes


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
    outcomes = [o for rule in parsed.gates for o in _evaluate_rule(rule, cand, base, parsed)]
    if strict:
        outcomes = [
            GateOutcome(
                o.metric,
                o.rule,
                "fail",
                o.estimate,
                o.ci_low,
                o.ci_high,
                o.n,
                "strict: " + o.reason,
            )
            if o.decision == "warn"
            else o
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
    )
    _store(path, result)
    return result
