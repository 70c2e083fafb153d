"""``finish_reasons`` is a promoted column (migration 12), so drift reads it as fast as the model:
the migration fills it from the attributes exactly as the exporter writes it for a new span, and
a Parquet export written before the column existed gets it from the attributes too."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from llmtrace import semconv as sc
from llmtrace.evals.production.source import open_source
from llmtrace.exporters.duckdb.rows import spans_to_batch
from llmtrace.store.batch_sql import insert_sql
from llmtrace.store.keys import KEY_COLUMNS
from llmtrace.store.schema import MIGRATIONS, apply_migrations, attribute_text_sql
from tests.conftest import run_python

REASONS: list[Any] = [
    ("stop",),
    ("stop", "length"),
    ('it\'s "quoted"', "é"),
    "end_turn",  # one string, as some instrumentors set it
    (),
    None,  # no attribute
]


def _span(index: int, reasons: Any) -> ReadableSpan:
    attributes: dict[str, Any] = {sc.SPAN_KIND: sc.KIND_LLM}
    if reasons is not None:
        attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] = reasons
    context = SpanContext(0xABCD, 0x1000 + index, False, TraceFlags(1))
    return ReadableSpan("chat", context=context, attributes=attributes, start_time=1, end_time=2)


def _store_with_batch(conn: duckdb.DuckDBPyConnection) -> None:
    batch = spans_to_batch([_span(i, r) for i, r in enumerate(REASONS)])
    conn.register("batch", batch)
    conn.execute(insert_sql("batch", batch.schema))
    conn.unregister("batch")


def _column(conn: duckdb.DuckDBPyConnection) -> list[tuple[str, str | None]]:
    return conn.execute("SELECT span_id, finish_reasons FROM spans ORDER BY span_id").fetchall()


def test_the_migration_fills_the_column_as_the_exporter_writes_it() -> None:
    written = duckdb.connect()
    apply_migrations(written)
    _store_with_batch(written)
    expected = _column(written)
    assert [v for _, v in expected] == [
        '["stop"]', '["stop","length"]', '["it\'s \\"quoted\\"","é"]', "end_turn", "[]", None
    ]  # fmt: skip

    # the same spans stored before migration 12: the column is filled from the attributes
    before = duckdb.connect()
    apply_migrations(before, [m for m in MIGRATIONS if m[0] < 12])
    later = ", ".join(("finish_reasons", *KEY_COLUMNS))  # columns of migrations 12 and 13
    rows = written.sql(
        f"SELECT * EXCLUDE ({later}) REPLACE (attributes::JSON::VARCHAR AS attributes) FROM spans"
    ).to_arrow_table()
    before.register("old", rows)
    before.execute(
        "INSERT INTO spans SELECT * REPLACE (attributes::JSON::VARIANT AS attributes) FROM old"
    )
    before.unregister("old")
    assert "finish_reasons" not in {r[0] for r in before.execute("DESCRIBE spans").fetchall()}
    assert apply_migrations(before) >= 12
    assert _column(before) == expected


@pytest.mark.parametrize("with_column", [True, False])
def test_a_parquet_export_reads_the_column_or_the_attributes(
    tmp_path: Path, with_column: bool
) -> None:
    conn = duckdb.connect()
    apply_migrations(conn)
    _store_with_batch(conn)
    expected = _column(conn)
    drop = "" if with_column else "EXCLUDE (finish_reasons) "
    folder = tmp_path / "export"
    folder.mkdir()
    conn.execute(
        f"COPY (SELECT * {drop}REPLACE (attributes::JSON AS attributes) FROM spans) "
        f"TO '{folder / 'spans.parquet'}' (FORMAT parquet)"
    )
    source = open_source(folder)
    try:
        assert _column(source) == expected
        calls = source.execute("SELECT finish_reasons FROM model_calls ORDER BY span_id").fetchall()
        assert [r[0] for r in calls] == [v for _, v in expected]
    finally:
        source.close()


APP = """
import llmtrace
llmtrace.configure(db=DB, service_name="bot")

@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(reason):
    return {
        "choices": [{"message": {"content": "ok"}, "finish_reason": reason}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2},
    }

@llmtrace.workflow("handle")
def handle(reason):
    call(reason)

for reason in ["stop", "stop", "length"]:
    handle(reason)
"""


def test_a_traced_process_stores_the_column_as_the_migration_fills_it(tmp_path: Path) -> None:
    db = tmp_path / "app.duckdb"
    done = run_python(APP.replace("DB", repr(str(db))))
    assert done.returncode == 0, done.stderr
    conn = duckdb.connect(str(db), read_only=True)
    try:
        rows = conn.execute(
            "SELECT finish_reasons, "
            f"{attribute_text_sql(sc.GEN_AI_RESPONSE_FINISH_REASONS)} FROM spans "
            "WHERE kind = 'llm' ORDER BY 1"
        ).fetchall()
    finally:
        conn.close()
    assert rows == [('["length"]',) * 2, ('["stop"]',) * 2, ('["stop"]',) * 2]
