"""Drift's own tables (evals/production/drift_sql.py) hold the traces, root latencies, calls and
costs a gate's selection table holds for the same windows: drift reads its traces from the
roots alone and its calls from one join, and must not change what it counts.

The store is written with SQL so that every case is there: windows that overlap (a trace on both
sides), a trace with two roots, ``--where`` matched by a child span only, traces with two calls,
a call with no cost, a judge call, a trace without calls; ids that are hex (integer keys) or not
(text ids).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import pytest

from llmtrace import evals
from llmtrace.evals.production.drift_sql import (
    calls_of_sides_sql,
    costs_table_sql,
    sides_table_sql,
)
from llmtrace.evals.production.source import open_source
from llmtrace.evals.production.trace_sql import (
    INT_KEY,
    TEXT_KEY,
    calls_table_sql,
    evaluations_table_sql,
    selections_table_sql,
    trace_key,
    window_roots,
)
from llmtrace.evals.production.windows import Window
from llmtrace.store.connection import connect_write
from llmtrace.store.keys import KEY_COLUMNS, key_values_sql

T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)
BASE = Window(T0, T0 + timedelta(hours=24))
CAND = Window(T0 + timedelta(hours=20), T0 + timedelta(hours=30))  # overlaps BASE
EVENT = (
    '[{"name": "gen_ai.evaluation.result", "attributes": '
    '{"gen_ai.evaluation.name": "helpful", "gen_ai.evaluation.score.value": 0.5}}]'
)


def _rows(hex_ids: bool) -> list[tuple[object, ...]]:
    """(trace, span, parent, kind, hour, duration, tool, cost, events)."""

    def tid(i: int) -> str:
        return f"{i:032x}" if hex_ids else f"t{i:03d}"

    def sid(i: int, k: int) -> str:
        return f"{i * 10 + k:016x}" if hex_ids else f"t{i:03d}s{k}"

    rows: list[tuple[object, ...]] = []
    for i in range(60):
        hour, root = i * 0.5, sid(i, 0)
        event = EVENT if i % 4 == 0 else None
        rows.append((tid(i), root, None, "workflow", hour, 100.0 + i, None, None, event))
        if i % 7 != 3:  # some traces have no call at all
            cost = None if i % 5 == 0 else i * 1e-3  # an unpriced call
            rows.append((tid(i), sid(i, 1), root, "llm", hour, 50.0, None, cost, None))
        if i % 2 == 0:  # a second call, a judge on every fourth trace
            kind = "judge" if i % 4 == 0 else "llm"
            rows.append((tid(i), sid(i, 2), root, kind, hour, 20.0, None, 2e-3, None))
        tool = "search" if i % 3 == 0 else "lookup"
        rows.append((tid(i), sid(i, 3), root, "tool", hour + 0.1, 5.0, tool, None, None))
    rows.append((tid(42), sid(42, 9), None, "workflow", 21.5, 7.0, None, None, None))
    return rows


def _store(db: Path, hex_ids: bool) -> Path:
    conn = connect_write(db)
    try:
        conn.execute(
            "CREATE TEMP TABLE raw (trace_id VARCHAR, span_id VARCHAR, parent_span_id VARCHAR, "
            "kind VARCHAR, hour DOUBLE, duration_ms DOUBLE, tool_name VARCHAR, "
            "cost_usd DOUBLE, events VARCHAR)"
        )
        conn.executemany("INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)", _rows(hex_ids))
        start = f"TIMESTAMPTZ '{T0.isoformat()}' + to_microseconds((hour * 3.6e9)::BIGINT)"
        conn.execute(
            "INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, status, "
            "start_time, end_time, duration_ms, tool_name, model, input_tokens, output_tokens, "
            f"cost_usd, events, {', '.join(KEY_COLUMNS)}) "
            f"SELECT trace_id, span_id, parent_span_id, 'x', kind, 'UNSET', {start}, {start}, "
            "duration_ms, tool_name, CASE WHEN kind IN ('llm', 'judge') THEN 'm' END, "
            "CASE WHEN kind IN ('llm', 'judge') THEN 10 END, "
            "CASE WHEN kind IN ('llm', 'judge') THEN 3 END, cost_usd, events, "
            f"{key_values_sql()} FROM raw"
        )
    finally:
        conn.close()
    return db


@pytest.fixture(params=[True, False], ids=["integer keys", "text ids"])
def conn(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_source(_store(tmp_path / "drift.duckdb", request.param))
    assert trace_key(connection) == (INT_KEY if request.param else TEXT_KEY)
    yield connection
    connection.close()


@pytest.mark.parametrize("where", [None, "tool_name = 'search'"])
def test_drift_tables_hold_what_the_gate_selection_holds(
    conn: duckdb.DuckDBPyConnection, where: str | None
) -> None:
    key = trace_key(conn)
    columns = ", ".join(key)
    selections = [(window_roots(BASE), BASE.start), (window_roots(CAND), CAND.start)]
    conn.execute(calls_table_sql("gate_calls", BASE.start, key=key))
    conn.execute(selections_table_sql("gate", selections, where, "gate_calls", key=key))
    conn.execute(sides_table_sql("sides", selections, where, key))
    conn.execute(calls_of_sides_sql("calls", "sides", BASE.start, key))
    conn.execute(costs_table_sql("costs", "calls"))

    gate = conn.execute(f"SELECT sel, {columns}, root_ms FROM gate ORDER BY ALL").fetchall()
    assert (
        conn.execute(f"SELECT sel, {columns}, root_ms FROM sides ORDER BY ALL").fetchall() == gate
    )
    assert {row[0] for row in gate} == {0, 1} and len(gate) < 2 * 60  # both sides, narrowed
    both = conn.execute(f"SELECT {columns} FROM sides GROUP BY ALL HAVING count(*) = 2")
    assert both.fetchall()  # traces of the overlap are on both sides

    # a trace's cost: the sum of its priced calls, none when no call was priced or it has none
    costs = conn.execute(
        "SELECT sel, round(cost_usd, 12) FROM gate WHERE cost_usd IS NOT NULL ORDER BY ALL"
    ).fetchall()
    found = conn.execute(
        "SELECT sel, round(cost_usd, 12) FROM costs WHERE cost_usd IS NOT NULL ORDER BY ALL"
    ).fetchall()
    assert found == costs and len(found) < len(gate)

    # every call of a selected trace, on each side its trace is on
    expected = conn.execute(
        f"SELECT g.sel, c.kind, c.cost_usd FROM gate_calls c JOIN gate g USING ({columns}) "
        "ORDER BY ALL"
    ).fetchall()
    calls = conn.execute(
        "SELECT sel, CASE WHEN llm THEN 'llm' ELSE 'judge' END, cost_usd FROM calls ORDER BY ALL"
    ).fetchall()
    assert calls == expected and {row[1] for row in calls} == {"llm", "judge"}


def test_evaluations_without_clusters_are_the_clustered_ones(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    key = trace_key(conn)
    selections = [(window_roots(BASE), BASE.start), (window_roots(CAND), CAND.start)]
    conn.execute(calls_table_sql("gate_calls", BASE.start, key=key))
    conn.execute(selections_table_sql("gate", selections, None, "gate_calls", key=key))
    conn.execute(sides_table_sql("sides", selections, None, key))
    conn.execute(evaluations_table_sql("clustered", "gate", with_sel=True, key=key))
    conn.execute(evaluations_table_sql("lean", "sides", with_sel=True, key=key, clusters=False))
    same = "sel, trace_id, span_id, name, score, kind"
    full = conn.execute(f"SELECT {same} FROM clustered ORDER BY ALL").fetchall()
    assert conn.execute(f"SELECT {same} FROM lean ORDER BY ALL").fetchall() == full
    assert conn.execute("SELECT count(cluster) FROM lean").fetchall() == [(0,)]
    # one event per fourth trace, listed once per side its trace is on (the overlap twice)
    per_side = conn.execute("SELECT sel, count(*) FROM lean GROUP BY sel ORDER BY sel")
    assert per_side.fetchall() == [(0, 12), (1, 5)]
    assert conn.execute("SELECT count(cluster) FROM clustered").fetchall() == [(len(full),)]


def test_drift_over_overlapping_windows_counts_costs_per_trace(tmp_path: Path) -> None:
    db = _store(tmp_path / "drift.duckdb", True)
    result = evals.drift(BASE, CAND, db=db, store=False)
    cost = next(f for f in result.features if f.feature == "cost_usd")
    # priced traces of each window: a trace's first call unpriced every fifth, some have none
    priced = {
        window: [
            i for i in range(60)
            if window.start <= T0 + timedelta(hours=i * 0.5) < window.end
            and ((i % 7 != 3 and i % 5 != 0) or i % 2 == 0)
        ]
        for window in (BASE, CAND)
    }  # fmt: skip
    assert sum(cost.reference_counts) == len(priced[BASE])
    assert sum(cost.current_counts) == len(priced[CAND])
