"""Minimal upstream reproduction: DuckDB filters on a VARIANT field return wrong rows when a
table mixes shredded and unshredded row groups.

Run it with plain DuckDB (no llmtrace): ``python tests/upstream/duckdb_variant_shredding.py``.
It prints what the filters return with DuckDB's default settings and with every row group
shredded (``variant_minimum_shredding_size = 0``, what llmtrace sets on every connection).
Measured with duckdb 2.0.1: the default answers ``beta`` -> 0 and ``acme`` -> 41,000 where
``GROUP BY`` says 40,000 and 1,000. Exit status 1 while the bug is present, 0 once fixed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import duckdb


def counts(path: Path, shredding_size: int | None) -> tuple[int, int]:
    """(rows filtered as 'beta', rows filtered as 'acme') after 40,000 + 1,000 rows, each
    insert checkpointed on its own (a small second row group)."""
    for values in (("acme", 40_000), ("beta", 1_000)):
        conn = duckdb.connect(str(path))
        if shredding_size is not None:
            conn.execute(f"SET variant_minimum_shredding_size = {shredding_size}")
        conn.execute("CREATE TABLE IF NOT EXISTS t (attributes VARIANT)")
        conn.execute(
            "INSERT INTO t "
            "SELECT json_object('tenant', ?, 'i', i)::JSON::VARIANT FROM range(?) r(i)",
            list(values),
        )
        conn.execute("CHECKPOINT")
        conn.close()
    conn = duckdb.connect(str(path), read_only=True)
    sql = "SELECT count(*) FROM t WHERE attributes['tenant']::VARCHAR = ?"
    beta = conn.execute(sql, ["beta"]).fetchall()[0][0]
    acme = conn.execute(sql, ["acme"]).fetchall()[0][0]
    conn.close()
    return beta, acme


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        default = counts(Path(tmp) / "default.duckdb", None)
        shredded = counts(Path(tmp) / "shredded.duckdb", 0)
    print(f"duckdb {duckdb.__version__}; expected beta=1000 acme=40000")
    print(f"default settings:           beta={default[0]} acme={default[1]}")
    print(f"every row group shredded:   beta={shredded[0]} acme={shredded[1]}")
    return 0 if default == (1_000, 40_000) else 1


if __name__ == "__main__":
    sys.exit(main())
