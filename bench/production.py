"""Production gates and drift (issue 17): ``gate --traces`` over 1M and 10M spans (targets
p95 < 1 s and < 5 s) and ``drift`` over 10M spans with its features (target < 3 s).

The store is written with SQL (4 spans a trace: workflow root, guardrail, two LLM calls; three
traces a conversation; eight days), so the figures are the gate's and drift's alone.
Run: ``python -m bench.production [--quick]`` (--quick: 1M spans only).
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

from llmtrace import evals
from llmtrace.store.connection import connect_write

from .common import line

NOW = datetime(2026, 11, 29, tzinfo=timezone.utc)
GATES = {
    "gates": [
        {"metric": "latency.p95_ms", "max": 1000, "max_increase_pct": 20},
        {"metric": "llm.latency.p95_ms", "max": 1000},
        {"metric": "errors.rate", "max_rise": 0.02},
        {"metric": "cost.usd_per_trace", "max_increase_pct": 10},
        {"metric": "guardrail.pii.block_rate", "max_rise": 0.02},
    ]
}
EIGHT_DAYS_US = 8 * 86_400_000_000


def _store(db: Path, spans: int) -> None:
    traces = spans // 4
    conn = connect_write(db)
    try:
        conn.execute(f"""
INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, status, start_time, end_time,
  duration_ms, service_name, model, input_tokens, output_tokens, cost_usd, guardrail_policy,
  guardrail_action, attributes)
SELECT printf('%032x', i), printf('%016x', i * 4 + k),
  CASE WHEN k = 0 THEN NULL ELSE printf('%016x', i * 4) END,
  CASE k WHEN 0 THEN 'invoke_workflow handle' WHEN 1 THEN 'guardrail pii' ELSE 'chat m' END,
  CASE k WHEN 0 THEN 'workflow' WHEN 1 THEN 'guardrail' ELSE 'llm' END,
  CASE WHEN k = 0 AND random() < 0.02 THEN 'ERROR' ELSE 'UNSET' END,
  TIMESTAMPTZ '2026-11-21 00:00:00+00' + to_microseconds((i * {EIGHT_DAYS_US} // {traces})::BIGINT),
  TIMESTAMPTZ '2026-11-21 00:00:00+00' + to_microseconds((i * {EIGHT_DAYS_US} // {traces})::BIGINT
    + 1000),
  CASE WHEN k = 0 THEN 100 + random() * 900 ELSE 50 + random() * 100 END,
  'bot', CASE WHEN k >= 2 THEN 'gpt-4o-mini' END, CASE WHEN k >= 2 THEN 80 + (i % 40) END,
  CASE WHEN k >= 2 THEN 30 END, CASE WHEN k >= 2 THEN 0.0001 + (i % 7) * 1e-6 END,
  CASE WHEN k = 1 THEN 'pii' END,
  CASE WHEN k = 1 THEN (CASE WHEN random() < 0.05 THEN 'block' ELSE 'allow' END) END,
  {{'gen_ai.conversation.id': printf('c%d', i // 3)}}::VARIANT
FROM range({traces}) r(i), range(4) s(k)
""")
    finally:
        conn.close()


def _p95(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]


def _figures(spans: int, target_gate_s: float, drift_target_s: float | None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "production.duckdb"
        _store(db, spans)

        def gate() -> None:
            evals.gate_traces(GATES, window="24h", baseline="8d..1d", db=db, now=NOW, store=False)

        label = f"{spans / 1e6:g}M spans"
        seconds = _p95(gate, 5)
        line(f"gate --traces 24h vs 8d..1d, {label} (p95 of 5)", f"{seconds:.2f} s",
             f"target < {target_gate_s:g} s")  # fmt: skip
        if drift_target_s is not None:

            def drift() -> None:
                evals.drift("8d..1d", "24h", db=db, now=NOW, store=False)

            seconds = _p95(drift, 3)
            line(f"drift 8d..1d vs 24h, {label}, 9 features (p95 of 3)", f"{seconds:.2f} s",
                 f"target < {drift_target_s:g} s")  # fmt: skip


def run(with_ten_million: bool = True) -> None:
    print("production gates and drift (issue 17)")
    _figures(1_000_000, 1.0, 3.0 if not with_ten_million else None)
    if with_ten_million:
        _figures(10_000_000, 5.0, 3.0)


if __name__ == "__main__":
    run(with_ten_million="--quick" not in sys.argv)
