"""What the merger keeps in memory while it stores a file (issue 19: its peak RSS)."""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmtrace.exporters.duckdb import merger as merger_module
from llmtrace.exporters.duckdb.allocator import LEAN_THRESHOLD, QUICK_THRESHOLD
from llmtrace.exporters.duckdb.gathering import Document
from llmtrace.exporters.duckdb.merger import Merger, _Preparer
from llmtrace.exporters.duckdb.reading import encode_salvaging
from llmtrace.store.json_batch import CHUNK_ROWS, LEAN_CHUNK_ROWS, chunks
from llmtrace.store.spool import spool_files, write_handoff
from llmtrace.store.together import insert_chunks
from llmtrace.store.writer import StoreWriter
from llmtrace.testing import make_spans
from tests.conftest import run_python


def _handoff(db: Path, spans: int) -> Path:
    document, _ = encode_salvaging(make_spans(spans, 14))
    assert isinstance(document, Document)
    return write_handoff(db, document)


@contextlib.contextmanager
def _in_transaction(db: Path) -> Iterator[Any]:
    """The merger's own connection to ``db``, in a transaction the caller commits."""
    writer = StoreWriter(db)
    try:
        assert writer.acquire()
        conn = writer._conn
        assert conn is not None
        conn.execute("BEGIN TRANSACTION")
        yield conn
    finally:
        writer.release()


def _inserted_then_counted(db: Path, insert) -> list[int]:
    """References left to each chunk's first array after ``insert`` ran inside a transaction
    that is still open (1: only the list this keeps)."""
    with _in_transaction(db) as conn:
        prepared = list(chunks(_handoff(db, 300), None)) + list(chunks(_handoff(db, 200), None))
        firsts = [chunk.arrays[0] for chunk in prepared]
        insert(conn, prepared)
        del prepared
        counts = [sys.getrefcount(first) - 3 for first in firsts]  # less firsts, first, the call
        conn.execute("COMMIT")
        assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(500,)]
        return counts


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


def _stored(db: Path, path: Path, most: int) -> list[tuple[object, ...]]:
    with _in_transaction(db) as conn:
        sizes = [chunk.rows for chunk in chunks(path, None, most)]
        rows = sum(chunk.insert(conn) for chunk in chunks(path, None, most))
        conn.execute("COMMIT")
        assert rows == sum(sizes) and max(sizes) <= most
        return conn.execute(
            "SELECT * EXCLUDE (attributes), attributes::VARCHAR FROM spans ORDER BY span_id"
        ).fetchall()


def test_smaller_chunks_store_the_same_rows(tmp_path):
    path = _handoff(tmp_path / "source.duckdb", 5_000)
    lean = _stored(tmp_path / "lean.duckdb", path, LEAN_CHUNK_ROWS // 4)
    full = _stored(tmp_path / "full.duckdb", path, CHUNK_ROWS)
    assert len(lean) == 5_000 and lean == full


def test_the_merger_prepares_smaller_chunks_while_it_keeps_up(tmp_path):
    db = tmp_path / "lean.duckdb"
    behind = [False]
    preparer = _Preparer(lambda: behind[0])
    first, second = _handoff(db, 10), _handoff(db, 10)
    preparer.submit(first)
    taken = preparer.take(first)
    assert taken.chunk_rows == LEAN_CHUNK_ROWS < CHUNK_ROWS
    taken.discard()
    behind[0] = True  # files wait: speed counts more than memory
    preparer.submit(second)
    taken = preparer.take(second)
    assert taken.chunk_rows == CHUNK_ROWS
    taken.discard()
    preparer.discard()


def test_the_merger_counts_files_waiting_or_a_writer_behind_as_behind(tmp_path):
    db = tmp_path / "behind.duckdb"
    writer = StoreWriter(db)
    merger = Merger(writer, idle_release_s=1.0, out=io.StringIO())
    behind = merger.preparer._behind
    merger.pending.append(_handoff(db, 10))
    assert not behind()
    merger.pending.append(_handoff(db, 10))
    assert behind()
    merger.pending.pop()
    writer.set_behind(True)
    assert behind()
    writer.release()  # a lease ends caught up
    assert not behind()
    merger.finish()


_OWN_PAGES = """
import ctypes, json
from llmtrace.exporters.duckdb.allocator import LEAN_THRESHOLD, QUICK_THRESHOLD, set_threshold

class MallInfo2(ctypes.Structure):
    _fields_ = [(n, ctypes.c_size_t) for n in ("arena", "ordblks", "smblks", "hblks", "hblkhd",
                "usmblks", "fsmblks", "uordblks", "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = MallInfo2
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]

def own_pages(size):
    before = libc.mallinfo2().hblkhd
    block = libc.malloc(size)
    try:
        return libc.mallinfo2().hblkhd >= before + size
    finally:
        libc.free(block)

def heap_kept(size):
    block = libc.malloc(size)
    held = libc.mallinfo2().arena
    libc.free(block)
    return libc.mallinfo2().arena >= held

size = 4 << 20
answers = [set_threshold(LEAN_THRESHOLD), own_pages(size)]
answers += [set_threshold(QUICK_THRESHOLD), own_pages(size), heap_kept(size)]
print(json.dumps(answers))
"""


@pytest.mark.skipif(not hasattr(ctypes.CDLL(None), "mallinfo2"), reason="glibc >= 2.33 only")
def test_the_allocator_threshold_decides_which_blocks_get_pages_of_their_own():
    # A fresh process: its heaps hold no free block that big (which would serve it whatever
    # the threshold).
    result = run_python(_OWN_PAGES)
    assert result.returncode == 0, result.stderr
    lean_set, lean_own, quick_set, quick_own, quick_kept = json.loads(result.stdout)
    assert lean_set and lean_own  # pages of its own, given back when freed
    assert quick_set and not quick_own  # from a heap: quick to reuse
    assert quick_kept  # and the heap keeps it for the next one (not trimmed at 128 KiB)


def test_the_merger_allocates_lean_while_it_keeps_up_and_quick_when_behind(tmp_path, monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(merger_module, "set_threshold", calls.append)
    db = tmp_path / "pace.duckdb"
    merger = Merger(StoreWriter(db), idle_release_s=1.0, out=io.StringIO(), tune_allocator=True)
    try:
        merger.pending.append(_handoff(db, 10))
        assert merger.merge_pending()
        assert calls == [LEAN_THRESHOLD]
        merger.pending.extend(_handoff(db, 10) for _ in range(3))
        assert merger.merge_pending()
        assert calls == [LEAN_THRESHOLD, QUICK_THRESHOLD]  # behind until the lease ends
        merger.writer.release()
        merger.pending.append(_handoff(db, 10))
        assert merger.merge_pending()
        assert calls == [LEAN_THRESHOLD, QUICK_THRESHOLD, LEAN_THRESHOLD]
    finally:
        merger.finish()


def test_the_bench_floor_is_a_real_merger_that_stored_one_span(tmp_path):
    from bench.lean_runtime import merger_floor

    floor = merger_floor(tmp_path)
    assert 20 < floor < 1_000  # MiB: DuckDB alone is tens
    writer = StoreWriter(tmp_path / "floor.duckdb")
    try:
        assert writer.acquire()
        conn = writer._conn
        assert conn is not None
        assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(1,)]
    finally:
        writer.release()


def test_a_commit_that_runs_out_of_duckdb_s_memory_is_tried_again_with_more(tmp_path):
    # A partial row group (through the write-ahead log) needs its memory at the COMMIT, which
    # DuckDB words as a TransactionException: 20,000 spans fit a 16 MB insert, not its commit.
    db = tmp_path / "commit.duckdb"
    path = _handoff(db, 20_000)
    writer = StoreWriter(db)
    writer.memory_limit_mb = 16
    try:
        assert writer.merge(path)
    finally:
        writer.release()
    assert writer.committed_spans == 20_000 and writer.memory_limit_mb > 16
    assert not path.exists() and spool_files(db) == []
