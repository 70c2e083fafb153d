"""From an interval to a decision at a bound, and the sample sizes a decision needs."""

from __future__ import annotations

import math
from collections.abc import Callable
from statistics import NormalDist
from typing import Literal

from ._types import Decision, Interval
from .distributions import _z

__all__ = ["decide", "minimum_detectable_effect", "one_sided_p_value", "required_n"]


# --- power (Miller 2024) ----------------------------------------------------------------------
def minimum_detectable_effect(se: float, confidence: float, power: float = 0.8) -> float:
    """The smallest true distance from a bound this standard error detects with ``power``."""
    return (_z(confidence) + NormalDist().inv_cdf(power)) * se


def required_n(
    n: int, se: float, distance: float, confidence: float, power: float = 0.8
) -> int | None:
    """Examples needed to decide a bound whose true distance is ``distance`` (SE ~ 1/sqrt(n))."""
    if distance <= 0 or se <= 0:
        return None
    needed = n * (minimum_detectable_effect(se, confidence, power) / distance) ** 2
    return max(n + 1, math.ceil(needed))


# --- the decision rule ------------------------------------------------------------------------
def decide(interval: Interval, bound: float, direction: Literal["min", "max"]) -> Decision:
    """pass when the whole interval satisfies the bound, fail when the whole interval breaks
    it, warn when it straddles (the data cannot tell: warn means "not shown safe").

    Assumes the interval's ends each err at most ``(1 - confidence) / 2``; then a metric whose
    truth sits exactly on the bound passes, and fails, each at most that often.
    """
    if math.isnan(interval.low) or math.isnan(interval.high):
        return "warn"
    if direction == "min":
        if interval.low >= bound:
            return "pass"
        return "fail" if interval.high < bound else "warn"
    if interval.high <= bound:
        return "pass"
    return "fail" if interval.low > bound else "warn"


def one_sided_p_value(
    interval_at: Callable[[float], Interval],
    bound: float,
    direction: Literal["min", "max"],
    claim: Literal["fail", "pass"] = "fail",
) -> float:
    """The one-sided p-value of a gate's ``claim`` at ``bound``: the smallest ``alpha`` at
    which the interval from ``interval_at(1 - 2 * alpha)`` still makes that claim (found by
    bisection; 0.5 when it never does). Used for Holm's family-wise control."""

    def claims(alpha: float) -> bool:
        return decide(interval_at(1.0 - 2.0 * alpha), bound, direction) == claim

    if not claims(0.4999):
        return 0.5
    low, high = 1e-12, 0.4999
    if claims(low):
        return low
    for _ in range(40):
        mid = math.sqrt(low * high)
        if claims(mid):
            high = mid
        else:
            low = mid
        if high / low < 1.0 + 1e-6:
            break
    return high
