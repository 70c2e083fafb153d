"""The one-pass SQL of production gates (issue 17): every window's traces come from one scan.

A small store written with SQL holds the cases a per-window query used to settle on its own:
windows that overlap (a trace in both), an error span that started long before its root (more
than ``SKEW``: not counted), an error on a child span, ``--where`` matching only a child span,
a trace with two root spans, and clusters at every level. Each selection of the shared table
must equal a direct computation in Python from the raw spans.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import duckdb
import numpy as np
import pytest

from llmtrace import evals
from llmtrace.evals.production.source import open_source
from llmtrace.evals.production.trace_metrics import WindowData
from llmtrace.evals.production.trace_sql import (
    SKEW,
    calls_table_sql,
    selection_view_sql,
    selections_table_sql,
    window_roots,
)
from llmtrace.evals.production.windows import Window
from llmtrace.store.connection import connect_write

T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)
CAND = Window(T0 + timedelta(hours=20), T0 + timedelta(hours=30))
BASE = Window(T0, T0 + timedelta(hours=24))  # overlaps CAND from hour 20 to 24
WHERE = "tool_name = 'search'"


def _spans() -> list[tuple[object, ...]]:
    """(trace, span, parent, kind, status, start hour offset, duration, tool, attrs, cost)."""
    rows: list[tuple[object, ...]] = []
    for i in range(60):
        trace, hour = f"t{i:03d}", i * 0.5
        attrs = (
            {"gen_ai.conversation.id": f"c{i // 4}"}
            if i % 3 == 0
            else {"session.id": f"s{i // 5}"}
            if i % 3 == 1
            else {}
        )
        rows.append((trace, f"{trace}r", None, "workflow", "UNSET", hour, 100.0 + i, None, attrs))
        rows.append((trace, f"{trace}l", f"{trace}r", "llm", "UNSET", hour, 50.0, None, {}, i))
        tool = "search" if i % 4 == 0 else "lookup"
        status = "ERROR" if i % 5 == 0 else "UNSET"
        rows.append((trace, f"{trace}t", f"{trace}r", "tool", status, hour, 5.0, tool, {}))
        action = "block" if i % 6 == 0 else "allow"
        rows.append((trace, f"{trace}g", f"{trace}r", "guardrail", "UNSET", hour, 1.0, action, {}))
    # an error span 2 h before its root (clock skew beyond SKEW): not the trace's error
    rows.append(("t041", "t041e", "t041r", "internal", "ERROR", 18.5, 1.0, None, {}))
    rows.append(("t041", "t041b", "t041r", "guardrail", "UNSET", 18.5, 1.0, "block", {}))
    # a second root span, later than the first: the trace keeps the first root's latency
    rows.append(("t042", "t042x", None, "workflow", "UNSET", 21.5, 7.0, None, {}))
    return rows


@pytest.fixture
def store(tmp_path: Path) -> Path:
    db = tmp_path / "sql.duckdb"
    conn = connect_write(db)
    try:
        for row in _spans():
            trace, span, parent, kind, status, hour, duration, tool, attrs, *cost = row
            start = T0 + timedelta(hours=float(hour))  # type: ignore[arg-type]
            conn.execute(
                "INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, status, "
                "start_time, end_time, duration_ms, tool_name, model, input_tokens, "
                "output_tokens, cost_usd, attributes, guardrail_policy, guardrail_action) "
                "VALUES (?, ?, ?, 'x', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?::JSON::VARIANT, ?, ?)",
                [
                    trace, span, parent, kind, status, start, start, duration,
                    tool if kind == "tool" else None,
                    "m" if kind == "llm" else None,
                    10 if kind == "llm" else None,
                    3 if kind == "llm" else None,
                    cost[0] * 1e-3 if cost else None,
                    __import__("json").dumps(attrs),
                    "pii" if kind == "guardrail" else None,
                    tool if kind == "guardrail" else None,
                ],
            )  # fmt: skip
    finally:
        conn.close()
    return db


def _expected(window: Window, where: bool) -> dict[str, tuple[object, ...]]:
    """Each trace of the window, computed here from the raw rows."""
    spans = _spans()
    roots = {}
    for trace, _span, parent, _kind, _status, hour, duration, _tool, attrs, *_ in spans:
        start = T0 + timedelta(hours=float(hour))  # type: ignore[arg-type]
        first = trace not in roots or start < roots[trace][0]
        if parent is None and window.start <= start < window.end and first:
            roots[trace] = (start, duration, attrs)
    found = {}
    for trace, (_, duration, attrs) in roots.items():
        late = [
            s for s in spans
            if s[0] == trace and T0 + timedelta(hours=float(s[5])) >= window.start - SKEW  # type: ignore[arg-type]
        ]  # fmt: skip
        if where and not any(s[3] == "tool" and s[7] == "search" for s in late):
            continue
        error = any(s[4] == "ERROR" for s in late)
        conversation = attrs.get("gen_ai.conversation.id")  # type: ignore[union-attr]
        session = attrs.get("session.id")  # type: ignore[union-attr]
        cluster = (
            f"conversation:{conversation}" if conversation
            else f"session:{session}" if session
            else f"trace:{trace}"
        )  # fmt: skip
        cost = sum(float(s[9]) * 1e-3 for s in spans if s[0] == trace and len(s) > 9)  # type: ignore[arg-type]
        found[trace] = (float(duration), error, cluster, round(cost, 12), 13)  # type: ignore[arg-type]
    return found


@pytest.fixture
def conn(store: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    connection = open_source(store)
    yield connection
    connection.close()


@pytest.mark.parametrize("where", [None, WHERE])
def test_one_table_for_two_overlapping_windows_equals_each_window_alone(
    conn: duckdb.DuckDBPyConnection, where: str | None
) -> None:
    conn.execute(calls_table_sql("_calls", BASE.start, finish_reasons=False))
    selections = [(window_roots(w), w.start) for w in (CAND, BASE)]
    conn.execute(selections_table_sql("_all", selections, where, "_calls"))
    for k, window in enumerate((CAND, BASE)):
        conn.execute(selection_view_sql(f"_sel{k}", "_all", k))
        rows = conn.execute(
            f"SELECT trace_id, root_ms, has_error, cluster, round(cost_usd, 12), tokens "
            f"FROM _sel{k}"
        ).fetchall()
        got = {r[0]: tuple(r[1:]) for r in rows}
        assert got == _expected(window, where is not None)
    both = conn.execute("SELECT count(DISTINCT trace_id) FROM _all GROUP BY trace_id").fetchall()
    assert len(both) < conn.execute("SELECT count(*) FROM _all").fetchone()[0]  # type: ignore[index]


def test_the_skewed_error_is_not_counted_but_a_child_error_is(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    conn.execute(calls_table_sql("_calls", BASE.start, finish_reasons=False))
    conn.execute(selections_table_sql("_all", [(window_roots(CAND), CAND.start)], None, "_calls"))
    errors = dict(conn.execute("SELECT trace_id, has_error FROM _all").fetchall())
    assert errors["t041"] is False and errors["t040"] is True


def test_gate_over_overlapping_windows_matches_each_window_gated_alone(store: Path) -> None:
    latency = {"metric": "latency.p90_ms", "max": 130}
    errors = {"metric": "errors.rate", "max_rise": 0.5}
    together = evals.gate_traces(
        {"gates": [latency, errors]}, window=CAND, baseline=BASE, db=store, store=False
    )
    for window, clustered_by in (
        (CAND, together.clustered_by),
        (BASE, together.baseline_clustered_by),
    ):
        alone = evals.gate_traces({"gates": [latency]}, window=window, db=store, store=False)
        assert alone.clustered_by == clustered_by
    alone = evals.gate_traces({"gates": [latency]}, window=CAND, db=store, store=False)
    assert together.gates[0].estimate == alone.gates[0].estimate
    assert together.gates[0].n == alone.gates[0].n


def test_drift_between_overlapping_windows_counts_each_side_in_one_pass(store: Path) -> None:
    """A trace in both windows is counted on both sides; numbers and categories in the same
    pass give the counts of a direct computation over each window's own values."""
    result = evals.drift(BASE, CAND, db=store, store=False)
    found = {f.feature: f for f in result.features}
    ref = np.array([v[0] for v in _expected(BASE, False).values()])
    cur = np.array([v[0] for v in _expected(CAND, False).values()])
    edges = sorted(set(np.quantile(ref, [i / 10 for i in range(1, 10)]).tolist()))
    latency = found["latency_ms"]
    assert list(latency.bins.edges) == pytest.approx(edges, abs=1e-9)
    for values, counts in ((ref, latency.reference_counts), (cur, latency.current_counts)):
        assert counts == np.bincount(np.searchsorted(edges, values), minlength=10).tolist()
    tools = found["tool_name"]
    assert tools.bins.labels() == ["lookup", "search", "(other)"]

    def tool_counts(window: Window) -> list[int]:
        names = [
            s[7] for s in _spans()
            if s[3] == "tool" and s[0] in _expected(window, False)
        ]  # fmt: skip
        return [names.count("lookup"), names.count("search"), 0]

    assert tools.reference_counts == tool_counts(BASE)
    assert tools.current_counts == tool_counts(CAND)
    assert found["input_tokens"].psi == pytest.approx(0.0, abs=1e-12)


def test_guardrail_checks_long_before_the_root_are_not_the_windows(store: Path) -> None:
    """A guardrail span that started more than SKEW before its trace's root (t041's early
    block) is not counted, as an error span there is not."""
    rule = {"metric": "guardrail.pii.block_rate", "max": 1.0}
    result = evals.gate_traces({"gates": [rule]}, window=CAND, db=store, store=False)
    traces = _expected(CAND, False)
    checks = [s for s in _spans() if s[3] == "guardrail" and s[1] != "t041b" and s[0] in traces]
    blocks = sum(1 for s in checks if s[7] == "block")
    assert result.gates[0].estimate == pytest.approx(blocks / len(checks), abs=1e-12)
    assert result.gates[0].n == len({traces[s[0]][2] for s in checks})


def test_windows_clustered_level_by_level_as_computed_from_the_spans(
    conn: duckdb.DuckDBPyConnection,
) -> None:
    # WindowData reads the conversation in the roots' scan, then the session only for the
    # traces still alone (an UPDATE): the clusters are those of every level read at once
    conn.execute(calls_table_sql("_calls", BASE.start, finish_reasons=False))
    found = WindowData.load(conn, [CAND, BASE], None, "_calls")
    for data, window in zip(found, (CAND, BASE), strict=True):
        rows = dict(conn.execute(f"SELECT trace_id, cluster FROM {data.traces}").fetchall())
        assert rows == {trace: value[2] for trace, value in _expected(window, False).items()}
        assert set(data.cluster_levels) == {"conversation", "session", "trace"}
