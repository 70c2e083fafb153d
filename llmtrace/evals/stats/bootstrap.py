"""The seeded cluster bootstrap, for statistics nothing closed-form covers."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np

from ._types import Interval
from .distributions import _alpha

__all__ = ["bootstrap_distribution", "bootstrap_interval", "interval_from_distribution"]


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
