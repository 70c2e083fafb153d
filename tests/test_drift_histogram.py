"""A discrete drift feature's deciles and bins come from the count of each value
(evals/production/drift_histogram.py): they must be DuckDB's ``quantile_cont`` over the values
themselves, to the bit, and the counts those of the SQL bins ``(e_i, e_i+1]``."""

from __future__ import annotations

import random
from collections import Counter

import duckdb
import pytest

from llmtrace.evals.production.drift_histogram import bin_counts, quantiles_of_counts

DECILES = [i / 10 for i in range(1, 10)]


def _values(n: int, spread: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [float(rng.randint(0, spread) * 3 + 80) for _ in range(n)]


@pytest.mark.parametrize(
    ("n", "spread"),
    [
        (1, 5),
        (2, 5),
        (3, 1),
        (10, 3),
        (1001, 40),
        (99_999, 17),
        (350_000, 40),
        (5000, 4000),
        (37, 100_000),
        (20_000, 7),
    ],
)
def test_quantiles_of_counts_are_duckdbs_quantile_cont(n: int, spread: int) -> None:
    values = _values(n, spread, seed=n)
    conn = duckdb.connect()
    try:
        conn.execute("CREATE TABLE v AS SELECT unnest(?::DOUBLE[]) AS x", [values])
        row = conn.execute("SELECT quantile_cont(x, ?::DOUBLE[]) FROM v", [DECILES]).fetchone()
        assert row is not None
        expected = [float(e) for e in row[0]]
        found = quantiles_of_counts(conn, Counter(values), DECILES)
        assert found == expected  # exact: the same doubles, not merely close

        edges = sorted(set(found))
        index = " + ".join(f"(x > {e!r})::INTEGER" for e in edges)
        counts = dict(conn.execute(f"SELECT {index}, count(*) FROM v GROUP BY 1").fetchall())
        sql_bins = [counts.get(k, 0) for k in range(len(edges) + 1)]
    finally:
        conn.close()
    assert bin_counts(Counter(values), edges) == sql_bins


def test_a_value_on_an_edge_falls_in_the_bin_it_closes() -> None:
    assert bin_counts({1.0: 2, 2.0: 3, 2.5: 1, 9.0: 4}, [2.0, 5.0]) == [5, 1, 4]
    conn = duckdb.connect()
    try:
        assert quantiles_of_counts(conn, {7.0: 3}, [0.1, 0.5, 0.9]) == [7.0, 7.0, 7.0]
        assert quantiles_of_counts(conn, {0.0: 1, 10.0: 1}, [0.25]) == [2.5]
        assert quantiles_of_counts(conn, {1.0: 1, 2.0: 2, 5.0: 1}, [0.5, 1.0]) == [2.0, 5.0]
    finally:
        conn.close()
