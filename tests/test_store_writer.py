"""The store writer with real files: row-group transactions, the lease and the waiting signal,
resources carried once, and batches that cannot be stored."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

import llmtrace
from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.exporters.duckdb.gathering import Gathered
from llmtrace.exporters.duckdb.rows import batch_resource, spans_to_batch
from llmtrace.store import connect_write
from llmtrace.store.batch_sql import RESOURCE_KEY
from llmtrace.store.spool import merge_spool, spool_dir, spool_files, write_spool
from llmtrace.store.writer import ROW_GROUP_ROWS, StoreWriter
from llmtrace.testing import make_spans
from tests.conftest import ROOT, hold_the_store, run_python


def _read(path: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(sql).fetchall()


def _row_group_sizes(path: Path) -> list[int]:
    return [
        n
        for (n,) in _read(
            path,
            "SELECT sum(count) FROM pragma_storage_info('spans') WHERE column_name = 'span_id' "
            "AND segment_type = 'VARCHAR' GROUP BY row_group_id ORDER BY row_group_id",
        )
    ]


def _wait_until_merged(exporter: DuckDBSpanExporter, spans: int) -> None:
    deadline = time.monotonic() + 30
    while exporter.exported_spans < spans:
        assert time.monotonic() < deadline, "the merger never stored the spans"
        time.sleep(0.01)


@pytest.fixture(scope="module")
def batch() -> pa.Table:
    """Two row groups and a bit of converted spans."""
    return spans_to_batch(make_spans(2 * ROW_GROUP_ROWS + 1_000))


def test_every_batch_of_a_lease_lands_once(tmp_path, batch):
    """Writes of every size in one lease, each its own transaction, all there after release."""
    path = tmp_path / "lease.duckdb"
    writer = StoreWriter(path)
    sizes = [1, 100, 8_192, ROW_GROUP_ROWS, 7]
    offset = 0
    for size in sizes:
        writer.write(batch.slice(offset, size))
        offset += size
        assert writer.holding
    writer.release()
    assert writer.committed_spans == sum(sizes)
    assert _read(path, "SELECT count(*), count(DISTINCT span_id) FROM spans") == [
        (sum(sizes), sum(sizes))
    ]


def test_a_full_row_group_goes_straight_to_the_file(tmp_path, batch):
    """A transaction of exactly one row group is written compressed into the database file,
    not logged row by row to the write-ahead log (which a checkpoint would then rewrite)."""
    path = tmp_path / "rowgroup.duckdb"
    writer = StoreWriter(path)
    writer.write(batch.slice(0, 10))
    writer.release()
    writer.write(batch.slice(10, ROW_GROUP_ROWS))
    wal = path.with_name(path.name + ".wal")
    wal_bytes = wal.stat().st_size if wal.exists() else 0
    # The same rows through the log take ~1 KB each (tens of MB here).
    assert wal_bytes < 1_000_000
    writer.write(batch.slice(10 + ROW_GROUP_ROWS, ROW_GROUP_ROWS))
    writer.release()
    assert _row_group_sizes(path)[-2:] == [ROW_GROUP_ROWS, ROW_GROUP_ROWS]


def test_the_exporter_stores_whole_row_groups_under_load(tmp_path):
    spans = make_spans(2 * ROW_GROUP_ROWS + 500)
    path = tmp_path / "load.duckdb"
    exporter = DuckDBSpanExporter(path)
    for i in range(0, len(spans), 8_192):
        exporter.export(spans[i : i + 8_192])
    assert exporter.force_flush()
    assert _row_group_sizes(path) == [ROW_GROUP_ROWS, ROW_GROUP_ROWS, 500]
    assert _read(path, "SELECT count(DISTINCT span_id) FROM spans") == [(len(spans),)]
    exporter.shutdown()


def test_a_waiting_reader_gets_in_while_the_writer_holds_the_lease(tmp_path):
    """The writer would keep the file for a minute; a reader from another process says it is
    waiting, and the writer stores what it gathered and lets go at once."""
    path = tmp_path / "held.duckdb"
    exporter = DuckDBSpanExporter(path, idle_release_s=60, max_hold_s=60)
    exporter.export(make_spans(15))
    _wait_until_merged(exporter, 15)  # the merger now holds the file
    start = time.monotonic()
    command = ["sql", "SELECT count(*) FROM spans", "--db", str(path), "--format", "csv"]
    done = subprocess.run(
        [sys.executable, "-m", "llmtrace", *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    waited_s = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["count_star()", "15"]
    assert waited_s < 10  # interpreter start included; the lease had 60 s to run
    exporter.shutdown()


def test_the_traced_process_reads_while_its_merger_holds_the_file(tmp_path):
    """The traced process never opens the store for writing itself (its merger process
    does), so its own connections wait for the lease like any other process, safely."""
    path = tmp_path / "same.duckdb"
    exporter = DuckDBSpanExporter(path, idle_release_s=60, max_hold_s=60)
    exporter.export(make_spans(3))
    _wait_until_merged(exporter, 3)
    conn = connect_write(path, timeout_s=10)
    assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(3,)]
    conn.close()
    exporter.shutdown()


def test_one_resource_travels_once_and_lands_on_every_row(tmp_path):
    single = spans_to_batch(make_spans(3))
    assert batch_resource(single) is not None
    assert single.column("resource").null_count == 3
    mixed = spans_to_batch(make_spans(2) + make_spans(2, attributes_per_span=9))
    path = tmp_path / "resources.duckdb"
    writer = StoreWriter(path)
    writer.write(single)
    writer.write(mixed)
    writer.release()
    rows = _read(path, "SELECT service_name, resource->>'service.name' FROM spans")
    assert rows == [("llmtrace-testing", "llmtrace-testing")] * 7


def test_gathered_batches_never_mix_resources():
    gathered = Gathered()
    first = spans_to_batch(make_spans(2))
    other = first.replace_schema_metadata({RESOURCE_KEY: b'{"service.name":"other"}'})
    gathered.add(first)
    assert gathered.accepts(spans_to_batch(make_spans(1)))  # an equal resource
    assert not gathered.accepts(other)
    assert gathered.take().num_rows == 2 and gathered.rows == 0


def test_spool_files_from_earlier_versions_merge(tmp_path):
    """Earlier versions spooled batches with the resource on every row and no metadata."""
    new = spans_to_batch(make_spans(4))
    resource = new.schema.metadata[RESOURCE_KEY].decode()
    old = new.replace_schema_metadata(None)
    old = old.set_column(
        old.schema.get_field_index("resource"), "resource", pa.array([resource] * 4)
    )
    old = old.set_column(
        old.schema.get_field_index("service_name"),
        "service_name",
        pa.array(["old-service"] * 4),
    )
    path = tmp_path / "old.duckdb"
    write_spool(path, old)
    conn = connect_write(path)
    assert merge_spool(conn, path) == 4
    conn.close()
    assert _read(path, "SELECT DISTINCT service_name, resource->>'service.name' FROM spans") == [
        ("old-service", "llmtrace-testing")
    ]


def test_a_batch_the_store_refuses_is_spooled_then_set_aside(tmp_path, monkeypatch, caplog):
    """A batch that breaks a constraint is not lost silently and does not block the spool:
    the write spools it (counted, reported once), the merge sets it aside with a warning and
    goes on to the next file."""
    monkeypatch.setenv("LLMTRACE_RAISE_INTERNAL_ERRORS", "0")
    good = spans_to_batch(make_spans(3))
    starts = good.schema.get_field_index("start_ns")
    broken = good.set_column(starts, "start_ns", pa.nulls(3, pa.int64()))
    path = tmp_path / "refused.duckdb"
    writer = StoreWriter(path)
    with caplog.at_level(logging.WARNING, logger="llmtrace"):
        writer.write(broken)
        assert writer.spooled_batches == 1 and writer.committed_spans == 0
        writer.write(good)  # the writer carries on with a fresh connection
        write_spool(path, good)
        assert writer.flush(timeout_s=5) is True
    assert "DuckDB store insert" in caplog.text
    assert "cannot be stored" in caplog.text
    assert [p.suffix for p in spool_dir(path).iterdir()] == [".unmergeable"]
    assert spool_files(path) == []
    assert _read(path, "SELECT count(*) FROM spans") == [(6,)]


def test_what_a_killed_process_handed_over_still_lands(tmp_path):
    """SIGKILL to the traced process: its merger sees its input end, stores every batch it
    was handed, and exits."""
    path = tmp_path / "killed.duckdb"
    done = run_python(f"""
        import os, signal, time
        from llmtrace.exporters import DuckDBSpanExporter
        from llmtrace.testing import make_spans

        exporter = DuckDBSpanExporter({str(path)!r})
        spans = make_spans(20_000)
        for i in range(0, len(spans), 8_192):
            exporter.export(spans[i : i + 8_192])
        time.sleep(1.5)  # gathered batches are handed over by now, not necessarily merged
        print(exporter._merger._process.pid, flush=True)
        os.kill(os.getpid(), signal.SIGKILL)
    """)
    assert done.returncode == -signal.SIGKILL
    merger_pid = int(done.stdout.split()[-1])
    deadline = time.monotonic() + 60
    while _alive(merger_pid):
        assert time.monotonic() < deadline, "the merger outlived its process"
        time.sleep(0.05)
    assert _read(path, "SELECT count(*), count(DISTINCT span_id) FROM spans") == [(20_000, 20_000)]
    assert list(spool_dir(path).iterdir()) == []


def test_the_files_of_a_merger_that_died_go_to_the_next_reader(tmp_path, caplog):
    path = tmp_path / "orphans.duckdb"
    holder = hold_the_store(path)
    exporter = DuckDBSpanExporter(path, lock_timeout_s=0.05)
    caplog.set_level(logging.WARNING, logger="llmtrace")
    try:
        exporter.export(make_spans(7))
        deadline = time.monotonic() + 10
        while not exporter._merger._in_flight:  # handed over, waiting for the busy store
            assert time.monotonic() < deadline
            time.sleep(0.01)
        exporter._merger._process.kill()
        while exporter._merger._in_flight:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert [p.suffix for p in spool_files(path)] == [".arrow"]
    finally:
        holder.communicate("release\n", timeout=30)
    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=path) == [{"n": 7}]
    deadline = time.monotonic() + 30
    while "merger for" not in caplog.text:  # said once, from the thread that saw it go
        assert time.monotonic() < deadline
        time.sleep(0.01)
    exporter.shutdown()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_without_a_merger_batches_are_spooled_and_merged_when_flushed(tmp_path, monkeypatch):
    """An application whose sys.executable is not a Python (uWSGI, a frozen binary) or where
    the merger cannot start: nothing is lost, the flush merges in the traced process."""
    monkeypatch.setenv("LLMTRACE_RAISE_INTERNAL_ERRORS", "0")
    monkeypatch.setenv("LLMTRACE_MERGER_PYTHON", str(tmp_path / "no-such-python"))
    path = tmp_path / "nomerger.duckdb"
    exporter = DuckDBSpanExporter(path)
    exporter.export(make_spans(8))
    exporter.export(make_spans(4))
    assert exporter.force_flush()
    assert exporter.spooled_batches >= 1 and spool_files(path) == []
    assert _read(path, "SELECT count(*) FROM spans") == [(12,)]
    exporter.shutdown()


def test_the_merger_is_never_started_with_an_application_binary(monkeypatch):
    from llmtrace.exporters.duckdb import merger_client

    monkeypatch.delenv("LLMTRACE_MERGER_PYTHON", raising=False)
    monkeypatch.setattr(sys, "executable", "/usr/local/bin/uwsgi")
    assert merger_client._python_executable() is None
    monkeypatch.setattr(sys, "executable", "/opt/app/.venv/bin/python3.11")
    assert merger_client._python_executable() == "/opt/app/.venv/bin/python3.11"
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert merger_client._python_executable() is None
    monkeypatch.setenv("LLMTRACE_MERGER_PYTHON", "/usr/bin/python3")
    assert merger_client._python_executable() == "/usr/bin/python3"
