"""`llmtrace sql` reads the store and nothing else unless asked (issue #7, item 8), and a path
that is not a store is one line and exit 2, in a real subprocess."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from llmtrace.store.connection import connect_write
from tests.conftest import ROOT


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    return subprocess.run(
        [sys.executable, "-m", "llmtrace", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


@pytest.fixture
def store(tmp_path: Path) -> Path:
    db = tmp_path / "store.duckdb"
    connect_write(db).close()
    return db


@pytest.mark.parametrize(
    "sql",
    [
        "COPY (SELECT 1) TO '{tmp}/out.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "EXPORT DATABASE '{tmp}/dump'",
        "INSTALL sqlite",
    ],
    ids=["copy-to", "read-csv", "export-database", "install"],
)
def test_sql_reaches_no_other_file_by_default(store, sql):
    done = _cli("sql", sql.format(tmp=store.parent), "--db", str(store))
    assert done.returncode == 2, done.stderr
    assert "Traceback" not in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert sorted(p.name for p in store.parent.iterdir()) == ["store.duckdb"]


def test_allow_files_lets_the_user_copy_out(store):
    out = store.parent / "out.csv"
    done = _cli("sql", f"COPY (SELECT 42 AS x) TO '{out}'", "--db", str(store), "--allow-files")
    assert done.returncode == 0, done.stderr
    assert out.read_text().splitlines() == ["x", "42"]


def test_a_sqlite_file_at_the_store_path_is_one_line_and_no_network(tmp_path):
    db = tmp_path / "app.db"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE t (x)")
    conn.commit()
    conn.close()
    done = _cli("sql", "SELECT 1", "--db", str(db))
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert "not a DuckDB file" in done.stderr
    assert "extension" not in done.stderr.lower()
