"""Intervals on ratios (cost per success, relative bounds): Fieller, with a skewness correction."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ._types import Interval
from .distributions import t_quantile

__all__ = ["cox_limits", "johnson_limits", "ratio_interval"]


# --- ratios ------------------------------------------------------------------------------------
def johnson_limits(values: Sequence[float] | np.ndarray, confidence: float) -> tuple[float, float]:
    """Confidence limits for a mean from Johnson's (1978) skewness-corrected t.

    The statistic ``(u + g + k u**2) / se`` with ``u`` = sample mean - mean, ``g = m3 / (6 s**2
    n)`` and ``k = m3 / (3 s**4)`` (``m3`` the unbiased third central moment) is closer to
    Student's t than the plain t statistic when the values are skewed, so the long side of the
    interval is not under-covered at small n. Assumes independent values with a finite third
    moment; with no skew it is the t interval. An end the statistic cannot reach is infinite.
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    mean = float(v.mean())
    if n < 2:
        return -math.inf, math.inf
    centred = v - mean
    variance = float((centred**2).sum()) / (n - 1)
    return _johnson(mean, variance, float((centred**3).sum()) / n, n, confidence)


def _johnson(
    mean: float, variance: float, m3: float, n: int, confidence: float
) -> tuple[float, float]:
    """:func:`johnson_limits` from the mean, the variance (ddof=1) and the biased m3."""
    if variance <= 0.0:
        return mean, mean
    if n > 2:
        m3 *= n * n / ((n - 1.0) * (n - 2.0))  # the unbiased third central moment
    se = math.sqrt(variance / n)
    t = t_quantile(0.5 + confidence / 2.0, n - 1)
    g = m3 / (6.0 * variance * n)
    k = m3 / (3.0 * variance * variance)

    def limit(shift: float) -> float:
        # solve k u^2 + u + g + shift = 0 on the branch where the statistic rises with u
        c = g + shift
        if abs(4.0 * k * c) < 1e-12:
            return mean + c
        disc = 1.0 - 4.0 * k * c
        if disc < 0.0:
            return math.inf if shift > 0 else -math.inf
        return mean - (-1.0 + math.sqrt(disc)) / (2.0 * k)

    return limit(-t * se), limit(t * se)


def cox_limits(values: Sequence[float] | np.ndarray, confidence: float) -> tuple[float, float]:
    """Confidence limits for the mean of positive, right-skewed values on the log scale: the
    modified Cox interval (Olsson 2005), ``exp(ybar + s2/2 +- t * sqrt(s2/n + s2**2 / (2(n-1))))``
    with ``ybar``, ``s2`` the mean and variance (ddof=1) of ``log(values)``.

    Exact in large samples when the values are lognormal, and close at n=10; it is what
    latency and cost look like, and where the t and Johnson limits put the upper end too low at
    small n. Values that are not all positive have no log scale: the limits are then infinite
    (callers take it as no information).
    """
    v = np.asarray(values, dtype=float)
    n = len(v)
    if n < 2 or not bool((v > 0.0).all()):
        return -math.inf, math.inf
    logs = np.log(v)
    s2 = float(logs.var(ddof=1))
    centre = float(logs.mean()) + s2 / 2.0
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * math.sqrt(s2 / n + s2 * s2 / (2 * (n - 1)))
    return math.exp(centre - half), math.exp(centre + half)


def ratio_interval(
    numerators: Sequence[float], denominators: Sequence[float], confidence: float
) -> Interval:
    """An interval for mean(numerators) / mean(denominators), one pair per example.

    Used for cost per success (cost and successes summed per example) and, paired, for the
    candidate / baseline ratio of a mean. It is Fieller's construction: the ratios r for which
    the mean of the per-example values ``x - r * y`` is not shown to differ from 0, so a gate
    bound at r0 passes or fails exactly when that test does. It is the union of the intervals
    from the plain t test (Fieller's closed form) and Johnson's skewness-corrected t
    (:func:`johnson_limits`), because ``x - r * y`` is skewed when ``y`` counts successes and
    the plain t then under-covers its long side at small n; the union errs no more than the
    better of the two. Assumes examples are a random sample. When the denominator's mean is not
    clearly above 0 an end is unbounded (``inf``) and ``note`` says so.
    """
    x = np.asarray(numerators, dtype=float)
    y = np.asarray(denominators, dtype=float)
    n = len(x)
    if n == 0:
        raise ValueError("no observations")
    mx, my = float(x.mean()), float(y.mean())
    estimate = mx / my if my else (math.inf if mx > 0 else math.nan)
    if n < 2 or not my > 0:
        note = "the denominator is not clearly above 0, so the ratio is unbounded"
        return Interval(estimate, -math.inf, math.inf, n, note=note)

    residual = x - estimate * y
    if float(np.abs(residual).max()) <= 1e-12 * max(float(np.abs(x).max()), 1e-300):
        # Every example has exactly the ratio of the whole (a fixed price per success, say):
        # the sample shows no variation to build an interval from, as a mean of equal values.
        note = "every example has the same ratio: the sample shows no variation around it"
        return Interval(estimate, estimate, estimate, n, note=note)

    # moments of x - r * y as polynomials in r, so each trial r costs O(1)
    dx, dy = x - mx, y - my
    m20, m11, m02 = (float((a * b).sum()) / (n - 1) for a, b in ((dx, dx), (dx, dy), (dy, dy)))
    m30, m21, m12, m03 = (float((dx**i * dy ** (3 - i)).sum()) / n for i in (3, 2, 1, 0))

    def limits(r: float) -> tuple[float, float]:
        variance = m20 - 2.0 * r * m11 + r * r * m02
        m3 = m30 - 3.0 * r * m21 + 3.0 * r * r * m12 - r**3 * m03
        return _johnson(mx - r * my, variance, m3, n, confidence)

    def shown_below(r: float) -> bool:
        return limits(r)[1] < 0.0

    def shown_above(r: float) -> bool:
        return limits(r)[0] > 0.0

    fieller_low, fieller_high = _fieller(x, y, confidence)
    scale = max(abs(estimate), 1e-300)
    high = max(fieller_high, _first_true(shown_below, estimate, scale))
    low = min(fieller_low, _first_true(shown_above, estimate, -scale))
    return Interval(
        estimate, low, high, n, note=_unbounded_note(fieller_low, fieller_high, low, high)
    )


def _unbounded_note(fieller_low: float, fieller_high: float, low: float, high: float) -> str:
    """Why an end of the ratio's interval is infinite, if one is."""
    if math.isinf(fieller_high) or math.isinf(fieller_low):
        return "the denominator is not clearly above 0, so the ratio is unbounded"
    if math.isinf(high) or math.isinf(low):
        return (
            "the per-example values are too skewed for this many examples to bound the ratio "
            "on one side, so it is unbounded there"
        )
    return ""


def _fieller(x: np.ndarray, y: np.ndarray, confidence: float) -> tuple[float, float]:
    """Fieller's closed-form interval for mean(x) / mean(y) with the plain t statistic."""
    n = len(x)
    mx, my = float(x.mean()), float(y.mean())
    cov = np.cov(x, y, ddof=1) / n
    sxx, sxy, syy = float(cov[0, 0]), float(cov[0, 1]), float(cov[1, 1])
    t2 = t_quantile(0.5 + confidence / 2.0, n - 1) ** 2
    a = my * my - t2 * syy
    b = -2.0 * (mx * my - t2 * sxy)
    c = mx * mx - t2 * sxx
    if a <= 0.0:
        return -math.inf, math.inf
    root = math.sqrt(max(b * b - 4.0 * a * c, 0.0))
    estimate = mx / my
    return min((-b - root) / (2.0 * a), estimate), max((-b + root) / (2.0 * a), estimate)


def _first_true(holds: Callable[[float], bool], start: float, step: float) -> float:
    """The point nearest ``start`` in the direction of ``step`` where ``holds`` turns true
    (bracketed by doubling steps, then bisection); +-inf when it never does."""
    if holds(start):
        return start
    inner, outer = start, start + step
    for _ in range(60):  # 2**60 steps out: past that, a crossing is rounding, not evidence
        if holds(outer):
            break
        inner, outer = outer, outer + 2.0 * (outer - start)
    else:
        return math.inf if step > 0 else -math.inf
    for _ in range(200):
        mid = (inner + outer) / 2.0
        if holds(mid):
            outer = mid
        else:
            inner = mid
        if abs(outer - inner) <= 1e-10 * max(abs(outer), 1e-300):
            break
    return outer
