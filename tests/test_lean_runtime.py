"""Issue 19, the runtime half: the merger stays lean, a short process exits without starting
or waiting for a merger, and nothing is lost on the way."""

from __future__ import annotations

import duckdb

from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.testing import make_spans


def _count(path: object) -> int:
    with duckdb.connect(str(path), read_only=True) as conn:
        return int(conn.execute("SELECT count(DISTINCT span_id) FROM spans").fetchall()[0][0])


def test_the_merger_imports_neither_opentelemetry_nor_tiktoken(tmp_path, monkeypatch, capfd):
    """The real merger, started as the exporter starts it, with Python's import log on: it
    stores the spans and never imports the OpenTelemetry SDK or tiktoken."""
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
    assert {"duckdb", "pyarrow", "llmtrace.store.writer"} <= modules  # the log is the merger's
    assert not any(m.split(".")[0] in ("opentelemetry", "tiktoken") for m in modules)
