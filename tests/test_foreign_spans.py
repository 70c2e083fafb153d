"""Spans from other instrumentations: normalised columns, raw attributes kept, one call one row.

The fixtures under ``tests/fixtures/foreign_spans`` were captured from the real instrumentors
(see ``capture.py`` there); the spans are rebuilt as SDK spans, converted by the exporter's own
``spans_to_batch`` and inserted with the store's own statement into a migrated DuckDB.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import duckdb
import pytest
from genai_prices import Usage as GPUsage
from genai_prices import calc_price
from opentelemetry.sdk.trace import ReadableSpan

from llmtrace.pricing import PriceTable, load_user_prices
from llmtrace.store.normalize import normalize_attributes, normalize_batch
from llmtrace.store.schema import apply_migrations
from tests.foreign_spans_helpers import list_price, load, make_span, store_spans


@pytest.fixture
def conn() -> Iterable[duckdb.DuckDBPyConnection]:
    connection = duckdb.connect()
    apply_migrations(connection)
    yield connection
    connection.close()


def rows(conn: duckdb.DuckDBPyConnection, sql: str) -> list[dict[str, Any]]:
    result = conn.execute(sql)
    columns = [d[0] for d in result.description]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


# fixture -> for each foreign span (in fixture order): kind, operation, provider, model,
# input tokens, output tokens
EXPECTED: dict[str, list[tuple[Any, ...]]] = {
    "otel_genai_openai_v2": [
        ("llm", "chat", "openai", "gpt-4o-mini", 12, 5),
        ("llm", "chat", "openai", "gpt-4o-mini", 12, 5),
        ("llm", "embeddings", "openai", "text-embedding-3-small", 8, None),
    ],
    "openinference_openai": [
        ("llm", "chat", "openai", "gpt-4o-mini", 12, 5),
        ("llm", "chat", "openai", "gpt-4o-mini", 12, 5),
        ("llm", "embeddings", "openai", "text-embedding-3-small", 8, None),
    ],
    "openllmetry_openai": [
        ("llm", "chat", "openai", "gpt-4o-mini", 12, 5),
        ("llm", "chat", "openai", "gpt-4o-mini", 12, 5),
        ("llm", "embeddings", "openai", "text-embedding-3-small", 8, None),
    ],
    "anthropic_sdk": [
        ("llm", "chat", "anthropic", "claude-haiku-4-5", 21, 7),
        ("llm", "chat", "anthropic", "claude-haiku-4-5", 21, 7),
    ],
    "openinference_anthropic": [
        ("llm", "chat", "anthropic", "claude-haiku-4-5", 21, 7),
        ("llm", "chat", "anthropic", "claude-haiku-4-5", 21, 7),
    ],
    "openllmetry_anthropic": [
        ("llm", "chat", "anthropic", "claude-haiku-4-5", 21, 7),
        # OpenLLMetry adds message_start's output count to message_delta's total (its bug).
        ("llm", "chat", "anthropic", "claude-haiku-4-5", 21, 8),
    ],
    "otel_genai_deprecated": [
        ("llm", "chat", "openai", "gpt-4o-mini", 12, 5),
        ("llm", "embeddings", "openai", "text-embedding-3-small", 8, None),
        ("tool", "execute_tool", None, None, None, None),
        ("workflow", "invoke_workflow", None, None, None, None),
        ("llm", "chat", "anthropic", "claude-haiku-4-5", 21, 7),
    ],
    "openinference_tool_retriever": [
        ("tool", "execute_tool", None, None, None, None),
        ("retrieval", "retrieval", None, None, None, None),
    ],
}


def foreign(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in records if "llmtrace.span.kind" not in r["attributes"]]


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_each_convention_fills_the_columns(fixture):
    found = []
    for record in foreign(load(fixture)):
        columns = normalize_attributes(record["attributes"])
        found.append(
            tuple(
                columns.get(name)
                for name in (
                    "kind",
                    "operation",
                    "provider",
                    "model",
                    "input_tokens",
                    "output_tokens",
                )
            )
        )
    assert found == EXPECTED[fixture]


@pytest.mark.parametrize("fixture", sorted(EXPECTED))
def test_stored_with_columns_cost_and_raw_attributes(conn, fixture):
    records = load(fixture)
    store_spans(conn, [make_span(r) for r in records])
    stored = {r["span_id"]: r for r in rows(conn, "SELECT * FROM spans")}
    for record, expected in zip(foreign(records), EXPECTED[fixture], strict=True):
        row = stored[record["span_id"]]
        kind, _operation, provider, model, input_tokens, output_tokens = expected
        assert (row["kind"], row["operation"], row["provider"], row["model"]) == expected[:4]
        assert (row["input_tokens"], row["output_tokens"]) == (input_tokens, output_tokens)
        stored_attributes = row["attributes"]
        if isinstance(stored_attributes, str):
            stored_attributes = json.loads(stored_attributes)
        assert stored_attributes == record["attributes"]  # as they came
        if kind == "llm":
            assert row["cost_usd"] == pytest.approx(
                list_price(model, provider, input_tokens, output_tokens or 0), rel=1e-9
            )
            assert row["price_table_version"].startswith("genai-prices ")


def test_tool_and_retrieval_fields(conn):
    records = load("openinference_tool_retriever") + load("otel_genai_deprecated")
    store_spans(conn, [make_span(r) for r in records])
    tools = rows(conn, "SELECT name, tool_name FROM tool_calls ORDER BY name")
    assert tools == [
        {"name": "get_weather.tool", "tool_name": "get_weather"},
        {"name": "lookup_order", "tool_name": "lookup_order"},
    ]
    (retrieval,) = rows(conn, "SELECT retrieval_document_ids FROM spans WHERE kind = 'retrieval'")
    assert retrieval["retrieval_document_ids"] == ["doc-7", "doc-3"]


def test_embeddings_price_input_only_and_cache_tokens_priced():
    table = PriceTable()
    attributes = [
        {
            "gen_ai.operation.name": "embeddings",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "text-embedding-3-small",
            "gen_ai.usage.input_tokens": 1000,
        },
        {  # the anthropic client's own names for cache writes
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "anthropic",
            "gen_ai.request.model": "claude-haiku-4-5",
            "gen_ai.usage.input_tokens": 3025,
            "gen_ai.usage.output_tokens": 12,
            "gen_ai.usage.cache_read.input_tokens": 2000,
            "gen_ai.usage.cache_write.input_tokens": 1000,
        },
    ]
    keys = set().union(*attributes)
    batch = normalize_batch(attributes, ["client", "client"], keys, prices=table)
    embedding_cost, chat_cost = batch.columns["cost_usd"]
    assert embedding_cost == pytest.approx(list_price("text-embedding-3-small", "openai", 1000))
    expected = calc_price(
        GPUsage(
            input_tokens=3025, output_tokens=12, cache_read_tokens=2000, cache_write_tokens=1000
        ),
        "claude-haiku-4-5",
        provider_id="anthropic",
    )
    assert chat_cost == pytest.approx(float(expected.total_price), rel=1e-9)
    assert batch.columns["cache_creation_input_tokens"] == [None, 1000]


def test_user_prices_version_and_unknown_model():
    table = PriceTable(load_user_prices({"in-house-7b": {"input": 1.0, "output": 2.0}}))
    attributes = [
        {
            "llm.request.type": "chat",
            "llm.model_name": "in-house-7b",
            "llm.token_count.prompt": 10,
            "llm.token_count.completion": 5,
        },
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "no-such-model",
            "gen_ai.provider.name": "nobody",
            "gen_ai.usage.input_tokens": 3,
            "gen_ai.usage.output_tokens": 1,
        },
    ]
    batch = normalize_batch(attributes, ["internal", "client"], set().union(*attributes), table)
    assert batch.kinds == ["llm", "llm"]
    assert batch.columns["cost_usd"] == [pytest.approx(10e-6 + 10e-6), None]
    assert batch.columns["price_table_version"] == ["user:configure(prices=...)", None]


def test_non_genai_spans_untouched():
    attributes = [{"http.request.method": "GET"}, {}]
    batch = normalize_batch(attributes, ["client", "internal"], {"http.request.method"})
    assert batch.kinds == ["client", "internal"] and batch.columns == {}


# --- one call, one row ---------------------------------------------------------------------
TRACE = "0000000000000000000000000000abcd"


def span(
    span_id: str,
    parent: str | None,
    attributes: dict[str, Any],
    *,
    name: str = "call",
    start: int = 0,
    duration: int = 100,
    trace_id: str = TRACE,
) -> ReadableSpan:
    return make_span(
        {
            "name": name,
            "trace_id": trace_id,
            "span_id": span_id,
            "parent_span_id": parent,
            "attributes": attributes,
        },
        start_ns=1_000_000_000 + start * 1000,
        duration_ns=duration * 1000,
    )


OURS = {
    "llmtrace.span.kind": "llm",
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.prompt.name": "answer",
    "gen_ai.usage.input_tokens": 15,  # an estimate that disagrees with the provider's count
    "gen_ai.usage.output_tokens": 9,
    "llmtrace.usage.source": "estimate",
}
OTEL_V2 = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.id": "chatcmpl-1",
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 5,
}
OPENINFERENCE = {
    "openinference.span.kind": "LLM",
    "llm.provider": "openai",
    "llm.model_name": "gpt-4o-mini",
    "llm.token_count.prompt": 12,
    "llm.token_count.completion": 5,
}
ROOT = {"llmtrace.span.kind": "workflow", "gen_ai.operation.name": "invoke_workflow"}
CHAT_PRICE = list_price("gpt-4o-mini", "openai", 12, 5)


def calls_and_trace(conn: duckdb.DuckDBPyConnection) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    calls = rows(
        conn,
        "SELECT span_id, model, provider, prompt_name, input_tokens, output_tokens, cost_usd "
        "FROM llm_calls ORDER BY span_id",
    )
    (trace,) = rows(conn, f"SELECT * FROM traces WHERE trace_id = '{TRACE}'")
    return calls, trace


@pytest.mark.parametrize(
    "layers",
    [
        pytest.param([OURS, OTEL_V2], id="llmtrace-around-otel-v2"),
        pytest.param([OURS, OPENINFERENCE], id="llmtrace-around-openinference"),
        pytest.param([OTEL_V2, OPENINFERENCE], id="otel-v2-around-openinference"),
        pytest.param([OURS, OTEL_V2, OPENINFERENCE], id="llmtrace-around-two-instrumentors"),
    ],
)
@pytest.mark.parametrize("split_batches", [False, True])
def test_nested_inference_spans_are_one_call_innermost_usage_wins(conn, layers, split_batches):
    spans = [span("00000000000000a0", None, ROOT, duration=1000)]
    parent = "00000000000000a0"
    for depth, attributes in enumerate(layers, start=1):
        span_id = f"00000000000000b{depth}"
        spans.append(span(span_id, parent, attributes, start=depth, duration=900 - 100 * depth))
        parent = span_id
    if split_batches:  # children first, parents later: as separate exporters would deliver
        for one in reversed(spans):
            store_spans(conn, [one])
    else:
        store_spans(conn, spans)
    calls, trace = calls_and_trace(conn)
    innermost = f"00000000000000b{len(layers)}"
    prompt = "answer" if layers[0] is OURS else None
    assert calls == [
        {
            "span_id": innermost,
            "model": "gpt-4o-mini",
            "provider": "openai",
            "prompt_name": prompt,  # what only the wrapper knew is kept
            "input_tokens": 12,
            "output_tokens": 5,
            "cost_usd": pytest.approx(CHAT_PRICE),
        }
    ]
    assert (trace["input_tokens"], trace["output_tokens"]) == (12, 5)
    assert trace["cost_usd"] == pytest.approx(CHAT_PRICE)
    assert trace["span_count"] == len(layers) + 1


def test_innermost_without_usage_takes_the_wrappers(conn):
    streamed = {**OTEL_V2}
    del streamed["gen_ai.usage.input_tokens"], streamed["gen_ai.usage.output_tokens"]
    ours = {**OURS, "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 5}
    store_spans(
        conn,
        [
            span("00000000000000a0", None, ROOT, duration=1000),
            span("00000000000000b1", "00000000000000a0", ours, duration=500),
            span("00000000000000b2", "00000000000000b1", streamed, duration=400),
        ],
    )
    calls, trace = calls_and_trace(conn)
    assert [(c["span_id"], c["input_tokens"], c["output_tokens"]) for c in calls] == [
        ("00000000000000b2", 12, 5)
    ]
    assert calls[0]["cost_usd"] == pytest.approx(CHAT_PRICE)
    assert trace["input_tokens"] == 12


def test_a_wrapper_of_two_calls_counts_the_two_calls(conn):
    second = {**OTEL_V2, "gen_ai.response.id": "chatcmpl-2"}
    store_spans(
        conn,
        [
            span("00000000000000a0", None, ROOT, duration=1000),
            span("00000000000000b1", "00000000000000a0", OURS, duration=900),
            span("00000000000000c1", "00000000000000b1", OTEL_V2, start=1, duration=300),
            span("00000000000000c2", "00000000000000b1", second, start=400, duration=300),
        ],
    )
    calls, trace = calls_and_trace(conn)
    assert [c["span_id"] for c in calls] == ["00000000000000c1", "00000000000000c2"]
    assert [c["prompt_name"] for c in calls] == [None, None]  # the wrapper's is not split
    assert (trace["input_tokens"], trace["output_tokens"]) == (24, 10)


def test_through_plain_spans_and_siblings_with_one_response_id(conn):
    http = {"http.request.method": "POST"}
    sibling = {**OTEL_V2, "gen_ai.usage.output_tokens": 6}  # disagrees, and is longer
    store_spans(
        conn,
        [
            span("00000000000000a0", None, ROOT, duration=1000),
            span("00000000000000b1", "00000000000000a0", OURS, duration=900),
            span("00000000000000c1", "00000000000000b1", http, duration=800),
            span("00000000000000d1", "00000000000000c1", OTEL_V2, duration=300),
            span("00000000000000d2", "00000000000000a0", sibling, duration=500),
        ],
    )
    calls, trace = calls_and_trace(conn)
    assert [(c["span_id"], c["output_tokens"]) for c in calls] == [("00000000000000d1", 5)]
    assert (trace["input_tokens"], trace["output_tokens"]) == (12, 5)


def test_same_response_id_in_two_traces_is_one_call_in_llm_calls(conn):
    other = "0000000000000000000000000000dcba"
    store_spans(
        conn,
        [
            span("00000000000000d1", None, OTEL_V2, duration=300),
            span("00000000000000e1", None, OTEL_V2, duration=500, trace_id=other),
        ],
    )
    calls, trace = calls_and_trace(conn)
    assert [c["span_id"] for c in calls] == ["00000000000000d1"]
    # Each trace still shows the usage of the call it holds.
    assert trace["input_tokens"] == 12
    (other_trace,) = rows(conn, f"SELECT * FROM traces WHERE trace_id = '{other}'")
    assert other_trace["input_tokens"] == 12


def test_judge_around_a_call_counts_it_once(conn):
    judge = {
        "llmtrace.span.kind": "judge",
        "gen_ai.operation.name": "judge",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 40,
        "gen_ai.usage.output_tokens": 3,
    }
    store_spans(
        conn,
        [
            span("00000000000000a0", None, ROOT, duration=1000),
            span("00000000000000b1", "00000000000000a0", judge, duration=900),
            span("00000000000000c1", "00000000000000b1", OTEL_V2, duration=300),
        ],
    )
    calls, trace = calls_and_trace(conn)
    assert [c["span_id"] for c in calls] == ["00000000000000c1"]
    assert (trace["input_tokens"], trace["output_tokens"]) == (12, 5)
