"""The DuckDB exporter's writer thread, its exit paths, and span conversion, with real files."""

from __future__ import annotations

import logging
import threading

import duckdb
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode

import llmtrace
from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.exporters.duckdb.rows import spans_to_batch
from llmtrace.store import connect_write
from llmtrace.store.spool import merge_spool, spool_files, write_spool
from llmtrace.testing import make_spans

from .conftest import run_python


def _count(path) -> int:
    return (
        duckdb.connect(str(path), read_only=True)
        .execute("SELECT count(*) FROM spans")
        .fetchall()[0][0]
    )


def test_batches_land_on_the_writer_thread_and_flush_waits_for_them(tmp_path):
    path = tmp_path / "w.duckdb"
    exporter = DuckDBSpanExporter(path)
    spans = make_spans(5_000)
    callers: set[str] = set()
    for i in range(0, len(spans), 500):
        callers.add(threading.current_thread().name)
        exporter.export(spans[i : i + 500])
    assert exporter.force_flush()
    assert exporter.exported_spans == 5_000
    assert exporter._writer is not None and exporter._writer.name == "llmtrace-duckdb-writer"
    assert exporter._writer.name not in callers
    assert _count(path) == 5_000  # the lease is released: another connection can open it
    exporter.shutdown()
    assert not exporter._writer.is_alive()


def test_concurrent_exporting_threads_lose_nothing(tmp_path):
    path = tmp_path / "threads.duckdb"
    exporter = DuckDBSpanExporter(path)
    spans = make_spans(2_000)

    def export_all():
        for i in range(0, len(spans), 100):
            exporter.export(spans[i : i + 100])

    threads = [threading.Thread(target=export_all) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    exporter.shutdown()
    assert _count(path) == 8_000


def test_after_shutdown_export_fails_and_flush_is_harmless(tmp_path):
    exporter = DuckDBSpanExporter(tmp_path / "s.duckdb")
    exporter.export(make_spans(3))
    exporter.shutdown()
    assert exporter.export(make_spans(3)).name == "FAILURE"
    assert exporter.force_flush() is True
    assert _count(tmp_path / "s.duckdb") == 3


EXIT_WITHOUT_FLUSH = """
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor
    from llmtrace.exporters import DuckDBSpanExporter

    {first}
    {second}
    provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=60_000))
    tracer = provider.get_tracer("t")
    for i in range(1_500):
        tracer.start_span(f"s{{i}}").end()
    # no flush and no shutdown: the interpreter just ends
"""


@pytest.mark.parametrize("exporter_first", [True, False], ids=["exporter-first", "provider-first"])
def test_plain_sdk_pipeline_loses_nothing_at_exit(tmp_path, exporter_first):
    """Whichever exit hook runs first (the exporter's or the SDK provider's), every span lands
    (in the store, or spooled beside it for the next reader: exit starts no merger) and nothing
    is printed, not even the bindings' leak report."""
    db = tmp_path / "exit.duckdb"
    make_exporter = f"exporter = DuckDBSpanExporter({str(db)!r})"
    make_provider = "provider = TracerProvider()"
    first, second = (
        (make_exporter, make_provider) if exporter_first else (make_provider, make_exporter)
    )
    done = run_python(EXIT_WITHOUT_FLUSH.format(first=first, second=second))
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=db) == [{"n": 1_500}]
    assert _count(db) == 1_500


def test_a_forked_child_writes_with_its_own_writer(tmp_path):
    db = tmp_path / "fork.duckdb"
    done = run_python(f"""
        import os
        from llmtrace.exporters import DuckDBSpanExporter
        from llmtrace.testing import make_spans

        exporter = DuckDBSpanExporter({str(db)!r})
        exporter.export(make_spans(100))
        assert exporter.force_flush()
        pid = os.fork()
        if pid == 0:
            exporter.export(make_spans(40))
            ok = exporter.force_flush()
            os._exit(0 if ok else 1)
        exporter.export(make_spans(60))
        assert exporter.force_flush()
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        exporter.shutdown()
    """)
    assert done.returncode == 0, done.stderr
    assert _count(db) == 200


def test_spans_from_another_sdk_use_the_public_properties(tmp_path):
    """A span object with only ReadableSpan's public surface (no SDK internals) is stored."""

    class Foreign:
        def __init__(self, span: ReadableSpan) -> None:
            self._span = span

        def __getattr__(self, name: str):
            if name.startswith("_"):
                raise AttributeError(name)
            return getattr(self._span, name)

    real = make_spans(3)
    batch = spans_to_batch([Foreign(s) for s in real])  # type: ignore[misc]
    assert batch.to_pylist() == spans_to_batch(real).to_pylist()


def test_an_unreadable_span_is_skipped_not_the_batch(monkeypatch, caplog):
    monkeypatch.setenv("LLMTRACE_RAISE_INTERNAL_ERRORS", "0")
    good = ReadableSpan(
        name="ok",
        context=SpanContext(trace_id=1, span_id=2, is_remote=False),
        kind=SpanKind.CLIENT,
        status=Status(StatusCode.ERROR, "boom"),
        attributes={"big": 2**70, "tags": ("a", "b")},
        start_time=10,
        end_time=None,
    )
    broken = ReadableSpan(name="no context", context=None, start_time=5, end_time=6)
    with caplog.at_level(logging.WARNING, logger="llmtrace"):
        batch = spans_to_batch([broken, good])
    [row] = batch.to_pylist()
    assert row["trace_id"] == f"{1:032x}" and row["span_id"] == f"{2:016x}"
    assert (row["kind"], row["status"], row["status_message"]) == ("client", "ERROR", "boom")
    assert row["end_ns"] == 10  # never ended: stored as a zero-length span
    assert row["attributes"] == '{"big":"1180591620717411303424","tags":["a","b"]}'
    assert "reading a span" in caplog.text


def test_two_connections_merging_one_spool_file_insert_it_once(tmp_path):
    """Two connections of one process (a reader's and the writer's) race for the same spool
    file: the key on the merge ledger lets exactly one of them insert it, and the loser backs
    out without an error."""
    path = tmp_path / "race.duckdb"
    write_spool(path, spans_to_batch(make_spans(4)))
    [spooled] = spool_files(path)
    winner = connect_write(path)
    loser = duckdb.connect(str(path))  # same process: the same database instance

    class CommitsFirst:
        """The loser's connection; the winner commits the same file just before the loser
        records it (after the loser checked the ledger and inserted the rows)."""

        def __getattr__(self, name):
            return getattr(loser, name)

        def execute(self, sql, *args):
            if sql.startswith("INSERT INTO spool_merged"):
                assert merge_spool(winner, path) == 4
            return loser.execute(sql, *args)

    assert merge_spool(CommitsFirst(), path) == 0
    assert not spooled.exists()
    assert loser.execute("SELECT count(*) FROM spans").fetchall()[0][0] == 4
    winner.close()
    loser.close()


def test_query_sees_spans_exported_through_configure_at_once(tmp_path):
    """``llmtrace.query`` waits for the writer thread, so a read right after a call sees it."""
    db = tmp_path / "configured.duckdb"
    done = run_python(f"""
        import json, llmtrace
        llmtrace.configure(db={str(db)!r})

        @llmtrace.tool("t")
        def t():
            return 1

        seen = []
        for i in range(5):
            t()
            seen.append(llmtrace.query("SELECT count(*) AS n FROM spans")[0]["n"])
        print(json.dumps(seen))
    """)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[1, 2, 3, 4, 5]"
    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=db) == [{"n": 5}]
