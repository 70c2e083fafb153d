"""Foreign spans for tests: the captured fixtures under ``tests/fixtures/foreign_spans``, rebuilt
as SDK spans and stored with the exporter's own conversion and the store's own statement."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import duckdb
from genai_prices import Usage as GPUsage
from genai_prices import calc_price
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags

from llmtrace.exporters.duckdb.rows import spans_to_batch
from llmtrace.store.batch_sql import insert_sql

FIXTURES = Path(__file__).parent / "fixtures" / "foreign_spans"


def list_price(model: str, provider: str, input_tokens: int, output_tokens: int = 0) -> float:
    """genai-prices' own calculation, independent of llmtrace.pricing."""
    price = calc_price(
        GPUsage(input_tokens=input_tokens, output_tokens=output_tokens), model, provider_id=provider
    )
    return float(price.total_price)


def load(name: str) -> list[dict[str, Any]]:
    records: list[dict[str, Any]] = json.loads((FIXTURES / f"{name}.json").read_text())
    return records


def _context(trace_id: str, span_id: str) -> SpanContext:
    return SpanContext(int(trace_id, 16), int(span_id, 16), False, TraceFlags(1))


def make_span(
    record: dict[str, Any], start_ns: int = 1_000_000_000, duration_ns: int = 1_000_000
) -> ReadableSpan:
    parent = record.get("parent_span_id")
    return ReadableSpan(
        record["name"],
        context=_context(record["trace_id"], record["span_id"]),
        parent=_context(record["trace_id"], parent) if parent else None,
        attributes=record["attributes"],
        kind=SpanKind[record.get("span_kind", "INTERNAL")],
        start_time=start_ns,
        end_time=start_ns + duration_ns,
    )


def make_spans_for(records: list[dict[str, Any]]) -> list[ReadableSpan]:
    return [make_span(r) for r in records]


def store_spans(conn: duckdb.DuckDBPyConnection, spans: Sequence[ReadableSpan]) -> None:
    batch = spans_to_batch(spans)
    conn.register("span_batch", batch)
    conn.execute(insert_sql("span_batch", batch.schema))
    conn.unregister("span_batch")
