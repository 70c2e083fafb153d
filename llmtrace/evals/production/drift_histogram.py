"""Quantile bins of a feature whose values are few (token counts), from the count of each value.

A numeric feature's bins are the reference's deciles (DuckDB's ``quantile_cont``), which sorts
every value: 3.5M token counts of 10M spans took a single-threaded pass per feature. A
feature with few distinct values is counted value by value instead, in the same pass that
counts the categories, and its deciles and bin counts follow from those counts here, to the
bit what ``quantile_cont`` gives: the value at rank ``(n - 1) q`` of the sorted values, or
between the values at the two ranks around it, interpolated by DuckDB itself (its rounding
is neither ``lo + (hi - lo) d`` nor ``lo (1 - d) + hi d`` throughout; checked against
``quantile_cont`` by tests/test_drift_histogram.py).
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import Any

import duckdb

__all__ = ["bin_counts", "quantiles_of_counts"]


def quantiles_of_counts(
    conn: duckdb.DuckDBPyConnection, counts: Mapping[float, int], quantiles: Sequence[float]
) -> list[float]:
    """``quantile_cont(value, quantiles)`` over values each repeated its count (counts > 0)."""
    values = sorted(counts)
    ends = list(itertools.accumulate(counts[value] for value in values))
    total = ends[-1]

    def at(rank: int) -> float:  # the value at a rank of the sorted values
        return values[bisect.bisect_right(ends, rank)]

    points: list[Any] = []
    for q in quantiles:
        position = float(total - 1) * q
        below = math.floor(position)
        points += [position - below, [at(below), at(math.ceil(position))]]
    # DuckDB interpolates between the two values (its own rounding): quantile_cont over the
    # pair at the fraction between their ranks is that, to the bit
    pair = "(SELECT quantile_cont(x, ?::DOUBLE) FROM (SELECT unnest(?::DOUBLE[]) AS x))"
    row = conn.execute(f"SELECT [{', '.join([pair] * len(quantiles))}]", points).fetchone()
    assert row is not None
    return [float(value) for value in row[0]]


def bin_counts(counts: Mapping[float, int], edges: Sequence[float]) -> list[int]:
    """How many values fall in each bin ``(-inf, e1], (e1, e2], ..., (ek, inf)`` of the sorted
    ``edges`` (a value is in bin i when exactly i edges lie below it)."""
    binned = [0] * (len(edges) + 1)
    for value, count in counts.items():
        binned[bisect.bisect_left(edges, value)] += count
    return binned
