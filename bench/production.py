"""Production gates and drift (issue 17): ``gate --traces`` over 1M and 10M spans (targets
p95 < 1 s and < 5 s) and ``drift`` over 10M spans with its ten features (target < 3 s).

The store is written with SQL, so the figures are the gate's and drift's alone: five spans a
trace (workflow root, guardrail, two LLM calls under the root, a tool), three traces a
conversation, eight days; calls carry a provider and a response id, spans their integer trace
keys (store/keys.py), as stores written by traced processes do. Every feature drift reads has
values: tokens in and out, root latency, cost, a score (an evaluation event on one root in ten),
model, prompt version, finish reasons, tool name and guardrail action.

Run: ``python -m bench.production [--quick] [--cache DIR] [--only gate|drift]`` (--quick: 1M
spans only; --cache: keep the stores in DIR and reuse them, building the 10M store takes
minutes; --only: one section, repeatable: drift alone builds or opens the largest store only).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

from llmtrace import evals
from llmtrace import semconv as sc
from llmtrace.store.connection import connect_write
from llmtrace.store.keys import KEY_COLUMNS, key_values_sql

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
SPANS_A_TRACE = 5
# Bumped whenever _store writes something else, so a cached store of another shape is rebuilt.
# 3: calls have a provider and a response id, as real ones do (model_calls then checks 4M ids
# for repeats), and the spans their integer trace keys, as the batch insert fills them.
SHAPE = 3
FEATURES = 10
SECTIONS = ("gate", "drift")
_EVENTS = (
    f'[{{"name": "{sc.GEN_AI_EVALUATION_RESULT_EVENT}", "attributes": '
    f'{{"{sc.GEN_AI_EVALUATION_NAME}": "helpfulness", '
    f'"{sc.GEN_AI_EVALUATION_SCORE_VALUE}": '
)


def _store(db: Path, spans: int) -> None:
    traces = spans // SPANS_A_TRACE
    start = f"TIMESTAMPTZ '2026-11-21 00:00:00+00' + to_microseconds((i * {EIGHT_DAYS_US} // {traces})::BIGINT)"  # noqa: E501
    conn = connect_write(db)
    try:
        conn.execute(f"""
INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, status, start_time, end_time,
  duration_ms, service_name, model, prompt_version, tool_name, input_tokens, output_tokens,
  cost_usd, guardrail_policy, guardrail_action, attributes, events, provider, response_id,
  {", ".join(KEY_COLUMNS)})
SELECT *, {key_values_sql()} FROM (
SELECT printf('%032x', i) AS trace_id, printf('%016x', i * {SPANS_A_TRACE} + k) AS span_id,
  CASE WHEN k = 0 THEN NULL ELSE printf('%016x', i * {SPANS_A_TRACE}) END AS parent_span_id,
  CASE k WHEN 0 THEN 'invoke_workflow handle' WHEN 1 THEN 'guardrail pii'
    WHEN 4 THEN 'execute_tool search' ELSE 'chat m' END,
  CASE k WHEN 0 THEN 'workflow' WHEN 1 THEN 'guardrail' WHEN 4 THEN 'tool' ELSE 'llm' END,
  CASE WHEN k = 0 AND random() < 0.02 THEN 'ERROR' ELSE 'UNSET' END,
  {start}, {start} + INTERVAL 1 MILLISECOND,
  CASE WHEN k = 0 THEN 100 + random() * 900 ELSE 50 + random() * 100 END,
  'bot',
  CASE WHEN k IN (2, 3) THEN (CASE WHEN i % 10 = 0 THEN 'gpt-4o' ELSE 'gpt-4o-mini' END) END,
  CASE WHEN k IN (2, 3) THEN 'v' || (i % 3) END,
  CASE WHEN k = 4 THEN (CASE WHEN i % 4 = 0 THEN 'lookup' ELSE 'search' END) END,
  CASE WHEN k IN (2, 3) THEN 80 + (i % 40) END,
  CASE WHEN k IN (2, 3) THEN 30 + (i % 17) END,
  CASE WHEN k IN (2, 3) THEN 0.0001 + (i % 7) * 1e-6 END,
  CASE WHEN k = 1 THEN 'pii' END,
  CASE WHEN k = 1 THEN (CASE WHEN random() < 0.05 THEN 'block' ELSE 'allow' END) END,
  CASE WHEN k IN (2, 3) THEN {{
      'gen_ai.conversation.id': printf('c%d', i // 3),
      '{sc.GEN_AI_RESPONSE_FINISH_REASONS}': [CASE WHEN i % 20 = 0 THEN 'length' ELSE 'stop' END]
    }}::VARIANT
    ELSE {{'gen_ai.conversation.id': printf('c%d', i // 3)}}::VARIANT END,
  CASE WHEN k = 0 AND i % 10 = 0
    THEN '{_EVENTS}' || round(random(), 3) || '}}}}]' END,
  CASE WHEN k IN (2, 3) THEN 'openai' END,
  CASE WHEN k IN (2, 3) THEN printf('chatcmpl-%016x', i * {SPANS_A_TRACE} + k) END
FROM range({traces}) r(i), range({SPANS_A_TRACE}) s(k)
)
""")
    finally:
        conn.close()


def store_path(spans: int, cache: Path | None, scratch: Path) -> Path:
    """A store of ``spans`` spans: kept in ``cache`` (and reused) when given. A reused store is
    opened for writing once, so migrations added since it was built are applied."""
    folder = cache if cache is not None else scratch
    db = folder / f"production-{spans}-shape{SHAPE}.duckdb"
    if db.exists():
        connect_write(db).close()
        return db
    folder.mkdir(parents=True, exist_ok=True)
    partial = db.with_name(db.name + ".building")
    partial.unlink(missing_ok=True)
    _store(partial, spans)
    partial.rename(db)
    return db


def _p95(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """The p95 of the wall times, and the median CPU time of the process (every DuckDB thread
    included): on a shared machine the wall time is mostly the neighbours', the CPU time not."""
    times, cpus = [], []
    for _ in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpus.append(time.process_time() - cpu)
    p95 = statistics.quantiles(times, n=20)[-1] if len(times) >= 2 else times[0]
    return p95, statistics.median(cpus)


def _figures(
    db: Path,
    spans: int,
    target_gate_s: float,
    drift_target_s: float | None,
    sections: tuple[str, ...] = SECTIONS,
) -> None:
    def gate() -> None:
        evals.gate_traces(GATES, window="24h", baseline="8d..1d", db=db, now=NOW, store=False)

    label = f"{spans / 1e6:g}M spans"
    if "gate" in sections:
        seconds, cpu = _p95(gate, 5)
        line(f"gate --traces 24h vs 8d..1d, {label} (p95 of 5)", f"{seconds:.2f} s",
             f"target < {target_gate_s:g} s; CPU {cpu:.2f} s")  # fmt: skip
    if drift_target_s is None or "drift" not in sections:
        return
    result = evals.drift("8d..1d", "24h", db=db, now=NOW, store=False)
    measured = [f.feature for f in result.features if f.psi is not None]
    if len(measured) != FEATURES:
        raise RuntimeError(f"drift measured {len(measured)} features, not {FEATURES}: {measured}")

    def drift() -> None:
        evals.drift("8d..1d", "24h", db=db, now=NOW, store=False)

    seconds, cpu = _p95(drift, 3)
    line(f"drift 8d..1d vs 24h, {label}, {FEATURES} features (p95 of 3)", f"{seconds:.2f} s",
         f"target < {drift_target_s:g} s; CPU {cpu:.2f} s")  # fmt: skip


def run(
    with_ten_million: bool = True,
    cache: Path | None = None,
    sections: tuple[str, ...] = SECTIONS,
) -> None:
    """The figures of ``sections`` (``gate``, ``drift``; drift runs over the largest store)."""
    print("production gates and drift (issue 17)")
    with tempfile.TemporaryDirectory() as scratch:
        sizes = [1_000_000, 10_000_000] if with_ten_million else [1_000_000]
        if "gate" not in sections:
            sizes = sizes[-1:]
        for spans in sizes:
            db = store_path(spans, cache, Path(scratch))
            drift_target = 3.0 if spans == sizes[-1] else None
            _figures(db, spans, 1.0 if spans == 1_000_000 else 5.0, drift_target, sections)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.production", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="1M spans only")
    parser.add_argument(
        "--cache", type=Path, help="keep the stores in this folder and reuse them between runs"
    )
    parser.add_argument(
        "--only", choices=SECTIONS, action="append", help="run only this section (repeatable)"
    )
    args = parser.parse_args(argv)
    run(with_ten_million=not args.quick, cache=args.cache, sections=tuple(args.only or SECTIONS))


if __name__ == "__main__":
    main()
