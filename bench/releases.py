"""Release records (issue 14): register + promote + card for a 10,000-example run (< 2 s), and
bundle export and import of a 100,000-span run. Runs and spans are written with SQL (the
runner's own speed is measured in evals_bench), so the figures are the registry's alone."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

from llmtrace import evals
from llmtrace.evals.bundle import export_bundle, import_bundle
from llmtrace.store.connection import connect_write

from .common import line

GATES = {
    "gates": [
        {"metric": "quality.exact_match", "min": 0.5, "max_drop": 0.02},
        {"metric": "errors.rate", "max": 0.05},
        {"metric": "latency.p95_ms", "max": 1000},
    ]
}


def _synthetic_run(db: Path, run_id: str, examples: int, spans_per_example: int) -> None:
    """A completed run of ``examples`` examples with its results, and its spans."""
    conn = connect_write(db)
    try:
        conn.execute(
            "INSERT INTO datasets VALUES ('bench', 'benchdata0001', ?, 'benchhash', NULL, now()) "
            "ON CONFLICT DO NOTHING",
            [examples],
        )
        conn.execute(
            "INSERT INTO eval_runs (run_id, suite, dataset_name, dataset_version, model, epochs, "
            "seed, status, started_at, ended_at, envelope, params, concurrency, example_count) "
            "VALUES (?, 'bench', 'bench', 'benchdata0001', 'gpt-4o-2024-08-06', 1, 0, "
            "'completed', now(), now(), '{}', '{}', 1, ?)",
            [run_id, examples],
        )
        conn.execute(
            """INSERT INTO eval_results (run_id, example_id, epoch, scorer, kind, score, passed,
                   trace_id, latency_ms)
               SELECT ?, 'ex' || i, 0, s.scorer, s.kind,
                      CASE WHEN s.scorer = 'target' OR hash(i, ?) % 10 > 0 THEN 1.0 ELSE 0.0 END,
                      true, ? || lpad(i::VARCHAR, 16, '0'), 20 + hash(i, ?) % 200
               FROM range(?) t(i),
                    (VALUES ('exact_match', 'quality'), ('target', 'target')) s(scorer, kind)""",
            [run_id, run_id, run_id, run_id, examples],
        )
        conn.execute(
            """INSERT INTO spans (trace_id, span_id, name, kind, status, start_time, end_time,
                   duration_ms, eval_run_id, eval_example_id, model, input_tokens, attributes)
               SELECT ? || lpad((i // ?)::VARCHAR, 16, '0'), lpad(i::VARCHAR, 16, '0'),
                      'chat', 'llm', 'OK', now(), now(), 20.0, ?, 'ex' || (i // ?),
                      'gpt-4o', 100, {'gen_ai.request.model': 'gpt-4o'}::VARIANT
               FROM range(?) t(i)""",
            [run_id, spans_per_example, run_id, spans_per_example, examples * spans_per_example],
        )
    finally:
        conn.close()


def registry_figures(examples: int = 10_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.duckdb"
        _synthetic_run(db, "baselinerun00001", examples, 1)
        _synthetic_run(db, "candidaterun0001", examples, 1)
        registry = evals.Registry(db)
        registry.promote(
            registry.register("baselinerun00001", name="bench"),
            to="production",
            config=GATES,
            by="bench",
        )
        start = time.perf_counter()
        release = registry.register("candidaterun0001", name="bench")
        registry.promote(release, to="production", config=GATES, by="bench")
        promoted = time.perf_counter()
        evals.card(release, card_yaml=None, db=db)
        done = time.perf_counter()
    print("release records (issue 14)")
    line(
        f"register + promote (paired gate) of a {examples:,}-example run",
        f"{promoted - start:.2f} s",
    )
    line(f"... + model card, {examples:,} examples", f"{done - start:.2f} s", "target < 2 s")


def bundle_figures(spans: int = 100_000) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        db, fresh, out = Path(tmp) / "a.duckdb", Path(tmp) / "b.duckdb", Path(tmp) / "run.bundle"
        _synthetic_run(db, "bundlerun0000001", spans // 10, 10)
        start = time.perf_counter()
        export_bundle("bundlerun0000001", out, db=db)
        exported = time.perf_counter()
        summary = import_bundle(out, db=fresh)
        imported = time.perf_counter()
        size_mb = out.stat().st_size / 1e6
    line(
        f"bundle export of a run with {summary.rows['spans']:,} spans",
        f"{exported - start:.2f} s",
        f"{size_mb:.1f} MB file",
    )
    line("bundle import of it into an empty store", f"{imported - exported:.2f} s")


def run() -> None:
    registry_figures()
    bundle_figures()


if __name__ == "__main__":
    run()
