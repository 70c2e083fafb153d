"""Distribution-free percentile intervals on clusters, from order statistics."""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence

import numpy as np

from ._types import Clusters, Interval
from .distributions import _alpha, beta_cdf

__all__ = ["clustered_percentile", "percentile_interval", "percentile_min_clusters"]


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
