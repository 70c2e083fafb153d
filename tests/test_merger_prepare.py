"""The merger prepares hand-off files on a thread of its own as soon as it hears of them, while
its main thread stores the one before."""

from __future__ import annotations

import io
import os
import queue
import threading
from pathlib import Path

import duckdb

from llmtrace.exporters.duckdb.merger import Merger, _Preparer, _read_commands
from llmtrace.exporters.duckdb.reading import encode_salvaging
from llmtrace.exporters.duckdb.rows import spans_to_batch
from llmtrace.store import connect_write
from llmtrace.store.spool import spool_dir, write_handoff
from llmtrace.store.writer import StoreWriter
from llmtrace.testing import make_spans


def _handoff(db: Path, size: int) -> Path:
    document, _ = encode_salvaging(make_spans(size))
    assert document is not None
    return write_handoff(db, document)


def _scratch(db: Path) -> list[str]:
    return sorted(p.name for p in spool_dir(db).iterdir() if p.name.endswith(".tmp"))


def test_the_command_reader_names_each_file_before_its_command_is_taken():
    """Files are heard of as they come, though nobody takes a command meanwhile (the main
    thread busy storing); the commands still arrive in order, then the end."""
    read_fd, write_fd = os.pipe()
    os.write(write_fd, b"file /x/a.handoff\nflush 1\nfile /x/b.handoff\nstop\n")
    os.close(write_fd)
    heard: list[Path] = []
    commands: queue.Queue[str] = queue.Queue()
    _read_commands(read_fd, commands, heard.append)
    os.close(read_fd)
    assert heard == [Path("/x/a.handoff"), Path("/x/b.handoff")]
    taken = [commands.get_nowait() for _ in range(commands.qsize())]
    assert taken == ["file /x/a.handoff", "flush 1", "file /x/b.handoff", "stop", "end"]


def _insert(conn: duckdb.DuckDBPyConnection, prepared: object) -> int:
    conn.execute("BEGIN TRANSACTION")
    rows = prepared.insert(conn)  # type: ignore[attr-defined]
    conn.execute("COMMIT")
    prepared.discard()  # type: ignore[attr-defined]
    return int(rows)


def test_files_are_prepared_in_order_without_being_asked_and_discarded_without_trace(tmp_path):
    """Files are prepared in the order given, each as its insert takes its chunks (nothing on
    disk, a chunk or two in memory); a file not JSON is left to merging; after discard()
    nothing more is prepared."""
    db = tmp_path / "prepare.duckdb"
    first, second = _handoff(db, 300), _handoff(db, 1_100)
    arrow = write_handoff(db, spans_to_batch(make_spans(3)))
    preparer = _Preparer()
    for path in (first, second, arrow):
        preparer.submit(path)
    preparer.submit(first)  # given twice: prepared once
    later = _handoff(db, 10)
    preparer.submit(later, most=3)  # three are being prepared, or wait prepared, already
    prepared = preparer.take(first)
    assert prepared is not None
    assert preparer.take(first) is None  # taken: the caller owns it now
    conn = connect_write(db, 5)
    try:
        assert _insert(conn, prepared) == 300
        assert _insert(conn, preparer.take(second)) == 1_100  # prepared once the first was
        assert preparer.take(arrow) is None  # not a JSON hand-off file: merging reads it itself
        assert preparer.take(later) is None
        preparer.submit(later, most=3)  # taken: room again
        assert _insert(conn, preparer.take(later)) == 10
    finally:
        conn.close()
    assert _scratch(db) == []
    preparer.discard()
    preparer.submit(first)  # finishing: nothing more is prepared
    assert preparer.take(first) is None


def test_a_file_not_taken_is_dropped_by_discard_and_the_next_one_is_prepared(tmp_path):
    """A preparation nobody takes (the store was busy) is stopped by discard(paths), and the
    preparer goes on with the files after it."""
    db = tmp_path / "busy.duckdb"
    first, second = _handoff(db, 3_000), _handoff(db, 20)
    preparer = _Preparer()
    preparer.submit(first)
    preparer.submit(second)
    preparer.discard([first])
    conn = connect_write(db, 5)
    try:
        assert _insert(conn, preparer.take(second)) == 20
    finally:
        conn.close()


def test_files_heard_of_by_the_reader_are_stored_once_and_leave_nothing_behind(tmp_path):
    db = tmp_path / "reader.duckdb"
    sizes = (700, 2_048, 30, 1_500)
    files = [_handoff(db, size) for size in sizes]
    files.insert(2, write_handoff(db, spans_to_batch(make_spans(5))))
    merger = Merger(StoreWriter(db), idle_release_s=0.6, out=io.StringIO())
    read_fd, write_fd = os.pipe()
    commands: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(
        target=_read_commands, args=(read_fd, commands, merger.preparer.submit)
    )
    reader.start()
    os.write(write_fd, "".join(f"file {p}\n" for p in files).encode() + b"stop\n")
    os.close(write_fd)
    reader.join()
    os.close(read_fd)
    while merger.handle(commands.get_nowait()):
        merger.merge_pending()
    assert merger.writer.committed_spans == sum(sizes) + 5
    assert sorted(p.name for p in spool_dir(db).iterdir()) == []
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchall() == [
            (sum(sizes) + 5, sum(sizes) + 5)
        ]


def test_every_waiting_command_is_taken_before_merging(tmp_path):
    """Files given while the main thread stored another are all pending at once (so the ones
    after the head can be prepared meanwhile); a stop among them ends the run."""
    db = tmp_path / "waiting.duckdb"
    merger = Merger(StoreWriter(db), idle_release_s=0.6, out=io.StringIO())
    commands: queue.Queue[str] = queue.Queue()
    for name in ("a", "b", "c"):
        commands.put(f"file {tmp_path / name}.handoff")
    assert merger.take_waiting(commands) is True
    assert [p.name for p in merger.pending] == ["a.handoff", "b.handoff", "c.handoff"]
    assert commands.empty()
    merger.pending.clear()
    commands.put("stop")
    assert merger.take_waiting(commands) is False
