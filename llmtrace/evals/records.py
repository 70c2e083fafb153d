"""Reading and writing eval records (datasets, runs, results) in the store."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pyarrow as pa

from ..store.connection import connect_write
from ..store.query import open_store_for_read

if TYPE_CHECKING:
    from .dataset import Dataset
    from .results import ExampleResult, Run

__all__ = ["load_results", "load_run", "record_dataset", "record_results", "record_run"]

_LOCK_TIMEOUT_S = 30.0


def record_dataset(db: Path, dataset: Dataset) -> None:
    conn = connect_write(db, timeout_s=_LOCK_TIMEOUT_S)
    try:
        conn.execute(
            "INSERT INTO datasets (name, version, row_count, content_hash, source_path) "
            "VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [
                dataset.name,
                dataset.version,
                len(dataset),
                dataset.content_hash,
                dataset.source_path,
            ],
        )
    finally:
        conn.close()


def record_run(db: Path, run: Run) -> None:
    """Insert or update the ``eval_runs`` row of ``run``."""
    conn = connect_write(db, timeout_s=_LOCK_TIMEOUT_S)
    try:
        conn.execute(
            """INSERT INTO eval_runs (run_id, suite, dataset_name, dataset_version, model,
                   prompt_name, prompt_version, epochs, seed, status, started_at, ended_at,
                   envelope, params, concurrency, example_count)
               VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
               ON CONFLICT (run_id) DO UPDATE SET status = excluded.status,
                   ended_at = excluded.ended_at""",
            [
                run.id,
                run.suite,
                run.dataset_name,
                run.dataset_version,
                run.model,
                run.prompt_name,
                run.prompt_version,
                run.epochs,
                run.seed,
                run.status,
                run.started_at,
                run.ended_at,
                json.dumps(run.envelope, default=str),
                json.dumps(run.params, default=str),
                run.concurrency,
                run.example_count,
            ],
        )
    finally:
        conn.close()


_RESULT_SCHEMA = pa.schema(
    [
        ("run_id", pa.string()),
        ("example_id", pa.string()),
        ("epoch", pa.int32()),
        ("scorer", pa.string()),
        ("kind", pa.string()),
        ("score", pa.float64()),
        ("passed", pa.bool_()),
        ("error", pa.string()),
        ("judge_model", pa.string()),
        ("judge_version", pa.string()),
        ("trace_id", pa.string()),
        ("latency_ms", pa.float64()),
    ]
)


def record_results(db: Path, run_id: str, results: Sequence[ExampleResult]) -> None:
    """Insert one row per (example, epoch, scorer) as one columnar batch (DuckDB's
    executemany manages only hundreds of rows a second)."""
    rows = []
    for result in results:
        for scorer_name, score in result.scores.items():
            kind, judge_model, judge_version = result.scorer_meta[scorer_name]
            rows.append(
                (
                    run_id,
                    result.example_id,
                    result.epoch,
                    scorer_name,
                    kind,
                    score.value,
                    score.passed,
                    score.error or result.error,
                    judge_model,
                    judge_version,
                    result.trace_id,
                    result.latency_ms,
                )
            )
    if not rows:
        return
    columns = list(zip(*rows, strict=True))
    batch = pa.Table.from_arrays(
        [pa.array(values, type=f.type) for values, f in zip(columns, _RESULT_SCHEMA, strict=True)],
        schema=_RESULT_SCHEMA,
    )
    names = ", ".join(_RESULT_SCHEMA.names)
    conn = connect_write(db, timeout_s=_LOCK_TIMEOUT_S)
    try:
        conn.register("result_batch", batch)
        conn.execute(f"INSERT INTO eval_results ({names}) SELECT {names} FROM result_batch")
        conn.unregister("result_batch")
    finally:
        conn.close()


def _records(db: Path, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    conn = open_store_for_read(db)
    try:
        result = conn.execute(sql, params)
        columns = [d[0] for d in result.description]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
    finally:
        conn.close()


def load_run(db: Path, run_id: str) -> dict[str, Any] | None:
    rows = _records(db, "SELECT * FROM eval_runs WHERE run_id = ?", [run_id])
    return rows[0] if rows else None


def load_results(db: Path, run_id: str) -> list[dict[str, Any]]:
    """Every result row of a run, with the cost and tokens of its trace."""
    return _records(
        db,
        """SELECT r.*, t.cost_usd AS trace_cost_usd,
                  coalesce(t.input_tokens, 0) + coalesce(t.output_tokens, 0) AS trace_tokens
           FROM eval_results r LEFT JOIN traces t ON t.trace_id = r.trace_id
           WHERE r.run_id = ? ORDER BY r.example_id, r.epoch, r.scorer""",
        [run_id],
    )
