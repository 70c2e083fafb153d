"""Issue 19, the runtime half: the merger stays lean, a short process exits without starting a
merger (and, with LLMTRACE_FAST_EXIT=1, without merging at all), and nothing is lost on the
way."""

from __future__ import annotations

import gc
import os
import subprocess
import sys

import duckdb

import llmtrace
from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.store.spool import spool_files
from llmtrace.testing import make_spans


def _count(path: object) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return int(conn.execute("SELECT count(DISTINCT span_id) FROM spans").fetchall()[0][0])


def test_the_merger_imports_neither_opentelemetry_nor_tiktoken(tmp_path, monkeypatch, capfd):
    """The real merger, started as the exporter starts it, with Python's import log on: it
    stores the spans and never imports the OpenTelemetry SDK, tiktoken, numpy or pandas."""
    monkeypatch.setenv("PYTHONPROFILEIMPORTTIME", "1")  # children log every import to stderr
    path = tmp_path / "lean.duckdb"
    exporter = DuckDBSpanExporter(path)
    exporter.export(make_spans(50))
    assert exporter.force_flush()
    merger_pid = exporter._merger._process.pid  # type: ignore[union-attr]
    exporter.shutdown()
    imported = capfd.readouterr().err
    assert merger_pid and _count(path) == 50
    modules = {line.rsplit("|", 1)[-1].strip() for line in imported.splitlines() if "|" in line}
    assert {"_duckdb", "llmtrace.store.writer"} <= modules  # the log is the merger's
    assert not any(m.split(".")[0] in ("opentelemetry", "tiktoken") for m in modules)
    # nanoarrow carries the prepared rows to DuckDB (json_batch): DuckDB scans it without
    # pyarrow, pandas or numpy (merger_boot refuses numpy, and the log would still name an
    # attempt, but a numpy that loads brings its submodules).
    assert "nanoarrow" in modules
    assert not any(m.split(".")[0] in ("pyarrow", "pandas") for m in modules)
    assert not any(m.startswith("numpy.") for m in modules)


_SHORT = """
import sys
import llmtrace

llmtrace.configure(service_name="short", db=sys.argv[1])


@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(i):
    return {"usage": {"prompt_tokens": 10, "completion_tokens": 2}}


for i in range(int(sys.argv[2])):
    call(i)
if len(sys.argv) > 3:  # a merger is running at exit, with spans it has not been given yet
    llmtrace.configure(service_name="short", db=sys.argv[1]).flush()
    for i in range(int(sys.argv[2])):
        call(i)
"""


def _run_short(
    path: object, spans: int, *extra: str, fast_exit: bool = False
) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    if fast_exit:
        env["LLMTRACE_FAST_EXIT"] = "1"
    return subprocess.Popen(
        [sys.executable, "-c", _SHORT, str(path), str(spans), *extra],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_a_short_process_stores_its_spans_itself_at_exit(tmp_path):
    """By default exit stores everything: a plain DuckDB client sees the spans as soon as the
    process has ended, nothing waits in the spool and nothing is said."""
    path = tmp_path / "short.duckdb"
    process = _run_short(path, 10)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert err == ""
    assert spool_files(path) == []
    assert _count(path) == 10


def test_a_fast_exit_spools_and_starts_no_merger(tmp_path):
    path = tmp_path / "short.duckdb"
    process = _run_short(path, 10, fast_exit=True)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert not path.exists()  # no merger ran, and the process merged nothing itself
    assert [p.suffix for p in spool_files(path)] == [".arrow"]
    assert err == ""  # spooling at exit is the plan, not something to warn about
    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=path) == [{"n": 10}]
    assert spool_files(path) == []


def test_fifty_short_processes_lose_nothing(tmp_path):
    """Ten at a time: fifty at once on a busy 2-core machine can take the batch processor's
    own 30 s shutdown limit for the first export (it then abandons the batch at exit)."""
    path = tmp_path / "many.duckdb"
    for _ in range(5):
        processes = [_run_short(path, 10) for _ in range(10)]
        for process in processes:
            _, err = process.communicate(timeout=300)
            assert process.returncode == 0, err
    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=path) == [{"n": 500}]
    assert _count(path) == 500


def test_a_merger_running_at_exit_is_waited_for(tmp_path):
    """By default the merger running at exit stores the rest before the process ends: a plain
    DuckDB client can open the file and sees every span, once."""
    path = tmp_path / "running.duckdb"
    process = _run_short(path, 300, "--flush-midway")
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert _count(path) == 600


def test_a_merger_running_at_a_fast_exit_finishes_after_its_process(tmp_path):
    """A fast exit hands the rest to the running merger (or the spool) and does not wait for
    it; a read through llmtrace right after the process ends sees every span, once."""
    path = tmp_path / "running.duckdb"
    process = _run_short(path, 300, "--flush-midway", fast_exit=True)
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=path) == [{"n": 600}]
    assert _count(path) == 600


def test_conversion_leaves_the_collector_alone_unless_asked(monkeypatch):
    """The cyclic GC is the application's: conversion pauses it only with
    LLMTRACE_EXPORT_PAUSES_GC=1, and turns it back on after."""
    from llmtrace.exporters.duckdb import conversion

    seen: list[bool] = []
    real = conversion.spans_to_batch

    def spying(spans):  # type: ignore[no-untyped-def]
        seen.append(gc.isenabled())
        return real(spans)

    monkeypatch.setattr(conversion, "spans_to_batch", spying)
    spans = make_spans(3)
    monkeypatch.delenv(conversion.PAUSE_GC_ENV, raising=False)
    assert conversion.convert(spans).num_rows == 3
    monkeypatch.setenv(conversion.PAUSE_GC_ENV, "1")
    assert conversion.convert(spans).num_rows == 3
    assert seen == [True, False]
    assert gc.isenabled()


def test_shutdown_waits_for_a_slow_last_export_past_the_sdks_limit(monkeypatch):
    """The SDK gives the last export at shutdown a fixed time (30 s), then lets the interpreter
    end it mid-batch; llmtrace's batch processor waits for it (here the SDK's limit is made
    0.1 s and the export takes 0.6 s)."""
    import time

    from opentelemetry.sdk._shared_internal import BatchProcessor
    from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

    from llmtrace._tracing.processors import CountingBatchSpanProcessor

    monkeypatch.setattr(BatchProcessor.shutdown, "__defaults__", (100,))
    exported: list[int] = []

    class Slow(SpanExporter):
        def export(self, spans):  # type: ignore[no-untyped-def]
            time.sleep(0.6)
            exported.append(len(spans))
            return SpanExportResult.SUCCESS

    processor = CountingBatchSpanProcessor(Slow(), schedule_delay_millis=60_000)
    for span in make_spans(5):
        processor.on_end(span)
    processor.shutdown()
    assert exported == [5]
