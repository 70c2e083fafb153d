"""Production gates and drift join traces on the integer trace keys when every span has them
(store/keys.py) and on the text ids otherwise: the same results either way, from the store and
from its Parquet export, on traffic written by real traced processes."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path
from typing import Any

import duckdb
import pytest

from llmtrace import evals
from llmtrace.evals.production import Window
from llmtrace.evals.production.source import open_source
from llmtrace.evals.production.trace_sql import (
    INT_KEY,
    TEXT_KEY,
    calls_table_sql,
    selections_table_sql,
    trace_key,
    window_roots,
)
from tests.conftest import cli_in_process as cli
from tests.production_traffic import TrafficWindows, shared_traffic

# every kind of metric: per trace, per LLM call, per guardrail check, per evaluation
GATES: dict[str, Any] = {
    "confidence": 0.95,
    "gates": [
        {"metric": "latency.p50_ms", "max_increase_pct": 50},
        {"metric": "latency.p95_ms", "max": 1000},
        {"metric": "llm.latency.p95_ms", "max": 1000},
        {"metric": "errors.rate", "max_rise": 0.08},
        {"metric": "guardrail.pii.block_rate", "max_rise": 0.08},
        {"metric": "cost.usd_per_trace", "max_increase_pct": 20},
        {"metric": "tokens.per_trace", "max": 1000, "max_increase_pct": 20},
        {"metric": "quality.helpful", "min": 0.5, "max_drop": 0.1},
        {"metric": "safety.violation_rate", "max": 0.05},
    ],
}
_MODULES = ("llmtrace.evals.production.drift", "llmtrace.evals.production.trace_gate")
WHERE = "service_name = 'support-bot'"


@pytest.fixture(scope="module")
def traffic(tmp_path_factory: pytest.TempPathFactory) -> TrafficWindows:
    return shared_traffic(tmp_path_factory)


def _window(bounds: tuple[str, str]) -> Window:
    return evals.production.windows.parse_window(f"{bounds[0]}..{bounds[1]}")


def _text_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in _MODULES:
        monkeypatch.setattr(sys.modules[name], "trace_key", lambda conn: TEXT_KEY)


def _gate(traffic: TrafficWindows, db: Path, where: str | None) -> list[tuple[Any, ...]]:
    result = evals.gate_traces(
        GATES,
        window=_window(traffic.regression),
        baseline=_window(traffic.baseline),
        where=where,
        db=db,
        store=False,
    )
    return [
        (g.rule, g.decision, g.estimate, g.ci_low, g.ci_high, g.n, g.reason) for g in result.gates
    ]


def _drift(traffic: TrafficWindows, db: Path, where: str | None) -> list[tuple[Any, ...]]:
    result = evals.drift(
        _window(traffic.baseline), _window(traffic.regression), where=where, db=db, store=False
    )
    return [
        (f.feature, f.bins, f.reference_counts, f.current_counts, f.psi, f.js)
        for f in result.features
    ]


def _close(got: Any, expected: Any) -> bool:
    """Equal, floats within 1e-9 (sums of costs may add up in another order)."""
    if isinstance(expected, float) and isinstance(got, float):
        return got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    if isinstance(expected, (list, tuple)) and isinstance(got, (list, tuple)):
        return len(got) == len(expected) and all(map(_close, got, expected))
    if got != expected:
        print(f"differs: {got!r} != {expected!r}")
        return False
    return True


def test_a_store_written_by_traced_processes_is_keyed(traffic: TrafficWindows) -> None:
    conn = open_source(traffic.db)
    try:
        assert trace_key(conn) == INT_KEY
    finally:
        conn.close()


@pytest.mark.parametrize("where", [None, WHERE])
def test_gate_and_drift_are_the_same_on_keys_and_on_text_ids(
    traffic: TrafficWindows, where: str | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyed = (_gate(traffic, traffic.db, where), _drift(traffic, traffic.db, where))
    assert len(keyed[1]) >= 8 and any(f[4] for f in keyed[1])  # drift measured, not empty
    _text_ids(monkeypatch)
    assert _close((_gate(traffic, traffic.db, where), _drift(traffic, traffic.db, where)), keyed)


def test_a_span_without_keys_makes_the_store_join_on_text_ids(
    traffic: TrafficWindows, tmp_path: Path
) -> None:
    db = tmp_path / "copy.duckdb"
    shutil.copy(traffic.db, db)
    before = (_gate(traffic, db, None), _drift(traffic, db, None))
    conn = duckdb.connect(str(db))
    conn.execute(  # a foreign writer's span, by plain SQL: no keys (and not a hex id)
        "INSERT INTO spans (trace_id, span_id, name, status, start_time, end_time, duration_ms) "
        "VALUES ('foreign-trace', 'foreign-span', 'x', 'OK', TIMESTAMPTZ '2001-01-01', "
        "TIMESTAMPTZ '2001-01-01', 0)"
    )
    conn.close()
    source = open_source(db)
    try:
        assert trace_key(source) == TEXT_KEY
    finally:
        source.close()
    assert _close((_gate(traffic, db, None), _drift(traffic, db, None)), before)


def test_a_parquet_export_carries_the_keys_and_reads_the_same(
    traffic: TrafficWindows, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "export"
    code, out, err = cli(capsys, "export", "--db", str(traffic.db), "--parquet", str(folder))
    assert code == 0, (out, err)
    source = open_source(folder)
    try:
        assert trace_key(source) == INT_KEY
    finally:
        source.close()
    assert _close(_drift(traffic, folder, WHERE), _drift(traffic, traffic.db, WHERE))
    assert _close(_gate(traffic, folder, None), _gate(traffic, traffic.db, None))


@pytest.mark.parametrize("key", [INT_KEY, TEXT_KEY])
def test_a_selection_without_clusters_has_the_same_traces(
    traffic: TrafficWindows, key: tuple[str, ...]
) -> None:
    windows = [_window(traffic.baseline), _window(traffic.regression)]
    selections = [(window_roots(w), w.start) for w in windows]
    conn = open_source(traffic.db)
    try:
        conn.execute(calls_table_sql("calls", windows[0].start, key=key))
        for name, clusters in (("with_clusters", True), ("lean", False)):
            conn.execute(
                selections_table_sql(name, selections, WHERE, "calls", key=key, clusters=clusters)
            )
        columns = {str(row[0]) for row in conn.execute("DESCRIBE lean").fetchall()}
        assert ("trace_id" in columns) == (key == TEXT_KEY)
        assert conn.execute("SELECT count(cluster) FROM lean").fetchall() == [(0,)]
        same = f"sel, {', '.join(key)}, start_time, root_ms, has_error, cost_usd, tokens"
        full = conn.execute(f"SELECT {same} FROM with_clusters ORDER BY ALL").fetchall()
        assert len(full) == 600 and any(row[-3] for row in full)  # both windows, some errors
        assert conn.execute(f"SELECT {same} FROM lean ORDER BY ALL").fetchall() == full
    finally:
        conn.close()
