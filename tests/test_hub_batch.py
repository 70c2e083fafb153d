"""Spool files of several processes stored together: one transaction for many small files
(``spool.merge_files``), the shared merger serving every waiting client of a store at once
(``hub._serve_waiting``), a bad file failing only itself, and a merge killed half-way losing
nothing."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import duckdb
import pytest

from llmtrace.exporters.duckdb import hub as hub_module
from llmtrace.exporters.duckdb.reading import encode_salvaging
from llmtrace.store import spool, writer
from llmtrace.store.connection import connect_write
from llmtrace.store.spool import (
    ledger_key,
    merge_files,
    merge_spool,
    release_handoffs,
    spool_dir,
    spool_files,
    write_handoff,
)
from llmtrace.testing import make_spans
from tests.conftest import count_spans_read_write

ROOT = Path(__file__).resolve().parents[1]


def _spooled(db: Path, spans: int) -> Path:
    """A spool file of ``spans`` spans, as an exiting process leaves it."""
    document, _ = encode_salvaging(make_spans(spans))
    assert document is not None
    handoff = write_handoff(db, document)
    release_handoffs([handoff])
    return handoff.with_name(ledger_key(handoff))


def _damaged(db: Path) -> Path:
    """A spool file whose documents are cut short (it reads as hand-off JSON, then fails)."""
    path = _spooled(db, 3)
    path.write_bytes(path.read_bytes()[:200])
    return path


def _store(db: Path) -> None:
    connect_write(db, timeout_s=5).close()


_count = count_spans_read_write  # read-write: nobody may hold the file


class _Commits:
    """A connection that counts its COMMITs."""

    def __init__(self, conn: duckdb.DuckDBPyConnection) -> None:
        self.conn = conn
        self.commits = 0
        self.inserts = 0

    def execute(self, sql: str, *args: Any) -> Any:
        if sql.strip().upper() == "COMMIT":
            self.commits += 1
        self.inserts += sql.strip().startswith("INSERT INTO spans")
        return self.conn.execute(sql, *args)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.conn, name)


def test_several_files_are_stored_in_one_transaction_and_deleted(tmp_path):
    db = tmp_path / "together.duckdb"
    _store(db)
    files = [_spooled(db, n) for n in (3, 5, 7)]
    conn = connect_write(db, timeout_s=5)
    try:
        counting = _Commits(conn)
        assert merge_files(counting, files) == 15
        assert counting.commits == 1
        keys = {row[0] for row in conn.execute("SELECT file FROM spool_merged").fetchall()}
        assert keys == {p.name for p in files}
        assert merge_files(counting, files) == 0  # gone: nothing twice
    finally:
        conn.close()
    assert spool_files(db) == []
    assert _count(db) == (15, 15)


def test_a_file_stored_before_is_only_deleted(tmp_path):
    """A merge killed between its commit and its deletes left files whose keys are recorded:
    together they fail (nothing inserted); the spool merge then deletes them one at a time
    without storing them again, and stores the new one."""
    db = tmp_path / "again.duckdb"
    _store(db)
    files = [_spooled(db, 4), _spooled(db, 6)]
    copies = [p.read_bytes() for p in files]
    conn = connect_write(db, timeout_s=5)
    try:
        merge_files(conn, files)
        for path, data in zip(files, copies, strict=True):
            path.write_bytes(data)  # as if never deleted
        new = _spooled(db, 2)
        with pytest.raises(duckdb.ConstraintException):
            merge_files(conn, [*files, new])
        assert conn.execute("SELECT count(*) FROM spans").fetchall()[0][0] == 10
        assert merge_spool(conn, db) == 2
    finally:
        conn.close()
    assert _count(db) == (12, 12)
    assert spool_files(db) == []


def test_a_bad_file_fails_the_batch_and_then_only_itself(tmp_path):
    """Together, one damaged file fails them all (nothing stored, every file kept); the spool
    merge then stores the good ones one at a time and sets the bad one aside."""
    db = tmp_path / "bad.duckdb"
    _store(db)
    good = [_spooled(db, 3), _spooled(db, 4)]
    bad = _damaged(db)
    conn = connect_write(db, timeout_s=5)
    try:
        with pytest.raises(ValueError):
            merge_files(conn, [good[0], bad, good[1]])
        assert conn.execute("SELECT count(*) FROM spans").fetchall()[0][0] == 0
        assert all(p.exists() for p in [*good, bad])
        assert merge_spool(conn, db) == 7
    finally:
        conn.close()
    assert spool_files(db) == []
    assert bad.with_name(bad.name + ".unmergeable").exists()
    assert _count(db) == (7, 7)


def test_big_files_are_merged_apart(tmp_path, monkeypatch):
    """Files are merged together only up to a size: a big one goes in a transaction alone."""
    db = tmp_path / "big.duckdb"
    _store(db)
    files = [_spooled(db, 3) for _ in range(4)]
    size = files[0].stat().st_size
    monkeypatch.setattr(spool, "_TOGETHER_BYTES", 2 * size + size // 2)
    runs = list(spool._together(sorted(files)))
    assert [len(run) for run in runs] == [2, 2]
    conn = connect_write(db, timeout_s=5)
    try:
        counting = _Commits(conn)
        assert merge_spool(counting, db) == 12
        assert counting.commits == 2
    finally:
        conn.close()


def _spans_of(service: str, count: int) -> Path:
    """Spans of a process of its own (its resource: ``service`` and an instance id)."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    resource = Resource.create({"service.name": service, "service.instance.id": service * 2})
    provider = TracerProvider(resource=resource)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    for i in range(count):
        provider.get_tracer("t").start_span(f"step {i}", attributes={"i": i}).end()
    provider.shutdown()
    return list(exporter.get_finished_spans())  # type: ignore[return-value]


def _rows(db: Path) -> list[tuple[Any, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute("SELECT * FROM spans ORDER BY span_id").fetchall()
    finally:
        conn.close()


def test_files_stored_together_are_the_rows_stored_one_at_a_time(tmp_path):
    """Several processes' files (each its own resource, one with a quote in its service name,
    one an Arrow file of an earlier version) in one transaction and one INSERT for the
    documents: the same rows as one file at a time."""
    from llmtrace.exporters.duckdb.rows import spans_to_batch
    from llmtrace.store.spool import merge_file, write_spool

    apart, together = tmp_path / "apart.duckdb", tmp_path / "together.duckdb"
    for db in (apart, together):
        _store(db)
    for service, count in (("a", 3), ("b's", 4), ("c", 1)):
        document, _ = encode_salvaging(_spans_of(service, count))
        assert document is not None
        for db in (apart, together):
            release_handoffs([write_handoff(db, document)])
    batch = spans_to_batch(make_spans(2))
    for db in (apart, together):
        write_spool(db, batch)
    conn = connect_write(apart, timeout_s=5)
    try:
        assert sum(merge_file(conn, path) for path in spool_files(apart)) == 10
    finally:
        conn.close()
    conn = connect_write(together, timeout_s=5)
    try:
        counting = _Commits(conn)
        assert merge_files(counting, spool_files(together)) == 10
        assert counting.inserts == 2  # the documents' chunks in one, the Arrow file
    finally:
        conn.close()
    stored = _rows(together)
    assert stored == _rows(apart)
    services = {row[10] for row in stored}  # service_name
    assert {"a", "b's", "c"} <= services


# Merges the spool of the store argv[1] in one transaction and is killed (os._exit) either
# once the rows are inserted, before the commit, or right after the commit, before deleting
# any file.
_KILLED = """
import os, sys
from pathlib import Path
from llmtrace.store import spool
from llmtrace.store.connection import connect_write
db, when = Path(sys.argv[1]), sys.argv[2]
real_insert = spool._insert_all
def insert(*args):
    rows = real_insert(*args)
    if when == "inserting":
        os._exit(9)
    return rows
spool._insert_all = insert
if when == "committed":
    Path.unlink = lambda self, missing_ok=False: os._exit(9)
spool.merge_spool(connect_write(db, timeout_s=5), db)
"""


@pytest.mark.parametrize("when", ["inserting", "committed"])
def test_a_merger_killed_mid_batch_loses_nothing(tmp_path, when):
    """Killed half-way through a batch (the shared merger's way of storing), nothing is lost
    and nothing is stored twice: before the commit the files are all still there, after it
    their keys are recorded."""
    db = tmp_path / f"killed-{when}.duckdb"
    _store(db)
    for n in (2, 3, 4, 5, 6):
        _spooled(db, n)
    killed = subprocess.run(
        [sys.executable, "-c", _KILLED, str(db), when], cwd=ROOT, capture_output=True, text=True
    )
    assert killed.returncode == 9, killed.stderr
    assert len(spool_files(db)) == 5
    conn = connect_write(db, timeout_s=5)
    try:
        merge_spool(conn, db)
    finally:
        conn.close()
    assert _count(db) == (20, 20)
    assert spool_files(db) == []


# --- the shared merger ------------------------------------------------------------------------
def _hub_with_clients(db: Path, files: list[list[Path]], monkeypatch) -> tuple[Any, list, list]:
    """A hub (not running its loop) with a waiting client per list of files; the client ends
    of their connections, and the files of each batch the store was given (recorded)."""
    batches: list[list[str]] = []
    real = spool.merge_files

    def recording(conn: Any, paths: list[Path], prices: Any = None) -> int:
        batches.append(sorted(p.name for p in paths))
        return real(conn, paths, prices)

    monkeypatch.setattr(spool, "merge_files", recording)
    monkeypatch.setattr(writer, "merge_files", recording)
    hub = hub_module.Hub(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM), linger_s=0)
    ends = []
    for given in files:
        ours, theirs = socket.socketpair()
        hub.clients[theirs] = hub_module._Client(theirs, store=db, files=given, waiting="stop")
        ends.append(ours)
    return hub, ends, batches


def _answers(ends: list[socket.socket]) -> list[str]:
    out = []
    for end in ends:
        end.settimeout(10)
        out.append(end.recv(256).decode().strip())
        end.close()
    return out


@pytest.mark.parametrize("holding", [False, True])
def test_the_hub_stores_every_waiting_client_of_a_store_in_one_transaction(
    tmp_path, monkeypatch, holding
):
    """Three processes that end at once: their files go in together (whether the hub held the
    file already or opens it for them), each is answered, and with nobody else connected the
    file is let go of, so a plain connect sees every span."""
    db = tmp_path / "hub.duckdb"
    _store(db)
    hub, ends, batches = _hub_with_clients(db, [], monkeypatch)
    if holding:
        assert hub._writer(db).acquire()
    files = [[_spooled(db, n)] for n in (2, 3, 4)]
    for given in files:
        ours, theirs = socket.socketpair()
        hub.clients[theirs] = hub_module._Client(theirs, store=db, files=given, waiting="stop")
        ends.append(ours)
    hub._serve_waiting()
    assert batches == [sorted(p.name for given in files for p in given)]
    assert _answers(ends) == ["stopped ok"] * 3
    assert not hub.writers[db].holding
    assert _count(db) == (9, 9)
    hub.close()


def test_the_hub_holds_the_file_while_another_client_of_the_store_is_connected(
    tmp_path, monkeypatch
):
    db = tmp_path / "held.duckdb"
    _store(db)
    hub, ends, batches = _hub_with_clients(db, [[_spooled(db, 2)], [_spooled(db, 3)]], monkeypatch)
    idle, theirs = socket.socketpair()
    hub.clients[theirs] = hub_module._Client(theirs, store=db)  # alive, not ending
    hub._serve_waiting()
    assert len(batches) == 1 and len(batches[0]) == 2
    assert _answers(ends) == ["stopped ok"] * 2
    assert hub.writers[db].holding
    hub.close()
    idle.close()
    assert _count(db) == (5, 5)


def test_one_bad_file_among_waiting_clients_fails_only_itself(tmp_path, monkeypatch):
    """The batch fails on the damaged file; the hub then stores the others one at a time:
    every client is answered, the good files are stored, the bad one is set aside."""
    db = tmp_path / "one-bad.duckdb"
    _store(db)
    bad = _damaged(db)
    hub, ends, batches = _hub_with_clients(
        db, [[_spooled(db, 2)], [bad], [_spooled(db, 5)]], monkeypatch
    )
    hub._serve_waiting()
    assert len(batches[0]) == 3  # tried together first
    assert _answers(ends) == ["stopped ok"] * 3
    assert _count(db) == (7, 7)
    assert [p.name for p in spool_dir(db).iterdir()] == [bad.name + ".unmergeable"]
    hub.close()


def test_a_sync_with_nothing_given_does_not_open_the_store(tmp_path, monkeypatch):
    """A flush (or an exit) of a process whose files the hub has stored already, or that gave
    none, is answered at once: the hub does not open the store for it."""
    db = tmp_path / "nothing.duckdb"
    _store(db)
    hub, ends, batches = _hub_with_clients(db, [[]], monkeypatch)

    def refuse(self: Any) -> bool:
        raise AssertionError("the store was opened")

    monkeypatch.setattr(writer.StoreWriter, "acquire", refuse)
    hub._serve_waiting()
    assert _answers(ends) == ["stopped ok"]
    assert batches == []
    hub.close()


def test_a_configured_exporter_stays_connected_to_the_hub(tmp_path, monkeypatch):
    """configure() connects to the hub in the background (starting it) and keeps the
    connection, so the hub knows the process is alive; exit waits for that connect."""
    from llmtrace.exporters.duckdb.exporter import DuckDBSpanExporter
    from llmtrace.exporters.duckdb.hub_client import address

    monkeypatch.setenv("LLMTRACE_MERGER_LINGER_S", "1")
    monkeypatch.setenv("LLMTRACE_TEST_HUB", str(tmp_path))  # a hub of this test's own
    if address(tmp_path / "x.duckdb") is None:
        pytest.skip("no shared merger here")
    exporter = DuckDBSpanExporter(tmp_path / "alive.duckdb", warm_merger=True)
    session = exporter._hub
    assert session.warming is not None
    session.settle(30)
    assert not session.warming.is_alive()
    assert session.connected
    exporter.shutdown()
    assert not session.connected  # closed with a 'stop' at the end


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_does_not_keep_its_parents_hub_connection_open(tmp_path):
    """The hub takes a process for alive while its connection is open: a forked child closes
    its copy at once, so the hub sees the parent go when the parent goes."""
    from llmtrace.exporters.duckdb.hub_client import HubSession

    name = f"llmtrace-test-fork-{os.getpid()}-{time.monotonic_ns()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + name)
    listener.listen(4)
    session = HubSession(tmp_path / "fork.duckdb")
    session.name = name
    assert session.connect(start=False)
    served, _ = listener.accept()
    child = os.fork()
    if child == 0:  # the child: lives on, holding whatever it inherited
        time.sleep(3)
        os._exit(0)
    try:
        session.close()  # the parent goes
        served.settimeout(2)
        received = b""
        while chunk := served.recv(4096):
            received += chunk
        assert received.startswith(b"store ")  # and then the end, though the child lives
    finally:
        os.kill(child, signal.SIGKILL)
        os.waitpid(child, 0)
        served.close()
        listener.close()
