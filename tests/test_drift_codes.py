"""Drift's calls table holds a call's text features as codes (evals/production/drift_sql.py): the
counts read back are the counts of the text, for every value a column can hold (none, empty,
the text ``(none)``, quotes), with a wrapper's model inherited by its call, on a store and on
its Parquet export; a column whose values' codes collide is read as text instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb
import pytest

from llmtrace import evals
from llmtrace.evals.production import drift_features, drift_sql
from llmtrace.evals.production.drift_features import Selection
from llmtrace.evals.production.source import open_source
from llmtrace.evals.production.trace_sql import trace_key, window_roots
from llmtrace.evals.production.windows import Window
from llmtrace.store.connection import connect_write
from llmtrace.store.keys import KEY_COLUMNS, key_values_sql

T0 = datetime(2026, 11, 20, tzinfo=timezone.utc)
REFERENCE = f"{T0.isoformat()}..{(T0 + timedelta(hours=10)).isoformat()}"
CURRENT = f"{(T0 + timedelta(hours=10)).isoformat()}..{(T0 + timedelta(hours=20)).isoformat()}"
MODELS = [None, "", "(none)", "gpt-4o", "it's", "gpt-4o-mini"]
CATEGORICAL = ("model", "prompt_version", "finish_reasons")


def _store(db: Path) -> Path:
    """40 traces over 20 hours: a root, an LLM call of a model in MODELS, every fifth call
    inside an LLM wrapper that names the model (the call has none: it inherits the wrapper's),
    a judge call with a model of its own (not counted: only LLM calls are)."""
    rows: list[tuple[Any, ...]] = []
    for i in range(40):
        trace, root, hour = f"{i:032x}", f"{i * 10:016x}", i * 0.5
        rows.append((trace, root, None, "workflow", hour, None, None, None))
        model = MODELS[(i * 7 + i // 10) % len(MODELS)]
        version = None if i % 3 == 0 else f"v{i % 4}"
        reasons = '["stop"]' if i % 5 else '["length"]'
        parent = root
        if i % 5 == 0:  # a wrapper names the model, its call does not
            parent = f"{i * 10 + 1:016x}"
            rows.append((trace, parent, root, "llm", hour, "wrapped-" + str(i % 2), None, None))
            model = None
        rows.append((trace, f"{i * 10 + 2:016x}", parent, "llm", hour, model, version, reasons))
        rows.append((trace, f"{i * 10 + 3:016x}", root, "judge", hour, "judge-m", "j1", None))
    conn = connect_write(db)
    try:
        conn.execute(
            "CREATE TEMP TABLE raw (trace_id VARCHAR, span_id VARCHAR, parent_span_id VARCHAR, "
            "kind VARCHAR, hour DOUBLE, model VARCHAR, prompt_version VARCHAR, "
            "finish_reasons VARCHAR)"
        )
        conn.executemany("INSERT INTO raw VALUES (?, ?, ?, ?, ?, ?, ?, ?)", rows)
        start = f"TIMESTAMPTZ '{T0.isoformat()}' + to_microseconds((hour * 3.6e9)::BIGINT)"
        conn.execute(
            "INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, status, "
            "start_time, end_time, duration_ms, model, prompt_version, finish_reasons, "
            f"input_tokens, output_tokens, cost_usd, {', '.join(KEY_COLUMNS)}) "
            f"SELECT trace_id, span_id, parent_span_id, 'x', kind, 'UNSET', {start}, {start}, "
            "10, model, prompt_version, finish_reasons, "
            "CASE WHEN kind <> 'workflow' THEN 5 END, CASE WHEN kind <> 'workflow' THEN 2 END, "
            f"CASE WHEN kind <> 'workflow' THEN 1e-3 END, {key_values_sql()} FROM raw"
        )
    finally:
        conn.close()
    return db


def _counts(db: Path) -> dict[str, tuple[Any, ...]]:
    result = evals.drift(REFERENCE, CURRENT, features=list(CATEGORICAL), db=db, store=False)
    return {
        f.feature: (f.bins.categories, f.reference_counts, f.current_counts, f.psi, f.js)
        for f in result.features
    }


def _as_text(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drift_features, "text_codes", lambda conn, columns: {})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _store(tmp_path_factory.mktemp("codes") / "codes.duckdb")


def test_codes_read_back_the_counts_of_the_text(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    coded = _counts(store)
    models = coded["model"][0]
    # NULL and the text "(none)" are one category, the empty text another; inherited models
    assert {"(none)", "", "it's", "wrapped-0", "wrapped-1"} <= set(models)
    assert "judge-m" not in models
    _as_text(monkeypatch)
    assert _counts(store) == coded


def test_the_calls_table_holds_no_text(store: Path) -> None:
    conn = open_source(store)
    try:
        codes = drift_sql.text_codes(conn, CATEGORICAL)
        assert set(codes) == set(CATEGORICAL)
        assert set(codes["model"].values()) == {*MODELS, "wrapped-0", "wrapped-1", "judge-m"}
        # a column with no value (its statistics say so, no scan): NULL's code alone
        null = conn.execute(f"SELECT {drift_sql.CODE_SQL.format('NULL::VARCHAR')}").fetchall()
        assert drift_sql.text_codes(conn, ["prompt_name"]) == {"prompt_name": {null[0][0]: None}}
        window = Window(T0, T0 + timedelta(hours=20))
        side = ("all", window_roots(window), window.start)
        data = Selection.load(conn, [side, side], None, window.start, trace_key(conn))
        described = conn.execute(f"DESCRIBE {data.tables['calls']}").fetchall()
    finally:
        conn.close()
    types = {str(row[0]): str(row[1]) for row in described}
    assert "VARCHAR" not in types.values()
    assert types["model"] == "UBIGINT" and types["llm"] == "BOOLEAN"


def test_a_column_whose_codes_collide_is_read_as_text(
    store: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    conn = duckdb.connect(str(store), read_only=True)
    try:
        monkeypatch.setattr(drift_sql, "CODE_SQL", "hash({}) % 2")  # 3+ values: a collision
        assert drift_sql.text_codes(conn, CATEGORICAL) == {}
    finally:
        conn.close()
    collided = _counts(store)
    monkeypatch.undo()
    _as_text(monkeypatch)
    assert collided == _counts(store)


def test_the_parquet_export_counts_the_same(store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    conn = duckdb.connect(str(store), read_only=True)
    try:
        conn.execute(
            "COPY (SELECT * REPLACE (attributes::JSON AS attributes) FROM spans) "
            f"TO '{folder / 'spans.parquet'}' (FORMAT parquet)"
        )
    finally:
        conn.close()
    assert _counts(folder) == _counts(store)
