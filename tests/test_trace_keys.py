"""Integer keys of the hex ids (store/keys.py, migration 13): filled where spans are inserted
and by the migration, NULL for an id that is not lowercase hex of the right length, and
``model_calls`` (which finds a call's parent by them) gives migration 7's rows whether the keys
are there, missing, or there for some rows only."""

from __future__ import annotations

import random

import duckdb
import pytest

from llmtrace.store.batch_sql import insert_sql_for
from llmtrace.store.keys import KEYED_STORE_SQL
from llmtrace.store.schema import MIGRATIONS, apply_migrations
from tests.call_trees import REFERENCE_SQL, calls, insert, random_spans

IDS = [
    # trace id, span id, parent span id: (hi, lo, span, parent) expected
    ("0123456789abcdeffedcba9876543210", "00000000000000ff", None),
    ("ffffffffffffffff0000000000000001", "ffffffffffffffff", "00000000000000ff"),
    ("0123456789ABCDEFfedcba9876543210", "00000000000000FF", "0000000000000g00"),  # not lower
    ("abc", "12345", "remote-parent"),  # foreign ids of other lengths
]
EXPECTED = [
    (0x0123456789ABCDEF, 0xFEDCBA9876543210, 0xFF, None),
    (2**64 - 1, 1, 2**64 - 1, 0xFF),
    (None, None, None, None),
    (None, None, None, None),
]


def _keys(conn: duckdb.DuckDBPyConnection) -> list[tuple[object, ...]]:
    return conn.execute(
        "SELECT trace_hi, trace_lo, span_key, parent_key FROM spans ORDER BY start_time"
    ).fetchall()


def _source(conn: duckdb.DuckDBPyConnection) -> None:
    conn.execute(
        "CREATE TEMP TABLE src (trace_id VARCHAR, span_id VARCHAR, parent_span_id VARCHAR, "
        "name VARCHAR, kind VARCHAR, status VARCHAR, status_message VARCHAR, start_ns BIGINT, "
        "end_ns BIGINT, service_name VARCHAR, attributes VARCHAR, events VARCHAR, "
        "links VARCHAR, resource VARCHAR)"
    )
    conn.executemany(
        "INSERT INTO src VALUES (?, ?, ?, 's', 'llm', 'OK', NULL, ?, ?, 'svc', '{}', NULL, "
        "NULL, NULL)",
        [(*ids, k * 1000, k * 1000 + 5) for k, ids in enumerate(IDS)],
    )


def test_the_insert_fills_the_keys_of_hex_ids_and_leaves_others_null():
    conn = duckdb.connect()
    apply_migrations(conn)
    _source(conn)
    conn.execute(insert_sql_for("src", [c[0] for c in conn.execute("DESCRIBE src").fetchall()],
                                None, None))  # fmt: skip
    assert _keys(conn) == EXPECTED
    assert conn.execute(KEYED_STORE_SQL).fetchall() == [(False,)]  # two traces have no key
    conn.execute("DELETE FROM spans WHERE trace_lo IS NULL")
    assert conn.execute(KEYED_STORE_SQL).fetchall() == [(True,)]


def test_the_migration_fills_the_keys_of_spans_stored_before_it():
    conn = duckdb.connect()
    apply_migrations(conn, [m for m in MIGRATIONS if m[0] < 13])
    _source(conn)
    conn.execute(
        "INSERT INTO spans (trace_id, span_id, parent_span_id, name, status, start_time, "
        "end_time, duration_ms) SELECT trace_id, span_id, parent_span_id, name, status, "
        "make_timestamptz(start_ns), make_timestamptz(end_ns), 5 FROM src"
    )
    apply_migrations(conn)
    assert _keys(conn) == EXPECTED


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("keyed_share", [1.0, 0.5])
def test_model_calls_by_keys_are_migration_7s_rows(seed, keyed_share):
    conn = duckdb.connect()
    apply_migrations(conn)
    conn.execute(REFERENCE_SQL)
    insert(conn, random_spans(seed))  # plain SQL: no keys yet
    rng = random.Random(seed)
    rows = [r[0] for r in conn.execute("SELECT rowid FROM spans").fetchall()]
    keyed = [r for r in rows if rng.random() < keyed_share]
    # some rows keyed as the insert would, the rest left as plain SQL wrote them
    conn.execute(
        "UPDATE spans SET trace_hi = k.hi, trace_lo = k.lo, span_key = k.span, "
        "parent_key = k.parent FROM (SELECT rowid AS r, "
        "CASE WHEN length(trace_id) = 32 THEN ('0x' || trace_id[1:16])::UBIGINT END AS hi, "
        "CASE WHEN length(trace_id) = 32 THEN ('0x' || trace_id[17:32])::UBIGINT END AS lo, "
        "TRY_CAST('0x' || span_id AS UBIGINT) AS span, "
        "TRY_CAST('0x' || parent_span_id AS UBIGINT) AS parent FROM spans) k "
        "WHERE spans.rowid = k.r AND k.r IN (SELECT unnest(?::BIGINT[]))",
        [keyed],
    )
    assert conn.execute("SELECT count(span_key) FROM spans").fetchall()[0][0] == len(keyed)
    assert calls(conn, "model_calls") == calls(conn, "reference_calls")
    wrapped = conn.execute("SELECT count(*) FROM model_calls WHERE wrapper_span_id IS NOT NULL")
    assert wrapped.fetchall()[0][0] > 0  # the trees nest calls: not a vacuous pass
