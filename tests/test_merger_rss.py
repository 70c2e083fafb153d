"""What the merger keeps in memory while it stores a file (issue 19: its peak RSS)."""

from __future__ import annotations

import sys
from pathlib import Path

from llmtrace.exporters.duckdb.gathering import Document
from llmtrace.exporters.duckdb.reading import encode_salvaging
from llmtrace.store.json_batch import chunks
from llmtrace.store.spool import write_handoff
from llmtrace.store.together import insert_chunks
from llmtrace.store.writer import StoreWriter
from llmtrace.testing import make_spans


def _handoff(db: Path, spans: int) -> Path:
    document, _ = encode_salvaging(make_spans(spans, 14))
    assert isinstance(document, Document)
    return write_handoff(db, document)


def _inserted_then_counted(db: Path, insert) -> list[int]:
    """References left to each chunk's first array after ``insert`` ran inside a transaction
    that is still open (1: only the list this keeps)."""
    writer = StoreWriter(db)
    try:
        assert writer.acquire()
        conn = writer._conn
        assert conn is not None
        conn.execute("BEGIN TRANSACTION")
        prepared = list(chunks(_handoff(db, 300), None)) + list(chunks(_handoff(db, 200), None))
        firsts = [chunk.arrays[0] for chunk in prepared]
        insert(conn, prepared)
        del prepared
        counts = [sys.getrefcount(first) - 3 for first in firsts]  # less firsts, first, the call
        conn.execute("COMMIT")
        assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(500,)]
        return counts
    finally:
        writer.release()


def test_a_chunk_lets_go_of_its_arrays_once_inserted_not_at_the_commit(tmp_path):
    # DuckDB keeps an object registered inside a transaction until the COMMIT: every chunk of
    # a file waited in memory through it (~20 MiB of a row group's 30,720 spans).
    counts = _inserted_then_counted(
        tmp_path / "one.duckdb", lambda conn, prepared: [c.insert(conn) for c in prepared]
    )
    assert counts == [0, 0]


def test_chunks_stored_together_let_go_of_their_arrays_once_inserted(tmp_path):
    counts = _inserted_then_counted(tmp_path / "together.duckdb", insert_chunks)
    assert counts == [0, 0]
