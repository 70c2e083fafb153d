"""The statistics behind gates, in one place: intervals, paired differences, bootstrap, power.

Conventions follow Miller (2024), "Adding Error Bars to Evals": example-epochs of one example are
not independent, so standard errors are clustered by example (per-example means, then the
spread of those means); baseline comparisons are paired by example id; percentiles and ratios
get a seeded cluster bootstrap. Intervals are two-sided at the configured confidence.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from statistics import NormalDist
from typing import Literal

import numpy as np

__all__ = [
    "Interval",
    "bootstrap_interval",
    "clustered_mean",
    "decide",
    "minimum_detectable_effect",
    "paired_difference",
    "required_n",
    "t_quantile",
    "wilson_interval",
]

Decision = Literal["pass", "warn", "fail"]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval, the number of clusters, and the standard error."""

    estimate: float
    low: float
    high: float
    n: int
    se: float | None = None


# --- Student t, without scipy -----------------------------------------------------------------
def _betacf(a: float, b: float, x: float) -> float:
    """Continued fraction for the regularized incomplete beta (modified Lentz)."""
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 10_000):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-16:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _betacf(a, b, x) / a
    return 1.0 - math.exp(log_front) * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t > 0 else tail


def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t (bisection on the CDF to machine precision)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    low, high = 0.0, 1.0
    while t_cdf(high, df) < p:
        high *= 2.0
    for _ in range(200):
        mid = (low + high) / 2.0
        if t_cdf(mid, df) < p:
            low = mid
        else:
            high = mid
        if high - low <= 1e-15 * max(1.0, high):
            break
    return (low + high) / 2.0


def _z(confidence: float) -> float:
    return NormalDist().inv_cdf(0.5 + confidence / 2.0)


# --- intervals --------------------------------------------------------------------------------
def _t_interval(estimate: float, se: float, n: int, confidence: float) -> Interval:
    if n < 2 or se == 0.0:
        return Interval(estimate, estimate, estimate, n, se)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * se
    return Interval(estimate, estimate - half, estimate + half, n, se)


def clustered_mean(clusters: Mapping[str, Sequence[float]], confidence: float) -> Interval:
    """Mean over clusters (examples) of each cluster's mean over epochs, with a Student-t
    interval from the standard error of those cluster means (clustered by example)."""
    means = np.array([np.mean(values) for values in clusters.values() if len(values)])
    n = len(means)
    if n == 0:
        raise ValueError("no observations")
    estimate = float(means.mean())
    se = float(means.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return _t_interval(estimate, se, n, confidence)


def wilson_interval(successes: float, n: float, confidence: float) -> Interval:
    """The Wilson score interval for a rate (``n`` may be an effective sample size)."""
    if n <= 0:
        raise ValueError("no observations")
    z = _z(confidence)
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denominator
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return Interval(p, low, high, round(n))


def clustered_rate(clusters: Mapping[str, Sequence[float]], confidence: float) -> Interval:
    """A rate of 0/1 outcomes: Wilson interval on the effective sample size, where the design
    effect of clustering by example (epochs of one example agree more than chance) shrinks n."""
    values = [v for vs in clusters.values() for v in vs]
    total = len(values)
    p = sum(values) / total
    n_eff = float(total)
    clustered = clustered_mean(clusters, confidence)
    if 0.0 < p < 1.0 and clustered.se:
        design_effect = max(1.0, clustered.se**2 / (p * (1.0 - p) / total))
        n_eff = total / design_effect
    interval = wilson_interval(p * n_eff, n_eff, confidence)
    return Interval(p, interval.low, interval.high, len(clusters), clustered.se)


def paired_difference(
    candidate: Mapping[str, Sequence[float]],
    baseline: Mapping[str, Sequence[float]],
    confidence: float,
) -> Interval:
    """Candidate minus baseline, paired by example id: the mean of per-example differences of
    epoch means, with a Student-t interval (standard error clustered by example)."""
    shared = sorted(set(candidate) & set(baseline))
    if not shared:
        raise ValueError("the runs share no example ids")
    diffs = np.array([np.mean(candidate[k]) - np.mean(baseline[k]) for k in shared])
    n = len(diffs)
    se = float(diffs.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    return _t_interval(float(diffs.mean()), se, n, confidence)


def bootstrap_interval(
    statistic: Callable[[Sequence[str]], float],
    keys: Sequence[str],
    confidence: float,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap over clusters: resample example ids with replacement and recompute
    ``statistic`` on the chosen ids. Seeded, so the same data always gives the same interval."""
    estimate = statistic(keys)
    rng = np.random.default_rng(seed)
    index = np.arange(len(keys))
    values = []
    for _ in range(resamples):
        chosen = rng.choice(index, size=len(keys), replace=True)
        value = statistic([keys[i] for i in chosen])
        if math.isfinite(value):
            values.append(value)
    if not values:
        return Interval(estimate, estimate, estimate, len(keys))
    alpha = (1.0 - confidence) / 2.0
    low, high = np.quantile(values, [alpha, 1.0 - alpha])
    return Interval(estimate, float(low), float(high), len(keys))


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
    it, warn when it straddles (the data cannot tell)."""
    if direction == "min":
        if interval.low >= bound:
            return "pass"
        return "fail" if interval.high < bound else "warn"
    if interval.high <= bound:
        return "pass"
    return "fail" if interval.low > bound else "warn"
