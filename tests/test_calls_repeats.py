"""Migration 15 (store/call_repeats.py): ``model_calls`` finds the hashes of repeated response ids
by sorting them. The rows must be migration 14's and migration 7's (the reference), with ids
reported two and three times, in one trace and across traces, by one provider or two, with no
provider, and when hashes collide (only the text then says which ids repeat)."""

from __future__ import annotations

from typing import Any

import duckdb
import pytest

from llmtrace.store.call_repeats import SORTED_REPEAT_CALL_VIEWS_SQL
from llmtrace.store.calls import HASHED_REPEAT_CALL_VIEWS_SQL
from llmtrace.store.schema import MIGRATIONS, apply_migrations
from tests.call_trees import REFERENCE_SQL, calls, insert, random_spans

HASH = "hash(provider, response_id)"


@pytest.fixture
def conn():
    connection = duckdb.connect()
    apply_migrations(connection)
    connection.execute(REFERENCE_SQL)
    connection.execute(HASHED_REPEAT_CALL_VIEWS_SQL.replace("VIEW model_calls", "VIEW calls_14"))
    yield connection
    connection.close()


def _call(t: int, s: int, provider: str | None, response: str | None) -> tuple[Any, ...]:
    start = 1_000 * t + s
    return (
        f"{t:032x}", f"{t:08x}{s:08x}", None, "chat", "llm", "OK", start, start + 5, 5.0,
        provider, "gpt-4o-mini", None, 10, 2, 0.5, response, None,
    )  # fmt: skip


def test_the_newest_migration_is_the_sorted_view() -> None:
    assert MIGRATIONS[-1][0] == 15 and MIGRATIONS[-1][2] == SORTED_REPEAT_CALL_VIEWS_SQL


@pytest.mark.parametrize("seed", range(6))
def test_same_rows_as_migrations_14_and_7_on_random_trees(conn, seed):
    insert(conn, random_spans(seed))
    expected = calls(conn, "reference_calls")
    assert calls(conn, "model_calls") == expected == calls(conn, "calls_14")
    repeats = conn.execute("SELECT count(*) FILTER (NOT first_in_store) FROM model_calls")
    assert repeats.fetchall()[0][0] > 0  # the trees repeat response ids


def test_ids_reported_twice_and_thrice_by_one_provider_or_two(conn):
    insert(
        conn,
        [
            _call(0, 0, "openai", "r-twice"), _call(0, 1, "openai", "r-twice"),
            _call(1, 0, "openai", "r-thrice"), _call(2, 0, "openai", "r-thrice"),
            _call(2, 1, "openai", "r-thrice"),
            _call(3, 0, "openai", "r-two-providers"), _call(3, 1, "anthropic", "r-two-providers"),
            _call(4, 0, None, "r-no-provider"), _call(5, 0, None, "r-no-provider"),
            _call(6, 0, "openai", "r-once"), _call(6, 1, "openai", None),
        ],
    )  # fmt: skip
    got = conn.execute(
        "SELECT response_id, count(*) FILTER (first_in_store), count(*) FILTER (first_in_trace) "
        "FROM model_calls GROUP BY ALL ORDER BY ALL"
    ).fetchall()
    assert got == [
        ("r-no-provider", 1, 2),  # across two traces: one in the store, one in each trace
        ("r-once", 1, 1),
        ("r-thrice", 1, 2),
        ("r-twice", 1, 1),
        ("r-two-providers", 2, 2),  # not one call: two providers
        (None, 1, 1),
    ]
    assert calls(conn, "model_calls") == calls(conn, "reference_calls")


@pytest.mark.parametrize("seed", range(3))
def test_colliding_hashes_leave_the_text_to_decide(conn, seed):
    # every hash one of two values: nearly every id looks repeated until its text is grouped
    colliding = SORTED_REPEAT_CALL_VIEWS_SQL.replace(HASH, f"({HASH} % 2)")
    assert colliding.count(f"({HASH} % 2)") == 2
    conn.execute(colliding.replace("VIEW model_calls", "VIEW colliding_calls"))
    insert(conn, random_spans(50 + seed))
    assert calls(conn, "colliding_calls") == calls(conn, "reference_calls")
