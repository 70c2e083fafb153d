"""``judge.<name>.agreement``: a gate on a judge's agreement with human labels, and the rule
that a judge's scores count only once that gate passes.

The metric is not measured on the run: it is the stored calibration
(:func:`llmtrace.evals.calibrate` with ``db=``, or ``llmtrace calibrate``) of exactly the judge
version that scored the candidate run, newest first. Its estimate and interval are the
calibration's (Cohen's kappa or Krippendorff's alpha with a bootstrap interval); at a gate
confidence other than the calibration's, each end is rescaled by the ratio of normal quantiles.

- No stored calibration for that judge version: the bound warns (never passes) and says so;
  ``--strict`` makes it fail.
- "Before the judge's scores count": when a gates file has a ``judge.<name>.agreement`` rule,
  every ``quality.<name>`` / ``safety.<name>`` bound can at best warn unless the agreement
  bound passed. A fail stays a fail. Without an agreement rule the scores count as before.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

from . import stats
from .calibration_store import JudgeCalibration, calibration_for
from .gate_metrics import JUDGE_AGREEMENT
from .gate_outcomes import GateError, GateOutcome
from .metrics import RunData
from .stats.distributions import _z

__all__ = []


def _scaled(calibration: JudgeCalibration) -> Callable[[float], stats.Interval]:
    c = calibration
    estimate = c.agreement

    def at(confidence: float) -> stats.Interval:
        factor = _z(confidence) / _z(c.confidence)
        low = estimate - (estimate - c.ci_low) * factor
        high = estimate + (c.ci_high - estimate) * factor
        if not math.isfinite(estimate):
            low, high = -math.inf, math.inf
        return stats.Interval(estimate, low, high, c.n)

    return at


def _unknown(_confidence: float) -> stats.Interval:
    return stats.Interval(math.nan, -math.inf, math.inf, 0)


def agreement_interval_at(
    metric: str, data: RunData
) -> tuple[Callable[[float], stats.Interval], list[str], str]:
    """The interval function of a ``judge.<name>.agreement`` bound, its notes, and why it can
    at best warn (empty when it may pass)."""
    match = JUDGE_AGREEMENT.match(metric)
    if match is None:
        raise GateError(f"unknown metric {metric!r}")
    judge = match["judge"]
    if judge not in data.judge_versions:
        known = sorted(data.judge_versions)
        raise GateError(
            f"{metric}: run {data.run['run_id']} has no scorer {judge!r}; its scorers are {known}"
        )
    version = data.judge_versions[judge]
    found = calibration_for(data.calibrations, judge, version)
    if found is None:
        why = (
            f"at best warn: judge {judge!r} version {version} has no stored calibration; "
            f"measure it with `llmtrace calibrate MODULE:{judge} --labels FILE` or "
            "evals.calibrate(judge, labelled, db=...)"
        )
        return _unknown, [why.removeprefix("at best warn: ")], why
    dataset = f"{found.dataset_name}@{found.dataset_version}".lstrip("@")
    note = (
        f"{found.measure} of judge {judge!r} version {version} against {found.n} human labels "
        f"({dataset}), stored interval at {found.confidence:.0%}"
    )
    return _scaled(found), [note, found.note], ""


def judges_of(outcomes: Sequence[GateOutcome]) -> dict[str, str]:
    """Each judge an agreement bound names, with that bound's decision (the worst if several)."""
    order = {"pass": 0, "warn": 1, "fail": 2}
    decisions: dict[str, str] = {}
    for outcome in outcomes:
        match = JUDGE_AGREEMENT.match(outcome.metric)
        if match:
            judge = match["judge"]
            previous = decisions.get(judge, "pass")
            decisions[judge] = max(previous, outcome.decision, key=order.__getitem__)
    return decisions


def hold_unproven_judges(outcomes: list[GateOutcome]) -> None:
    """A ``quality.<name>`` / ``safety.<name>`` pass becomes warn while the gates file's
    ``judge.<name>.agreement`` bound has not passed (in place)."""
    agreement = judges_of(outcomes)
    for i, outcome in enumerate(outcomes):
        family, _, scorer = outcome.metric.partition(".")
        if family not in ("quality", "safety") or outcome.decision != "pass":
            continue
        decided = agreement.get(scorer)
        if decided is None or decided == "pass":
            continue
        note = (
            f"at best warn: judge {scorer!r}'s scores do not count yet (judge.{scorer}.agreement "
            f"is {decided}, not pass)"
        )
        reason = "; ".join(r for r in (note, outcome.reason) if r)
        outcomes[i] = replace(outcome, decision="warn", reason=reason)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def judge_calibrations(data: RunData) -> list[dict[str, Any]]:
    """Each judge that scored the run (a scorer with a judge version), with the stored
    calibration of that version, or ``calibrated: False`` when there is none (reports flag it)."""
    judges = []
    for judge, version in sorted(data.judge_versions.items()):
        if version is None:
            continue  # not a judge: a deterministic scorer
        found = calibration_for(data.calibrations, judge, version)
        entry: dict[str, Any] = {
            "judge": judge,
            "version": version,
            "calibrated": found is not None,
        }
        if found is not None:
            entry |= {
                "measure": found.measure,
                "agreement": _finite(found.agreement),
                "ci_low": _finite(found.ci_low),
                "ci_high": _finite(found.ci_high),
                "n": found.n,
                "confidence": found.confidence,
                "labels": f"{found.dataset_name}@{found.dataset_version}".lstrip("@"),
            }
        judges.append(entry)
    return judges
