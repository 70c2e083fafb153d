"""The statistics behind gates, in one place: intervals, paired differences, ratios, percentiles.

Conventions follow Miller (2024), "Adding Error Bars to Evals": example-epochs of one example are
not independent, so every interval counts clusters (examples), never observations; baseline
comparisons are paired by example id. Intervals are two-sided at ``confidence``, so each bound
of a gate is a one-sided test at ``(1 - confidence) / 2`` (2.5% at 0.95).

Which interval for which metric (each function's docstring states its assumptions):

- scores in [0, 1] and rates: :func:`bounded_mean` / :func:`clustered_rate`, Clopper-Pearson on
  the clustering-adjusted effective n, never narrower than the clusters alone allow, so an
  all-correct sample at n=5 gives [0.48, 1], not [1, 1];
- unbounded means (latency, cost, tokens): :func:`clustered_mean`, Student t;
- percentiles: :func:`percentile_interval`, distribution-free order statistics on clusters, with
  an unbounded end (``inf``) when the sample is too small to bound the percentile;
- ratios (cost per success, relative bounds): :func:`ratio_interval`, Fieller's interval,
  whose decision at a bound is exactly the t-test of the linearised difference;
- anything else: :func:`bootstrap_interval` (seeded cluster bootstrap) that counts resamples
  where the statistic is undefined and widens the interval for them instead of dropping them.

Everything here is pure Python and numpy: scipy and statsmodels are only used by the tests, as
independent references.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from statistics import NormalDist
from typing import Literal

import numpy as np

__all__ = [
    "Decision",
    "Interval",
    "beta_cdf",
    "beta_quantile",
    "bootstrap_distribution",
    "bootstrap_interval",
    "bounded_mean",
    "clopper_pearson_interval",
    "clustered_mean",
    "clustered_percentile",
    "clustered_rate",
    "decide",
    "effective_n",
    "interval_from_distribution",
    "johnson_limits",
    "minimum_detectable_effect",
    "one_sided_p_value",
    "paired_difference",
    "percentile_interval",
    "percentile_min_clusters",
    "ratio_interval",
    "required_n",
    "t_cdf",
    "t_quantile",
    "wilson_interval",
    "zero_count_upper_bound",
]

Decision = Literal["pass", "warn", "fail"]
Clusters = Mapping[str, Sequence[float]]


@dataclass(frozen=True)
class Interval:
    """A point estimate with its interval and the number of clusters (examples) behind it.

    ``se`` is the clustered standard error where one exists, ``n_eff`` the effective sample
    size an interval on a bounded mean used, and ``note`` says in words what the interval could
    not do (an unbounded end, undefined bootstrap resamples, unknown outcomes).
    """

    estimate: float
    low: float
    high: float
    n: int
    se: float | None = None
    n_eff: float | None = None
    note: str = ""


# --- distributions, without scipy --------------------------------------------------------------
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


def _log_beta_front(a: float, b: float, x: float) -> float:
    return (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )


def beta_cdf(x: float, a: float, b: float) -> float:
    """The regularized incomplete beta I_x(a, b): P(X <= x) for X ~ Beta(a, b), a, b > 0."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    front = math.exp(_log_beta_front(a, b, x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def beta_quantile(p: float, a: float, b: float) -> float:
    """The ``p`` quantile of Beta(a, b): Newton steps kept inside a shrinking bisection bracket,
    to about 1e-14 (checked against scipy in the tests)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must be in (0, 1), got {p}")
    low, high = 0.0, 1.0
    x = min(max(a / (a + b), 1e-12), 1.0 - 1e-12)
    for _ in range(300):
        error = beta_cdf(x, a, b) - p
        if error == 0.0:
            return x
        if error > 0:
            high = x
        else:
            low = x
        density = math.exp(_log_beta_front(a, b, x) - math.log(x) - math.log1p(-x))
        step = x - error / density if density > 0 else math.nan
        following = step if low < step < high else (low + high) / 2.0
        if abs(following - x) <= 1e-15 * max(x, 1e-300) or high - low <= 1e-16:
            return following
        x = following
    return x


def t_cdf(t: float, df: float) -> float:
    """P(T <= t) for Student's t with ``df`` degrees of freedom."""
    tail = 0.5 * beta_cdf(df / (df + t * t), df / 2.0, 0.5)
    return 1.0 - tail if t > 0 else tail


@functools.lru_cache(maxsize=4096)
def t_quantile(p: float, df: float) -> float:
    """The ``p`` quantile of Student's t with ``df`` degrees of freedom (bisection on the CDF to
    machine precision). Assumes nothing: it is the exact distribution function."""
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


def _alpha(confidence: float) -> float:
    """The one-sided error of each end of a two-sided interval."""
    return (1.0 - confidence) / 2.0


# --- rates and bounded means -------------------------------------------------------------------
def clopper_pearson_interval(successes: float, n: float, confidence: float) -> Interval:
    """The Clopper-Pearson ("exact") interval for a binomial proportion, from beta quantiles.

    Assumes ``successes`` of ``n`` independent trials with one success probability; each end
    then errs with probability at most ``(1 - confidence) / 2``, at every n and p, including
    0 and n successes. ``n`` and ``successes`` may be non-integer (an effective sample size),
    in which case the beta-quantile form is used as a smooth extension.
    """
    if n <= 0:
        raise ValueError("no observations")
    if not 0 <= successes <= n:
        raise ValueError(f"successes must be in [0, n], got {successes} of {n}")
    alpha = _alpha(confidence)
    low = beta_quantile(alpha, successes, n - successes + 1.0) if successes > 0 else 0.0
    high = beta_quantile(1.0 - alpha, successes + 1.0, n - successes) if successes < n else 1.0
    return Interval(successes / n, low, high, round(n), n_eff=float(n))


def wilson_interval(successes: float, n: float, confidence: float) -> Interval:
    """The Wilson score interval for a rate (``n`` may be an effective sample size).

    Assumes independent trials; its coverage is close to nominal on average but can fall
    below it near 0 and 1 at small n, which is why gates use :func:`clopper_pearson_interval`.
    """
    if n <= 0:
        raise ValueError("no observations")
    z = _z(confidence)
    p = successes / n
    denominator = 1.0 + z * z / n
    centre = (p + z * z / (2.0 * n)) / denominator
    half = z * math.sqrt(p * (1.0 - p) / n + z * z / (4.0 * n * n)) / denominator
    low = 0.0 if successes <= 0 else max(0.0, centre - half)
    high = 1.0 if successes >= n else min(1.0, centre + half)
    return Interval(p, low, high, round(n), n_eff=float(n))


def zero_count_upper_bound(n: float, confidence: float) -> float:
    """The exact upper confidence bound on a rate when none of ``n`` trials had the event:
    ``1 - alpha ** (1 / n)`` with one-sided ``alpha = (1 - confidence) / 2`` (the "rule of
    three" is its approximation 3/n at alpha = 0.05; at 0.025 it is about 3.69/n)."""
    return 1.0 - math.pow(_alpha(confidence), 1.0 / n)


def _cluster_arrays(clusters: Clusters) -> tuple[np.ndarray, np.ndarray]:
    means, sizes = [], []
    for values in clusters.values():
        if len(values):
            means.append(math.fsum(values) / len(values))
            sizes.append(len(values))
    if not means:
        raise ValueError("no observations")
    return np.asarray(means), np.asarray(sizes)


def effective_n(means: np.ndarray, sizes: np.ndarray, confidence: float, *, binary: bool) -> float:
    """How many independent trials the cluster means are worth for a mean in [0, 1].

    ``p(1 - p) / se**2`` with ``se`` the clustered standard error, scaled by ``(z / t)**2`` so
    the interval is as wide as a Student-t one at small n, and held between the number of
    clusters (what perfectly correlated epochs are worth) and, for 0/1 outcomes, the number of
    observations (what independent epochs are worth). When the sample shows no spread (all
    cluster means equal, or p at 0 or 1) the correlation of epochs cannot be estimated, so the
    clusters alone count.
    """
    n = len(means)
    p = float(means.mean())
    if n < 2 or p <= 0.0 or p >= 1.0:
        return float(n)
    variance = float(means.var(ddof=1))
    if variance <= 0.0:
        return float(n)
    inflation = (_z(confidence) / t_quantile(0.5 + confidence / 2.0, n - 1)) ** 2
    n_eff = p * (1.0 - p) / (variance / n) * inflation
    ceiling = float(sizes.sum()) if binary else math.inf
    return min(ceiling, max(float(n), n_eff))


def _bounded_from_arrays(
    means: np.ndarray, sizes: np.ndarray, confidence: float, *, binary: bool
) -> Interval:
    n = len(means)
    p = float(means.mean())
    n_eff = effective_n(means, sizes, confidence, binary=binary)
    ci = clopper_pearson_interval(min(max(p, 0.0), 1.0) * n_eff, n_eff, confidence)
    se = float(means.std(ddof=1) / math.sqrt(n)) if n > 1 else None
    low, high = ci.low, ci.high
    if not binary and n > 2:
        # graded scores are skewed near the ends of [0, 1]; widen by Johnson's correction
        skew_low, skew_high = johnson_limits(means, confidence)
        low, high = max(0.0, min(low, skew_low)), min(1.0, max(high, skew_high))
    return Interval(p, low, high, n, se, n_eff)


def bounded_mean(clusters: Clusters, confidence: float) -> Interval:
    """The mean of scores in [0, 1] (each example weighted once: the mean of its epochs'
    mean), with a Clopper-Pearson interval on the effective n of :func:`effective_n`.

    Assumes examples are a random sample from the population the gate speaks for, epochs of
    one example exchangeable, and scores within [0, 1]. The interval stays inside [0, 1] and
    is never zero-width: five correct answers out of five give [0.478, 1] at 95%. For graded
    (non 0/1) scores it is also at least as wide as Johnson's skewness-corrected t interval.
    """
    means, sizes = _cluster_arrays(clusters)
    binary = {v for vs in clusters.values() for v in vs} <= {0.0, 1.0}
    return _bounded_from_arrays(means, sizes, confidence, binary=binary)


def clustered_rate(clusters: Clusters, confidence: float) -> Interval:
    """A rate of 0/1 outcomes clustered by example, as :func:`bounded_mean`.

    Outcomes may be NaN for unknown (an errored example-epoch whose safety was never checked):
    the low end then counts every unknown as 0 and the high end as 1, so an unknown can never
    make a rate look safer; the estimate is over known outcomes and ``note`` says how many
    were unknown. Assumes what :func:`bounded_mean` assumes.
    """
    unknown = sum(1 for vs in clusters.values() for v in vs if v != v)  # NaN != NaN
    if not unknown:
        return bounded_mean(clusters, confidence)
    known = {k: [v for v in vs if not math.isnan(v)] for k, vs in clusters.items()}
    known = {k: vs for k, vs in known.items() if vs}
    as_zero = {k: [0.0 if math.isnan(v) else v for v in vs] for k, vs in clusters.items()}
    as_one = {k: [1.0 if math.isnan(v) else v for v in vs] for k, vs in clusters.items()}
    low = bounded_mean(as_zero, confidence)
    high = bounded_mean(as_one, confidence)
    estimate = bounded_mean(known, confidence).estimate if known else math.nan
    total = sum(len(vs) for vs in clusters.values())
    note = (
        f"{unknown} of {total} example-epochs unknown (errored): counted as violations for the "
        "upper end and as clean for the lower end"
    )
    return Interval(estimate, low.low, high.high, len(clusters), None, None, note)


def clustered_mean(
    clusters: Clusters, confidence: float, *, skew_correction: bool = False
) -> Interval:
    """The mean over examples of each example's mean over epochs, with a Student-t interval
    from the standard error of those example means (clustered by example).

    Assumes examples are a random sample and the example means roughly normal. Right-skewed
    values (latency, cost, tokens) break that at small n: the plain t interval's upper end is
    too low (a lognormal latency mean on its bound passes 8.6% at n=10 against 2.5%). With
    ``skew_correction=True`` (what gates use) the interval is the union of the t interval and
    Johnson's skewness-corrected one (:func:`johnson_limits`). For scores in [0, 1] use
    :func:`bounded_mean`: at zero spread this interval has zero width.
    """
    means, _sizes = _cluster_arrays(clusters)
    n = len(means)
    estimate = float(means.mean())
    se = float(means.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    interval = _t_interval(estimate, se, n, confidence)
    if not skew_correction or n < 3:
        return interval
    low, high = johnson_limits(means, confidence)
    return replace(interval, low=min(low, interval.low), high=max(high, interval.high))


def _t_interval(estimate: float, se: float, n: int, confidence: float) -> Interval:
    if n < 2 or se == 0.0:
        return Interval(estimate, estimate, estimate, n, se)
    half = t_quantile(0.5 + confidence / 2.0, n - 1) * se
    return Interval(estimate, estimate - half, estimate + half, n, se)


def paired_difference(
    candidate: Clusters, baseline: Clusters, confidence: float, *, bounded: bool = False
) -> Interval:
    """Candidate minus baseline, paired by example id: the mean of per-example differences of
    epoch means, with a Student-t interval (standard error clustered by example).

    Assumes the shared examples are a random sample and their differences roughly normal.
    With ``bounded=True`` (scores in [0, 1]) the half-width is at least the exact upper bound
    on the share of examples that changed at all when none did (:func:`zero_count_upper_bound`
    on the number of examples), so identical deterministic runs do not give a zero-width
    interval. Examples in only one run are left out; callers list them.
    """
    shared = sorted(k for k in set(candidate) & set(baseline) if candidate[k] and baseline[k])
    if not shared:
        raise ValueError("the runs share no example ids")
    diffs = np.array(
        [
            math.fsum(candidate[k]) / len(candidate[k]) - math.fsum(baseline[k]) / len(baseline[k])
            for k in shared
        ]
    )
    return _paired_from_diffs(diffs, confidence, bounded=bounded)


def _paired_from_diffs(diffs: np.ndarray, confidence: float, *, bounded: bool) -> Interval:
    n = len(diffs)
    se = float(diffs.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    interval = _t_interval(float(diffs.mean()), se, n, confidence)
    if not bounded:
        return interval
    floor = zero_count_upper_bound(n, confidence)
    low = max(-1.0, min(interval.low, interval.estimate - floor))
    high = min(1.0, max(interval.high, interval.estimate + floor))
    return Interval(interval.estimate, low, high, n, se)


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
    note = ""
    if math.isinf(high) or math.isinf(low):
        note = "the denominator is not clearly above 0, so the ratio is unbounded"
    return Interval(estimate, low, high, n, note=note)


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
    for _ in range(200):
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


# --- percentiles -------------------------------------------------------------------------------
def _binomial_cdf(k: int, n: int, p: float) -> float:
    """P(Bin(n, p) <= k)."""
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return beta_cdf(1.0 - p, n - k, k + 1.0)


@functools.lru_cache(maxsize=1024)
def _order_ranks(m: int, q: float, confidence: float) -> tuple[int, int]:
    """Ranks (1-based) of the order statistics bounding the q-quantile of m iid draws: the
    largest l with P(X_(l) <= xi_q) >= 1 - alpha and the smallest u with
    P(X_(u) >= xi_q) >= 1 - alpha; 0 or m + 1 when no order statistic is far enough out."""
    alpha = _alpha(confidence)
    # P(X_(u) >= xi) = P(Bin(m, q) <= u - 1); P(X_(l) <= xi) = P(Bin(m, q) >= l)
    guess = int(m * q)
    u = max(1, guess)
    while u > 1 and _binomial_cdf(u - 2, m, q) >= 1.0 - alpha:
        u -= 1
    while u <= m and _binomial_cdf(u - 1, m, q) < 1.0 - alpha:
        u += 1
    low_rank = min(m, guess + 1)
    while low_rank < m and 1.0 - _binomial_cdf(low_rank, m, q) >= 1.0 - alpha:
        low_rank += 1
    while low_rank >= 1 and 1.0 - _binomial_cdf(low_rank - 1, m, q) < 1.0 - alpha:
        low_rank -= 1
    return low_rank, u


def percentile_min_clusters(q: float, confidence: float) -> int:
    """The fewest examples whose sample can bound the q-th percentile (q in (0, 100)) from
    above at this confidence: the smallest m with ``(q/100) ** m <= alpha`` (72 for p95 and
    368 for p99 at 0.95)."""
    return math.ceil(math.log(_alpha(confidence)) / math.log(q / 100.0) - 1e-12)


def _weighted_quantile(values: np.ndarray, weights: np.ndarray, fraction: float) -> float:
    """The smallest value whose weighted empirical CDF reaches ``fraction`` (inverted CDF)."""
    order = np.argsort(values, kind="stable")
    cumulative = np.cumsum(weights[order])
    index = int(np.searchsorted(cumulative, fraction * cumulative[-1] - 1e-12, side="left"))
    return float(values[order][min(index, len(values) - 1)])


def clustered_percentile(clusters: Sequence[Sequence[float]], q: float) -> float:
    """The q-th percentile (q in (0, 100)) of the per-example mixture: each example weighs 1,
    spread evenly over its epochs (inverted empirical CDF, no interpolation)."""
    per_example = [np.asarray(v, dtype=float) for v in clusters if len(v)]
    if not per_example:
        raise ValueError("no observations")
    values = np.concatenate(per_example)
    weights = np.concatenate([np.full(len(v), 1.0 / len(v)) for v in per_example])
    return _weighted_quantile(values, weights, q / 100.0)


def percentile_interval(clusters: Clusters, q: float, confidence: float) -> Interval:
    """The q-th percentile (q in (0, 100)) of the per-example mixture of observations (each
    example weighs 1, spread over its epochs), with a distribution-free interval from order
    statistics over the m examples (binomial ranks), mapped onto the weighted sample.

    Assumes only that examples are a random sample; epochs count no extra (they refine the
    ranks but never add independent evidence), so one epoch gives the exact order-statistic
    interval. When m is too small for an order statistic to bound the percentile at this
    confidence (fewer than :func:`percentile_min_clusters`), that end is ``inf`` (or
    ``-inf``) and ``note`` says why: the gate cannot pass on it.
    """
    per_example = [np.asarray(v, dtype=float) for v in clusters.values() if len(v)]
    m = len(per_example)
    if m == 0:
        raise ValueError("no observations")
    values = np.concatenate(per_example)
    weights = np.concatenate([np.full(len(v), 1.0 / len(v)) for v in per_example])
    fraction = q / 100.0
    estimate = _weighted_quantile(values, weights, fraction)
    low_rank, high_rank = _order_ranks(m, fraction, confidence)
    low = _weighted_quantile(values, weights, low_rank / m) if low_rank >= 1 else -math.inf
    high = _weighted_quantile(values, weights, high_rank / m) if high_rank <= m else math.inf
    notes = []
    if high_rank > m:
        notes.append(
            f"{m} examples cannot bound p{q:g} from above at {confidence:.0%} (needs at least "
            f"{percentile_min_clusters(q, confidence)})"
        )
    if low_rank < 1:
        notes.append(f"{m} examples cannot bound p{q:g} from below at {confidence:.0%}")
    return Interval(estimate, low, high, m, note="; ".join(notes))


# --- bootstrap ---------------------------------------------------------------------------------
def bootstrap_distribution(
    statistic: Callable[[Sequence[str]], float],
    keys: Sequence[str],
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> np.ndarray:
    """``statistic`` on ``resamples`` cluster resamples (example ids drawn with replacement),
    seeded; NaN where the statistic is undefined on a resample (e.g. 0/0)."""
    rng = np.random.default_rng(seed)
    index = np.arange(len(keys))
    values = np.empty(resamples)
    for i in range(resamples):
        chosen = rng.choice(index, size=len(keys), replace=True)
        values[i] = statistic([keys[j] for j in chosen])
    return values


def interval_from_distribution(
    estimate: float, values: np.ndarray, n: int, confidence: float
) -> Interval:
    """Percentile interval from bootstrap values. Undefined (NaN) resamples are not dropped:
    they count as -inf for the low end and +inf for the high end, so enough of them make the
    interval unbounded, and ``note`` counts them."""
    alpha = _alpha(confidence)
    undefined = np.isnan(values)
    low_side = np.sort(np.where(undefined, -math.inf, values))
    high_side = np.sort(np.where(undefined, math.inf, values))
    count = len(values)
    low = float(low_side[max(0, math.floor(alpha * count))])
    high = float(high_side[min(count - 1, math.ceil((1.0 - alpha) * count) - 1)])
    note = ""
    if undefined.any():
        note = (
            f"{int(undefined.sum())} of {count} bootstrap resamples undefined (0/0), counted "
            "as unbounded"
        )
    return Interval(estimate, low, high, n, note=note)


def bootstrap_interval(
    statistic: Callable[[Sequence[str]], float],
    keys: Sequence[str],
    confidence: float,
    *,
    resamples: int = 2000,
    seed: int = 0,
) -> Interval:
    """Percentile bootstrap over clusters: resample example ids with replacement and recompute
    ``statistic`` on the chosen ids. Seeded, so the same data always gives the same interval.

    Assumes many examples: the percentile bootstrap under-covers at small n, and it can never
    reach beyond what the sample shows (its high end for a p95 never exceeds the sample
    maximum), so gates use it only for statistics without an exact interval. Undefined
    resamples widen it (see :func:`interval_from_distribution`).
    """
    values = bootstrap_distribution(statistic, keys, resamples=resamples, seed=seed)
    return interval_from_distribution(statistic(keys), values, len(keys), confidence)


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
