"""Intervals for production metrics from per-cluster sums, so DuckDB does the aggregation.

Every metric is estimated per observation (each trace, LLM call, guardrail check or evaluation
weighs once), with the uncertainty counted by cluster (conversation, session, user or trace):

- rates and [0, 1] scores: Clopper-Pearson on the effective n of a clustered ratio estimate,
  held between the number of clusters and the number of observations (for a rate), the same
  construction as :func:`llmtrace.evals.stats.effective_n` for eval gates; graded scores also
  get the skewness-corrected interval of :func:`llmtrace.evals.stats.ratio_interval`;
- means (latency, cost, tokens): :func:`llmtrace.evals.stats.ratio_interval` of the per-cluster
  totals over per-cluster counts, Fieller's interval with Johnson's correction (cluster-robust);
- percentiles: distribution-free order statistics (binomial ranks) over the effective n of the
  empirical CDF at the estimate; with every cluster a single trace this is the exact order
  statistic interval, and too few observations leave the upper end unbounded (issue #13's rule);
- windows are not paired, so a baseline comparison combines each window's interval at the
  Bonferroni level ``(1 + confidence) / 2``: each end still errs at most ``(1 - confidence) / 2``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from statistics import NormalDist
from typing import cast

import numpy as np

from ..stats import Interval, beta_cdf, clopper_pearson_interval, ratio_interval, t_quantile

__all__ = [
    "bonferroni_level",
    "cdf_effective_n",
    "clustered_ratio_rate",
    "difference",
    "mean_interval",
    "order_ranks",
    "relative_pct",
]


def _floats(values: np.ndarray) -> Sequence[float]:
    """An array where the shared statistics take a sequence (they convert it back at once)."""
    return cast(Sequence[float], values)


def _alpha(confidence: float) -> float:
    return (1.0 - confidence) / 2.0


def bonferroni_level(confidence: float) -> float:
    """The level each of two unpaired intervals needs so their combination errs at most
    ``(1 - confidence) / 2`` at each end."""
    return (1.0 + confidence) / 2.0


def _effective_n(totals: np.ndarray, sizes: np.ndarray, confidence: float, binary: bool) -> float:
    """What the clusters are worth in independent observations for a proportion-like mean:
    ``p(1 - p) / se**2`` with the cluster-robust (linearised ratio) standard error, scaled by
    ``(z / t)**2`` for small samples, held between the clusters and (binary) the observations."""
    m = len(totals)
    n_obs = float(sizes.sum())
    p = float(totals.sum()) / n_obs
    if m < 2 or p <= 0.0 or p >= 1.0:
        return float(m)
    residuals = totals - p * sizes
    variance = m / (m - 1.0) * float((residuals**2).sum()) / (n_obs * n_obs)
    if variance <= 0.0:
        return float(m)
    z = NormalDist().inv_cdf(0.5 + confidence / 2.0)
    inflation = (z / t_quantile(0.5 + confidence / 2.0, m - 1)) ** 2
    ceiling = n_obs if binary else math.inf
    return min(ceiling, max(float(m), p * (1.0 - p) / variance * inflation))


def clustered_ratio_rate(
    totals: np.ndarray, sizes: np.ndarray, confidence: float, *, binary: bool = True
) -> Interval:
    """A share (0/1 outcomes) or a mean score in [0, 1], per observation, from per-cluster
    ``totals`` and ``sizes``: Clopper-Pearson on the effective n. Graded scores also take the
    union with the skewness-corrected ratio interval, clamped to [0, 1]."""
    if not len(totals) or sizes.sum() <= 0:
        raise ValueError("no observations")
    p = min(max(float(totals.sum()) / float(sizes.sum()), 0.0), 1.0)
    n_eff = _effective_n(totals, sizes, confidence, binary)
    exact = clopper_pearson_interval(p * n_eff, n_eff, confidence)
    low, high = exact.low, exact.high
    if not binary and len(totals) > 2:
        skewed = ratio_interval(_floats(totals), _floats(sizes), confidence)
        low, high = max(0.0, min(low, skewed.low)), min(1.0, max(high, skewed.high))
    return Interval(p, low, high, len(totals), n_eff=n_eff)


def mean_interval(totals: np.ndarray, sizes: np.ndarray, confidence: float) -> Interval:
    """The mean per observation (sum over count) with a cluster-robust Fieller interval."""
    if not len(totals):
        raise ValueError("no observations")
    return ratio_interval(_floats(totals), _floats(sizes), confidence)


def cdf_effective_n(below: np.ndarray, sizes: np.ndarray) -> float:
    """Effective n of the empirical CDF at the percentile estimate, from each cluster's count of
    observations at or below it: ``F(1 - F) / se**2`` held between clusters and observations
    (exactly the observations when every cluster is one trace)."""
    m, n_obs = len(sizes), float(sizes.sum())
    if m == n_obs or m < 2:
        return n_obs if m == n_obs else float(m)
    share = float(below.sum()) / n_obs
    residuals = below - share * sizes
    variance = m / (m - 1.0) * float((residuals**2).sum()) / (n_obs * n_obs)
    if variance <= 0.0 or share <= 0.0 or share >= 1.0:
        return float(m)
    return min(n_obs, max(float(m), share * (1.0 - share) / variance))


def _binomial_cdf(k: int, n: int, p: float) -> float:
    if k < 0:
        return 0.0
    if k >= n:
        return 1.0
    return beta_cdf(1.0 - p, n - k, k + 1.0)


def _first_k(holds: Callable[[int], bool], low: int, high: int) -> int:
    """The smallest k in [low, high] where the monotone ``holds`` is true (high if none)."""
    while low < high:
        mid = (low + high) // 2
        if holds(mid):
            high = mid
        else:
            low = mid + 1
    return low


def order_ranks(n: int, q: float, confidence: float) -> tuple[int, int]:
    """1-based ranks (l, u) of the order statistics bounding the q-quantile (q in (0, 1)) of n
    iid draws at ``confidence``: the largest l with P(X_(l) <= xi) >= 1 - alpha and the smallest
    u with P(X_(u) >= xi) >= 1 - alpha; 0 or n + 1 when no order statistic is far enough out.
    Found by bisection on the binomial CDF, so n may be in the millions."""
    alpha = _alpha(confidence)
    # P(X_(u) >= xi) = P(Bin(n, q) <= u - 1)
    upper = _first_k(lambda k: _binomial_cdf(k, n, q) >= 1.0 - alpha, 0, n) + 1
    # P(X_(l) <= xi) = P(Bin(n, q) >= l) = 1 - cdf(l - 1); the largest l with cdf(l - 1) <= alpha
    lower = _first_k(lambda k: _binomial_cdf(k, n, q) > alpha, 0, n)
    return lower, upper


def difference(candidate: Interval, baseline: Interval) -> Interval:
    """Candidate minus baseline from two unpaired intervals (each at the Bonferroni level)."""
    note = "; ".join(n for n in (candidate.note, baseline.note) if n)
    return Interval(
        candidate.estimate - baseline.estimate,
        candidate.low - baseline.high,
        candidate.high - baseline.low,
        min(candidate.n, baseline.n),
        note=note,
    )


def relative_pct(candidate: Interval, baseline: Interval) -> Interval | None:
    """Candidate / baseline - 1 in percent from two unpaired intervals of positive quantities;
    None when the baseline is 0 (any rise is infinite)."""
    if baseline.estimate <= 0.0 and baseline.high <= 0.0:
        return None

    def pct(num: float, den: float) -> float:
        if den <= 0.0:
            return math.inf
        return (num / den - 1.0) * 100.0

    estimate = pct(candidate.estimate, baseline.estimate)
    low = pct(max(candidate.low, 0.0), baseline.high)
    high = pct(candidate.high, baseline.low)
    note = "; ".join(n for n in (candidate.note, baseline.note) if n)
    return replace(Interval(estimate, low, high, min(candidate.n, baseline.n)), note=note)
