"""Hand-off files reach DuckDB as Arrow streams (store/json_batch.py): a row group fits the
merger's first memory limit, a prepared file inserts again after a rollback, and its scratch
files go whether or not the rows went in."""

from __future__ import annotations

import os
import subprocess
import sys

import duckdb

from llmtrace.exporters.duckdb.gathering import Document
from llmtrace.exporters.duckdb.reading import encode_salvaging
from llmtrace.store import connect_write
from llmtrace.store.json_batch import prepare
from llmtrace.store.spool import ROW_GROUP_ROWS, write_handoff
from llmtrace.store.writer import StoreWriter
from llmtrace.testing import make_spans


def _handoff(db, spans):
    documents = []
    for start in range(0, len(spans), 1_024):
        document, unreadable = encode_salvaging(spans[start : start + 1_024])
        assert document is not None and unreadable == 0
        documents.append(document.data)
    return write_handoff(db, Document(b"\n".join(documents), len(spans)))


def test_a_row_group_of_fourteen_attribute_spans_fits_the_first_memory_limit(tmp_path):
    """Read as JSON lines, a row group needed 160 MB of DuckDB's memory and every merger's
    first full file failed once and doubled the cap; scanned from Arrow it fits the first."""
    db = tmp_path / "rg.duckdb"
    path = _handoff(db, make_spans(ROW_GROUP_ROWS, 14))
    writer = StoreWriter(db)
    first = writer.memory_limit_mb
    try:
        assert writer.merge(path)
    finally:
        writer.release()
    assert writer.committed_spans == ROW_GROUP_ROWS
    assert writer.memory_limit_mb == first
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("SELECT count(DISTINCT span_id) FROM spans").fetchall() == [
            (ROW_GROUP_ROWS,)
        ]


def test_a_prepared_file_inserts_again_after_a_rollback_and_leaves_no_scratch(tmp_path):
    db = tmp_path / "again.duckdb"
    path = _handoff(db, make_spans(2_500))
    prepared = prepare(path, None)
    scratch = [group.scratch for group in prepared.groups]
    assert scratch and all(p.exists() for p in scratch)
    conn = connect_write(db, 5)
    try:
        conn.execute("BEGIN TRANSACTION")
        assert prepared.insert(conn) == 2_500
        conn.execute("ROLLBACK")
        conn.execute("BEGIN TRANSACTION")
        assert prepared.insert(conn) == 2_500
        conn.execute("COMMIT")
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT span_id), count(model), count(cost_usd) FROM spans"
        ).fetchall()
    finally:
        conn.close()
        prepared.discard()
    assert rows == [(2_500, 2_500, 2_500, 2_500)]
    assert not any(p.exists() for p in scratch)


def test_the_mergers_pyarrow_allocates_from_the_c_heap_not_jemalloc():
    """jemalloc kept what earlier files' batches used: the merger's peak RSS after 100k @llm
    spans was ~20 MiB higher with it (bench.lean_runtime merger)."""
    code = (
        "import pathlib, sys, llmtrace.exporters.duckdb.merger_boot as boot\n"
        "boot.bare_packages(pathlib.Path(boot.__file__).resolve().parents[3])\n"
        "import pyarrow\n"
        "print(pyarrow.default_memory_pool().backend_name)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "ARROW_DEFAULT_MEMORY_POOL"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert done.stdout.split() == ["system"], done.stderr
