"""One call, one row (store/calls.py) as migration 10 computes it: the same rows as migration 7's
rule on random span trees, however the spans of one call arrive (batches in any order, several
processes, the spool).

Migration 10 joins calls to their wrappers by DuckDB's row id and climbs only traces where a
call has a parent; migration 11 only those where a call's parent is a call or a plain span
(found by span id, then checked to be of the same trace). Migration 7's view (still used over
Parquet) is the reference here.
"""

from __future__ import annotations

import multiprocessing
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from llmtrace.exporters.duckdb.rows import spans_to_batch
from llmtrace.store.schema import apply_migrations
from llmtrace.store.writer import StoreWriter
from tests.call_trees import REFERENCE_SQL, calls, insert, random_spans


@pytest.fixture
def conn():
    connection = duckdb.connect()
    apply_migrations(connection)
    connection.execute(REFERENCE_SQL)
    yield connection
    connection.close()


@pytest.mark.parametrize("seed", range(12))
def test_same_rows_as_migration_7_on_random_trees(conn, seed):
    rows = random_spans(seed)
    rng = random.Random(seed)
    rng.shuffle(rows)  # parents before, after and between their children, in several inserts
    cut = sorted(rng.sample(range(len(rows)), 3))
    for part in (rows[: cut[0]], rows[cut[0] : cut[1]], rows[cut[1] : cut[2]], rows[cut[2] :]):
        if part:
            insert(conn, part)
    expected = calls(conn, "reference_calls")
    assert calls(conn, "model_calls") == expected
    # The trees exercise the rule (not a vacuous pass): calls filled from a wrapper, wrappers
    # dropped, and calls that repeat a response id.
    counts = conn.execute(
        "SELECT count(*) FILTER (wrapper_span_id IS NOT NULL), count(*) FILTER (NOT first_in_store)"
        ", (SELECT count(*) FROM spans WHERE kind IN ('llm', 'judge')) - count(*) FROM model_calls"
    ).fetchall()[0]
    assert min(counts) > 0, counts
    for view in ("llm_calls", "traces"):
        got = conn.execute(f"SELECT count(*), sum(input_tokens), sum(cost_usd) FROM {view}")
        assert got.fetchall()[0][:2] == _reference_totals(conn, view)


@pytest.mark.parametrize("seed", range(4))
def test_span_ids_repeated_across_traces_pair_only_within_a_trace(conn, seed):
    # migration 11 finds a call's parent by span id alone, then checks the trace: with the
    # same span ids in every trace (a foreign system's counter, a copied trace) the rows are
    # still migration 7's
    rows = [
        (trace_id, span_id[-8:].rjust(16, "0"), parent and parent[-8:].rjust(16, "0"), *rest)
        for trace_id, span_id, parent, *rest in random_spans(100 + seed)
    ]
    assert len({r[1] for r in rows}) < len(rows) / 4  # the ids repeat
    insert(conn, rows)
    assert calls(conn, "model_calls") == calls(conn, "reference_calls")
    wrapped = conn.execute("SELECT count(*) FROM model_calls WHERE wrapper_span_id IS NOT NULL")
    assert wrapped.fetchall()[0][0] > 0


def _reference_totals(conn: duckdb.DuckDBPyConnection, view: str) -> tuple[Any, ...]:
    if view == "llm_calls":
        sql = (
            "SELECT count(*), sum(input_tokens) FROM reference_calls "
            "WHERE kind = 'llm' AND first_in_store"
        )
    else:
        sql = (
            "SELECT (SELECT count(DISTINCT trace_id) FROM spans), "
            "(SELECT sum(input_tokens) FROM reference_calls WHERE first_in_trace)"
        )
    row: tuple[Any, ...] = conn.execute(sql).fetchall()[0]
    return row


@pytest.mark.parametrize("plain_between", [14, 15, 16, 17])
def test_a_wrapper_is_found_through_at_most_15_plain_spans(conn, plain_between):
    ids = [f"{i:016x}" for i in range(plain_between + 2)]
    kinds = ["llm", *(["client"] * plain_between), "llm"]
    rows = [
        ("f" * 32, span_id, ids[i - 1] if i else None, "s", kind, "OK", 0, 9, 9.0, "openai",
         "gpt-4o-mini", "answer" if i == 0 else None, 10, 2, 0.5, None, None)
        for i, (span_id, kind) in enumerate(zip(ids, kinds, strict=True))
    ]  # fmt: skip
    insert(conn, rows)
    got = conn.execute("SELECT span_id, prompt_name FROM model_calls ORDER BY span_id")
    wrapped = plain_between < 16  # the 16th ancestor is the last one a climb reaches
    assert got.fetchall() == (
        [(ids[-1], "answer")] if wrapped else [(ids[0], "answer"), (ids[-1], None)]
    )
    assert calls(conn, "model_calls") == calls(conn, "reference_calls")


def test_a_store_with_no_nesting_reads_every_call_as_stored(conn):
    rows = [
        (f"{t:032x}", f"{t:016x}", None, "chat", "llm", "OK", t, t + 5, 5.0, "openai",
         "gpt-4o-mini", None, 10, 2, 0.5, None, None)
        for t in range(50)
    ]  # fmt: skip
    rows[7] = (*rows[7][:12], None, *rows[7][13:])  # no input tokens: no cost either
    insert(conn, rows)
    got = conn.execute(
        "SELECT count(*), sum(input_tokens), sum(cost_usd), count(cost_usd), "
        "bool_and(first_in_store AND first_in_trace AND wrapper_span_id IS NULL) FROM model_calls"
    ).fetchall()[0]
    assert got == (50, 490, pytest.approx(24.5), 49, True)
    assert calls(conn, "model_calls") == calls(conn, "reference_calls")


# --- through the writer: batches in any order, from several processes -----------------------

TRACE = "0000000000000000000000000000abcd"
ROOT = {"llmtrace.span.kind": "workflow", "gen_ai.operation.name": "invoke_workflow"}
OURS = {
    "llmtrace.span.kind": "llm",
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.prompt.name": "answer",
    "gen_ai.usage.input_tokens": 15,
    "gen_ai.usage.output_tokens": 9,
}
HTTP = {"http.request.method": "POST"}
PROVIDER = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.response.id": "chatcmpl-1",
    "gen_ai.usage.input_tokens": 12,
    "gen_ai.usage.output_tokens": 5,
}
# root -> our llm span -> an HTTP span -> the provider instrumentor's span
TREE: list[tuple[str, str | None, dict[str, Any]]] = [
    ("00000000000000a0", None, ROOT),
    ("00000000000000b1", "00000000000000a0", OURS),
    ("00000000000000c1", "00000000000000b1", HTTP),
    ("00000000000000d1", "00000000000000c1", PROVIDER),
]


def _context(span_id: str) -> SpanContext:
    return SpanContext(int(TRACE, 16), int(span_id, 16), False, TraceFlags(1))


def tree_span(index: int) -> ReadableSpan:
    span_id, parent, attributes = TREE[index]
    start = 1_000_000_000 + index * 1_000
    return ReadableSpan(
        "call",
        context=_context(span_id),
        parent=_context(parent) if parent else None,
        attributes=attributes,
        start_time=start,
        end_time=start + 100_000 - index * 10_000,
    )


def write_spans(db: str, indexes: list[int]) -> None:
    """One process's share of the tree, one batch a span, through the merger's writer."""
    writer = StoreWriter(Path(db), lock_timeout_s=0.05)
    for index in indexes:
        writer.write(spans_to_batch([tree_span(index)]))
    writer.flush(timeout_s=30)


def the_call(db: Path) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db)) as conn:
        apply_migrations(conn)  # merges nothing; the store is already current
        return conn.execute(
            "SELECT span_id, prompt_name, input_tokens, output_tokens FROM llm_calls"
        ).fetchall()


@pytest.mark.parametrize(
    "order",
    [[3, 2, 1, 0], [0, 1, 2, 3], [1, 3, 0, 2], [2, 0, 3, 1]],
    ids=["children-first", "parents-first", "wrapper-then-call", "http-span-first"],
)
def test_batches_in_any_order_are_one_call(tmp_path, order):
    db = tmp_path / "store.duckdb"
    write_spans(str(db), order)
    # The HTTP span wraps one call, so the wrapper's prompt would be kept; the provider span
    # has its own usage, which wins.
    assert the_call(db) == [("00000000000000d1", "answer", 12, 5)]


def test_spans_of_one_call_from_two_processes_and_the_spool(tmp_path):
    db = tmp_path / "store.duckdb"
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=write_spans, args=(str(db), share)) for share in ([3, 0], [1, 2])
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(60)
        assert worker.exitcode == 0
    assert the_call(db) == [("00000000000000d1", "answer", 12, 5)]
    with duckdb.connect(str(db)) as conn:
        traces = conn.execute("SELECT input_tokens, output_tokens, span_count FROM traces")
        assert traces.fetchall() == [(12, 5, 4)]
