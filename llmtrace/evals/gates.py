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
  Against a baseline (``max_rise``, ``max_increase_pct``) they take a cluster bootstrap, which
  errs both ways on few examples: below the same count (72 for p95) such a bound warns
  whatever the data.
- ``cost.usd_per_success``: Fieller's interval on per-example cost and successes.
- a safety outcome that was never checked (the target or the scorer errored) is unknown: it
  counts as a violation for the upper end of the interval and as clean for the lower end.
- ``max: 0`` on a rate fails on any observed event; with none observed it warns and reports
  the exact upper bound (a sample can never show a rate of exactly 0).
- relative bounds on a baseline of 0 are decided as ``max: 0`` on the candidate.
- a baseline bound is computed on the examples both runs share; the examples left out are
  listed, and a bound that left out candidate examples can at best warn.
- ``data.*`` rules (rows, schema errors, PII rows, dataset age, license) are exact counts the
  candidate run recorded when it started: they pass or fail, never warn, and Holm leaves them be.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

from .._store_path import default_db_path
from ..store.connection import connect_write
from .data_checks import data_outcomes
from .gate_bounds import _bounds
from .gate_config import GateConfig, load_gate_config, parse_gate_config
from .gate_decisions import _decide, _holm
from .gate_judges import hold_unproven_judges, judge_calibrations
from .gate_outcomes import GateError, GateOutcome, GateResult
from .metrics import RunData, load_run_data
from .results import Run

__all__ = ["GateError", "GateOutcome", "GateResult", "decide_rules", "gate", "store_gate_result"]


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


def store_gate_result(db: Path, result: GateResult, extra: dict[str, object] | None = None) -> None:
    """One ``gate_results`` row per bound; ``extra`` adds columns with one value for every row
    (a trace gate's windows, selection and clustering)."""
    columns = ["run_id", "baseline_run_id", "metric", "rule", "estimate", "ci_low", "ci_high"]
    columns += ["n", "decision", "reason", "overrides", *(extra or {})]
    shared = [json.dumps(result.overrides), *(extra or {}).values()]
    rows = [
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
            *shared,
        ]
        for g in result.gates
    ]
    marks = ", ".join("?" for _ in columns)
    conn = connect_write(db, timeout_s=30.0)
    try:
        conn.executemany(f"INSERT INTO gate_results ({', '.join(columns)}) VALUES ({marks})", rows)
    finally:
        conn.close()


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def decide_rules(
    config: GateConfig, candidate: RunData, baseline: RunData | None
) -> list[GateOutcome]:
    """Every bound of every rule decided, with Holm's correction when the config asks; a
    judge's score bounds at best warn until its ``judge.<name>.agreement`` bound passes."""
    bounds = [b for rule in config.gates for b in _bounds(rule, candidate, baseline, config)]
    outcomes = [_decide(b, config.confidence) for b in bounds]
    if config.family_wise == "holm":
        _holm(bounds, outcomes, config.confidence)
    hold_unproven_judges(outcomes)
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
    outcomes += data_outcomes(parsed.data, cand.run.get("envelope"))
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
        judge_calibrations(cand),
    )
    store_gate_result(path, result)
    return result
