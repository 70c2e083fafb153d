"""The types every statistics module shares: an interval, a decision, clustered data."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["Clusters", "Decision", "Interval"]

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
