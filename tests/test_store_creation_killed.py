"""A process killed while it creates the store leaves a file the next opener takes for ours.

Before: the migration ledger (``schema_migrations``) was created outside the first migration's
transaction, so a merger killed in between left a file holding one empty table, and every later
writer refused it as "another application's DuckDB database" (seen in the four-apps kill test).
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from llmtrace.store.connection import connect_write
from llmtrace.store.schema import MIGRATIONS, applied_version, apply_migrations


def _tables(path: Path) -> list[str]:
    with duckdb.connect(str(path)) as conn:
        return [row[0] for row in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()]


def test_a_first_migration_that_does_not_commit_leaves_no_ledger(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    broken = [(1, "first", "CREATE TABLE spans_probe (a INTEGER); SELECT * FROM no_such_table")]
    with duckdb.connect(str(db)) as conn, pytest.raises(duckdb.CatalogException):
        apply_migrations(conn, broken)
    assert _tables(db) == []


def test_an_empty_ledger_left_by_an_older_llmtrace_is_taken_as_ours(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute(
            "CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, "
            "applied_at TIMESTAMPTZ DEFAULT now())"
        )
    conn = connect_write(db)
    try:
        assert applied_version(conn) == MIGRATIONS[-1][0]
    finally:
        conn.close()


def test_an_empty_ledger_beside_someone_elses_tables_is_still_refused(tmp_path: Path) -> None:
    from llmtrace.store.connection import StoreUnusableError

    db = tmp_path / "store.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE TABLE schema_migrations (version INTEGER, name VARCHAR)")
        conn.execute("CREATE TABLE orders (id INTEGER)")
    with pytest.raises(StoreUnusableError, match="orders"):
        connect_write(db, timeout_s=1)
