"""Intervals on means and rates of clustered (example x epoch) data, and paired differences."""

from __future__ import annotations

import math
from dataclasses import replace

import numpy as np

from ._types import Clusters, Interval
from .distributions import _alpha, _z, beta_quantile, t_quantile
from .ratios import cox_limits, johnson_limits

__all__ = [
    "bounded_mean",
    "clopper_pearson_interval",
    "clustered_mean",
    "clustered_rate",
    "effective_n",
    "paired_difference",
    "wilson_interval",
    "zero_count_upper_bound",
]


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
    Johnson's skewness-corrected one (:func:`johnson_limits`), and below 100 examples of
    positive values its upper end is at least the log-scale (modified Cox) limit
    (:func:`cox_limits`): Johnson alone still passed 5.4% at n=10 (bench.gate_calibration).
    No interval can bound a mean against a tail the sample has not seen (a rare slow path at
    10% is missing from a third of 10-example samples), so small-n passes on unbounded means
    rest on the sample's shape. For scores in [0, 1] use :func:`bounded_mean`: at zero spread
    this interval has zero width.
    """
    means, _sizes = _cluster_arrays(clusters)
    n = len(means)
    estimate = float(means.mean())
    se = float(means.std(ddof=1) / math.sqrt(n)) if n > 1 else 0.0
    interval = _t_interval(estimate, se, n, confidence)
    if not skew_correction or n < 3:
        return interval
    low, high = johnson_limits(means, confidence)
    if n < _LOG_SCALE_BELOW and bool((means > 0.0).all()):
        # small samples of skewed positive values: the long (upper) side also needs the
        # log-scale limit, or a lognormal latency mean on its bound passes 5.4% at n=10
        _, log_high = cox_limits(means, confidence)
        high = max(high, log_high)
    return replace(interval, low=min(low, interval.low), high=max(high, interval.high))


_LOG_SCALE_BELOW = (
    100  # examples; above it Johnson alone is close, and the log scale would cost power
)


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
