"""``semconv.PROMOTED_COLUMNS`` ({column: (attribute, SQL type)}) is the one table of promoted
columns: the batch's Arrow schema, the INSERT, ``stats --by`` and the store's migration check
follow it, and a batch spooled before a column existed still goes in."""

from __future__ import annotations

import duckdb
import pyarrow as pa
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from llmtrace import semconv as sc
from llmtrace.cli.stats import COLUMNS, IDENTIFIERS
from llmtrace.exporters.duckdb.rows import BATCH_SCHEMA, spans_to_batch
from llmtrace.store.batch_sql import insert_sql
from llmtrace.store.schema import apply_migrations, promoted_column_problems

ARROW = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64()}


def test_a_migrated_store_has_every_promoted_column_with_its_type():
    conn = duckdb.connect()
    apply_migrations(conn)
    assert promoted_column_problems(conn) == []
    types = dict(conn.execute("SELECT column_name, column_type FROM (DESCRIBE spans)").fetchall())
    assert {c: types[c] for c in sc.PROMOTED_COLUMNS} == {
        c: t for c, (_, t) in sc.PROMOTED_COLUMNS.items()
    }


def test_a_column_added_without_a_migration_fails_the_check(monkeypatch):
    monkeypatch.setitem(sc.PROMOTED_COLUMNS, "user_tier", ("app.user.tier", "VARCHAR"))
    with pytest.raises(RuntimeError, match="spans has no column user_tier"):
        apply_migrations(duckdb.connect())


def test_a_column_whose_type_changed_without_a_migration_fails_the_check(monkeypatch):
    monkeypatch.setitem(
        sc.PROMOTED_COLUMNS, "output_tokens", (sc.GEN_AI_USAGE_OUTPUT_TOKENS, "DOUBLE")
    )
    with pytest.raises(RuntimeError, match=r"spans\.output_tokens is BIGINT, .* says DOUBLE"):
        apply_migrations(duckdb.connect())


def test_the_arrow_schema_and_stats_by_follow_the_table():
    for column, (_, sql_type) in sc.PROMOTED_COLUMNS.items():
        assert BATCH_SCHEMA.field(column).type == ARROW[sql_type], column
    text_columns = [
        c for c, (_, t) in sc.PROMOTED_COLUMNS.items() if t == "VARCHAR" and c not in IDENTIFIERS
    ]
    assert [c for c in COLUMNS if c in sc.PROMOTED_COLUMNS] == text_columns
    assert {"model", "prompt_version", "eval_run_id"} <= set(COLUMNS)
    assert {c: a for c, (a, _) in sc.PROMOTED_COLUMNS.items()} == sc.PROMOTED_ATTRIBUTES


def _span(attributes: dict[str, object]) -> ReadableSpan:
    context = SpanContext(0xABCD, 0x1234, False, TraceFlags(1))
    return ReadableSpan("chat", context=context, attributes=attributes, start_time=1, end_time=2)


def test_a_batch_spooled_before_a_column_existed_inserts_it_as_null():
    batch = spans_to_batch(
        [
            _span(
                {
                    sc.SPAN_KIND: sc.KIND_LLM,
                    sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                    sc.EVAL_EXAMPLE_ID: "ex-1",
                    sc.GEN_AI_RESPONSE_ID: "chatcmpl-1",
                    sc.GEN_AI_USAGE_INPUT_TOKENS: 7,
                }
            )
        ]
    )
    # As an older llmtrace wrote it: no eval_example_id, no migration-5 columns.
    old = batch.drop_columns(["eval_example_id", "response_id", "cache_read_input_tokens"])
    conn = duckdb.connect()
    apply_migrations(conn)
    conn.register("old_batch", old)
    sql = insert_sql("old_batch", old.schema)
    assert "NULL AS eval_example_id" in sql
    conn.execute(sql)
    row = conn.execute(
        "SELECT model, input_tokens, eval_example_id, response_id, cache_read_input_tokens, "
        "attributes['gen_ai.response.id']::VARCHAR FROM spans"
    ).fetchall()
    assert row == [("gpt-4o-mini", 7, None, None, None, "chatcmpl-1")]
