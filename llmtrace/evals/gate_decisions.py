"""A bound's interval to pass / warn / fail, with the words that say why, and Holm's correction."""

from __future__ import annotations

import math
from dataclasses import replace

from . import stats
from .gate_bounds import _Bound, _fmt
from .gate_metrics import _kind
from .gate_outcomes import GateOutcome
from .stats.distributions import _z

__all__ = []


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
    if bound.undecidable:
        decision = "warn"
        reasons.append(bound.undecidable)
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
