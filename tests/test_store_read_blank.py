"""A read of a store file that exists but holds no schema yet (a writer stopped before its
first migration committed, while batches wait beside it) creates the schema and stores the
waiting batches, instead of failing with "table spans does not exist" (seen in make bench after
50 short processes exited at once)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb

import llmtrace
from llmtrace.store.spool import spool_files

ROOT = Path(__file__).resolve().parent.parent

_TRACE = """
import sys, llmtrace
llmtrace.configure(db=sys.argv[1])
@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(i):
    return {"usage": {"input_tokens": 3, "output_tokens": 2}}
for i in range(10):
    call(i)
"""


def test_a_blank_store_file_with_batches_waiting_reads_every_span(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    env = {"LLMTRACE_FAST_EXIT": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run(
        [sys.executable, "-c", _TRACE, str(db)], cwd=ROOT, env=env, capture_output=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert spool_files(db, include_live=True), "fast exit leaves the batch beside the store"
    duckdb.connect(str(db)).close()  # the blank file a stopped writer leaves
    rows = llmtrace.query("SELECT count(*) AS n, sum(cost_usd) > 0 AS priced FROM spans", db=db)
    assert rows == [{"n": 10, "priced": True}]
    assert not spool_files(db, include_live=True)


def test_a_blank_store_file_alone_reads_as_an_empty_store(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    duckdb.connect(str(db)).close()
    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=db) == [{"n": 0}]


def test_another_applications_file_is_still_read_as_it_is(tmp_path: Path) -> None:
    db = tmp_path / "theirs.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE TABLE orders AS SELECT 1 AS id")
    assert llmtrace.query("SELECT id FROM orders", db=db) == [{"id": 1}]


def test_temporary_files_nobody_finished_go_once_stale(tmp_path: Path) -> None:
    """A merger killed while preparing a file leaves ``<file>.rows-N.tmp`` scratch files, and a
    writer killed mid-write a ``.tmp``: the next merge removes those older than ten minutes,
    and leaves a fresh one (someone may be writing it)."""
    import os
    import time

    from llmtrace.store.connection import connect_write
    from llmtrace.store.spool import merge_spool, spool_dir

    db = tmp_path / "store.duckdb"
    folder = spool_dir(db)
    folder.mkdir()
    stale = folder / "123-abc.handoff.rows-0.tmp"
    fresh = folder / "456-def.tmp"
    stale.write_bytes(b"{}")
    fresh.write_bytes(b"{}")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    conn = connect_write(db)
    try:
        merge_spool(conn, db)
    finally:
        conn.close()
    assert not stale.exists()
    assert fresh.exists()
