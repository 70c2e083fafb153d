"""The DuckDB store with real files: columns, views, migrations, query(), spooling."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import duckdb
import pyarrow as pa
import pytest
from opentelemetry.sdk.trace.export import SpanExportResult

import llmtrace
from llmtrace._tracing.runtime import runtime
from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.exporters.duckdb.rows import spans_to_batch
from llmtrace.store import (
    SCHEMA_VERSION,
    ReadOnlyQueryError,
    StoreMissingError,
    apply_migrations,
    connect_write,
)
from llmtrace.store.batch_sql import insert_sql
from llmtrace.store.schema import MIGRATIONS
from llmtrace.store.spool import merge_spool, spool_dir, spool_files, write_spool
from llmtrace.testing import FakeClock, make_spans
from tests.conftest import (  # a traced support bot, shared with the CLI tests
    _support_bot,
    hold_the_store,
)


def test_every_promoted_column_is_filled_from_real_spans(store):
    _support_bot()
    rows = llmtrace.query("SELECT * FROM spans ORDER BY start_time", db=store)
    by_kind = {r["kind"]: r for r in rows}
    assert set(by_kind) == {"workflow", "retrieval", "tool", "guardrail", "llm", "judge"}
    root = by_kind["workflow"]
    assert root["parent_span_id"] is None and root["service_name"] == "store-test"
    assert all(r["trace_id"] == root["trace_id"] for r in rows)
    assert all(
        r["parent_span_id"] == root["span_id"]
        for r in rows
        if r is not root and r["kind"] != "judge"
    )
    llm = by_kind["llm"]
    assert (llm["operation"], llm["provider"], llm["model"]) == ("chat", "openai", "gpt-4o-mini")
    assert llm["prompt_name"] == "answer" and len(llm["prompt_version"]) == 12
    assert llm["prompt_hash"].startswith(llm["prompt_version"])
    assert (llm["input_tokens"], llm["output_tokens"]) == (100, 20)
    assert llm["cost_usd"] == pytest.approx(100 * 0.15e-6 + 20 * 0.6e-6)
    assert by_kind["retrieval"]["retrieval_index"] == "kb"
    assert by_kind["retrieval"]["retrieval_index_version"] == "2026-11-01"
    assert (by_kind["tool"]["tool_name"], by_kind["tool"]["tool_call_id"]) == (
        "lookup_order",
        "call_9",
    )
    guard = by_kind["guardrail"]
    assert (guard["guardrail_policy"], guard["guardrail_action"], guard["guardrail_score"]) == (
        "pii",
        "redact",
        0.5,
    )
    judge = by_kind["judge"]
    assert (judge["judge_model"], judge["judge_version"]) == ("gpt-4o", "helpful-v2")
    assert judge["parent_span_id"] == root["span_id"]  # judged after the llm call returned
    for r in rows:
        assert (r["dataset_version"], r["eval_run_id"], r["eval_example_id"]) == (
            "qa@1",
            "run-1",
            "ex-1",
        )
        assert r["status"] == "UNSET"


def test_unpromoted_attributes_and_evaluation_events_stay_queryable(store):
    _support_bot()
    # Non-promoted attributes stay queryable from the VARIANT column.
    tenants = llmtrace.query(
        "SELECT count(*) AS n FROM spans WHERE attributes['llmtrace.context.tenant']::VARCHAR = ?",
        ["acme"],
        db=store,
    )
    assert tenants == [{"n": 6}]
    events = llmtrace.query(
        "SELECT kind, events::JSON AS e FROM spans WHERE events IS NOT NULL", db=store
    )
    # The judge's score is an evaluation event on the span it judged (the workflow here).
    assert [(e["kind"], json.loads(e["e"])[0]["name"]) for e in events] == [
        ("workflow", "gen_ai.evaluation.result")
    ]
    assert json.loads(events[0]["e"])[0]["attributes"] == {
        "gen_ai.evaluation.name": "helpful",
        "gen_ai.evaluation.score.value": 0.9,
    }


def test_span_times_land_exactly(store, monkeypatch):
    """Start, end and duration of every kind, from a fake clock, as the store gives them back:
    exact, so a unit slip (ns, us, ms) or a wrong parent's time would show."""
    clock = FakeClock()
    monkeypatch.setattr(runtime, "time_ns", clock.time_ns)
    monkeypatch.setattr(runtime, "perf_counter_ns", clock.perf_counter_ns)
    _support_bot(clock)
    rows = llmtrace.query("SELECT * FROM spans", db=store)
    by_kind = {r["kind"]: r for r in rows}
    assert len(rows) == len(by_kind) == 6
    origin = datetime.fromtimestamp(clock.origin_ns / 1e9, tz=timezone.utc)
    ms = timedelta(milliseconds=1)
    timing = {
        k: ((r["start_time"] - origin) / ms, (r["end_time"] - origin) / ms, r["duration_ms"])
        for k, r in by_kind.items()
    }
    assert timing == {
        "workflow": (0, 380, 380),
        "retrieval": (0, 10, 10),
        "tool": (10, 30, 20),
        "guardrail": (30, 30, 0),
        "llm": (30, 330, 300),
        "judge": (330, 380, 50),
    }


def test_views_llm_calls_tool_calls_traces(store):
    _support_bot()
    _support_bot()
    assert llmtrace.query("SELECT count(*) AS n FROM llm_calls", db=store) == [{"n": 2}]
    assert llmtrace.query("SELECT count(*) AS n FROM tool_calls", db=store) == [{"n": 2}]
    traces = llmtrace.query("SELECT * FROM traces", db=store)
    assert len(traces) == 2
    for t in traces:
        assert t["root_name"] == "invoke_workflow handle_ticket"
        assert t["span_count"] == 6 and t["input_tokens"] == 100 and t["output_tokens"] == 20
        assert t["has_error"] is False and t["duration_ms"] >= 0


def test_error_flag_in_traces_view(store):
    @llmtrace.workflow("bad")
    def bad():
        raise RuntimeError("x")

    with pytest.raises(RuntimeError):
        bad()
    [trace] = llmtrace.query("SELECT has_error FROM traces", db=store)
    assert trace["has_error"] is True
    [span] = llmtrace.query(
        "SELECT status, status_message, events::VARCHAR AS events FROM spans", db=store
    )
    assert span["status"] == "ERROR" and span["status_message"] == "RuntimeError: x"
    assert '"exception.type":"RuntimeError"' in span["events"]


def test_migrations_from_an_older_schema_keep_data(tmp_path):
    path = tmp_path / "old.duckdb"
    conn = duckdb.connect(str(path))
    assert apply_migrations(conn, MIGRATIONS[:1]) == 1
    conn.execute(
        "INSERT INTO spans (trace_id, span_id, name, status, start_time, end_time, "
        "duration_ms) VALUES ('t', 's', 'old span', 'OK', now(), now(), 0)"
    )
    conn.close()
    conn = connect_write(path)
    versions = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    assert [v for (v,) in versions] == [m[0] for m in MIGRATIONS]
    assert conn.execute("SELECT name FROM spans").fetchall() == [("old span",)]
    assert conn.execute("SELECT count(*) FROM eval_runs").fetchall() == [(0,)]
    conn.close()
    # Applying again is a no-op.
    conn = connect_write(path)
    assert apply_migrations(conn) == SCHEMA_VERSION
    conn.close()


def test_store_from_a_newer_llmtrace_is_refused(tmp_path):
    conn = duckdb.connect(str(tmp_path / "new.duckdb"))
    apply_migrations(conn)
    conn.execute("INSERT INTO schema_migrations (version, name) VALUES (999, 'future')")
    with pytest.raises(RuntimeError, match="newer than this llmtrace"):
        apply_migrations(conn)


def test_query_params_formats_and_read_only(store):
    _support_bot()
    rows = llmtrace.query("SELECT name FROM spans WHERE kind = $kind", {"kind": "tool"}, db=store)
    assert rows == [{"name": "execute_tool lookup_order"}]
    table = llmtrace.query("SELECT * FROM spans", db=store, format="arrow")
    assert isinstance(table, pa.Table) and table.num_rows == 6
    with pytest.raises(ReadOnlyQueryError):
        llmtrace.query("DELETE FROM spans", db=store)
    with pytest.raises(StoreMissingError):
        llmtrace.query("SELECT 1", db=store.parent / "missing.duckdb")
    assert not (store.parent / "missing.duckdb").exists()


def test_a_busy_store_keeps_the_batch_on_disk_until_it_can_go_in(tmp_path):
    """Another process holds the file: the flush says so, the batch waits on disk beside the
    store, and goes in once the file is free."""
    path = tmp_path / "busy.duckdb"
    holder = hold_the_store(path)
    try:
        exporter = DuckDBSpanExporter(path, lock_timeout_s=0.05)
        assert exporter.export(make_spans(5)) == SpanExportResult.SUCCESS
        assert exporter.force_flush(timeout_millis=1_000) is False
        assert len(list(spool_dir(path).iterdir())) == 1
    finally:
        holder.communicate("release\n", timeout=30)
    assert exporter.force_flush()
    assert exporter.exported_spans == 5
    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=path) == [{"n": 5}]
    assert list(spool_dir(path).iterdir()) == []
    exporter.shutdown()


def test_spooled_batches_are_merged_by_the_next_reader(tmp_path):
    path = tmp_path / "spooled.duckdb"
    connect_write(path).close()
    write_spool(path, spans_to_batch(make_spans(3)))
    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=path) == [{"n": 3}]
    assert spool_files(path) == []


def test_spool_merge_is_exactly_once_after_a_crash(tmp_path):
    path = tmp_path / "s.duckdb"
    write_spool(path, spans_to_batch(make_spans(5)))
    write_spool(path, spans_to_batch(make_spans(7)))
    first, _second = spool_files(path)
    conn = connect_write(path)
    # A crash after the first file's rows were committed, before the file was deleted:
    again = pa.ipc.open_file(pa.memory_map(str(first))).read_all()
    conn.register("again", again)
    conn.execute(insert_sql("again", again.schema))
    conn.execute("INSERT INTO spool_merged (file) VALUES (?)", [first.name])
    first_rows = conn.execute("SELECT count(*) FROM spans").fetchall()[0][0]
    added = merge_spool(conn, path)
    conn.close()
    assert spool_files(path) == []
    total = llmtrace.query("SELECT count(*) AS n FROM spans", db=path)[0]["n"]
    assert total == first_rows + added == 12


def test_trace_durations_keep_sub_millisecond_differences(tmp_path):
    """Migration 3: whole milliseconds made traces of similar length tie."""
    path = tmp_path / "durations.duckdb"
    batch = spans_to_batch(make_spans(2))
    start = 1_700_000_000_000_000_000
    batch = batch.set_column(
        batch.schema.get_field_index("start_ns"), "start_ns", pa.array([start, start])
    )
    batch = batch.set_column(
        batch.schema.get_field_index("end_ns"),
        "end_ns",
        pa.array([start + 1_234_567, start + 1_734_000]),
    )
    connect_write(path).close()
    write_spool(path, batch)
    rows = llmtrace.query("SELECT duration_ms FROM traces ORDER BY duration_ms", db=path)
    assert [r["duration_ms"] for r in rows] == [1.234, 1.734]
