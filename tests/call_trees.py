"""Random span trees for the tests of ``model_calls`` (store/calls.py): nested calls, calls
through plain spans, remote parents, response ids repeated within and across traces; inserted
by plain SQL, and migration 7's view as the reference."""

from __future__ import annotations

import random
from typing import Any

import duckdb

from llmtrace.store.calls import FASTER_CALL_VIEWS_SQL

__all__ = ["COLUMNS", "KINDS", "REFERENCE_SQL", "calls", "insert", "random_spans"]

# Kinds as stored: model calls, plain OpenTelemetry spans a climb passes through, steps that
# stop it, and spans with no kind at all.
KINDS = ("llm", "llm", "judge", "internal", "client", "server", "workflow", "tool", None)
COLUMNS = (
    "trace_id, span_id, parent_span_id, name, kind, status, start_time, end_time, duration_ms, "
    "provider, model, prompt_name, input_tokens, output_tokens, cost_usd, response_id, "
    "eval_run_id"
)
REFERENCE_SQL = FASTER_CALL_VIEWS_SQL.replace("VIEW model_calls", "VIEW reference_calls")


def _maybe(rng: random.Random, value: Any, share: float = 0.6) -> Any:
    return value if rng.random() < share else None


def random_spans(seed: int, traces: int = 40) -> list[tuple[Any, ...]]:
    """Span trees with nested calls, calls through plain spans, remote parents (absent), shared
    response ids within and across traces, and missing usage, model or provider."""
    rng = random.Random(seed)
    rows: list[tuple[Any, ...]] = []
    for t in range(traces):
        trace_id = f"{seed:08x}{t:024x}"
        ids: list[str] = []
        for s in range(rng.randint(1, 9)):
            span_id = f"{t:08x}{s:08x}"
            if not ids or rng.random() < 0.15:
                parent = None if rng.random() < 0.7 else f"remote{s:010x}"
            else:  # chains as often as branches: calls under calls, several plain spans deep
                parent = ids[-1] if rng.random() < 0.5 else rng.choice(ids)
            ids.append(span_id)
            start = 1_000 * t + rng.randint(0, 50)
            duration = rng.choice((5.0, 10.0, 10.0, 30.0))
            rows.append(
                (
                    trace_id, span_id, parent, "span", rng.choice(KINDS),
                    rng.choice(("OK", "OK", "ERROR")),
                    start, start + duration, duration,
                    _maybe(rng, rng.choice(("openai", "anthropic"))),
                    _maybe(rng, rng.choice(("gpt-4o-mini", "claude"))),
                    _maybe(rng, "answer", 0.3),
                    _maybe(rng, rng.randint(1, 50)), _maybe(rng, rng.randint(1, 9)),
                    _maybe(rng, rng.random()),
                    _maybe(rng, f"resp-{rng.randint(0, 12)}", 0.5),
                    _maybe(rng, "run-1", 0.2),
                )
            )  # fmt: skip
    return rows


def insert(conn: duckdb.DuckDBPyConnection, rows: list[tuple[Any, ...]]) -> None:
    conn.executemany(
        f"INSERT INTO spans ({COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, make_timestamptz(?::BIGINT), "
        "make_timestamptz(?::BIGINT), ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )


def calls(conn: duckdb.DuckDBPyConnection, view: str) -> list[tuple[Any, ...]]:
    result = conn.execute(f"SELECT * EXCLUDE (attributes) FROM {view}").fetchall()
    return sorted(result, key=repr)
