"""Production traffic for the production-gate, drift and score tests: real traced processes.

``traffic_store`` runs one subprocess per window (each ``llmtrace.configure(db=...)``), so the
store holds what an application would leave: a baseline window, an unchanged window (same
distributions, another seed) and a window with a planted regression (latency x5, error rate
and guardrail blocks up). Each window is the wall-clock interval its process ran in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import pytest

from tests.conftest import run_python

APP = """
import random, sys, time
import llmtrace
from opentelemetry import trace
from llmtrace import semconv as sc

db, mode, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
llmtrace.configure(db=db, service_name="support-bot", capture_content=mode != "nocapture")
rng = random.Random(seed)
regress = mode == "regression"
slow = 5.0 if regress else 1.0  # x5: sleep overshoot on a loaded machine blurs x3
p_error = 0.20 if regress else 0.02
p_block = 0.30 if regress else 0.05

@llmtrace.guardrail(policy="pii", version="3")
def check(question, blocked):
    return llmtrace.Decision(action="block" if blocked else "allow", score=0.5)

@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call_model(question, tokens_in, tokens_out):
    return {"usage": {"prompt_tokens": tokens_in, "completion_tokens": tokens_out},
            "choices": [{"message": {"role": "assistant", "content": "ok " + question}}]}

@llmtrace.workflow("handle_ticket")
def handle(question, r):
    check(question, r["block"])
    call_model(question, r["tokens_in"], r["tokens_out"])
    time.sleep(r["sleep_s"])
    span = trace.get_current_span()
    span.add_event(sc.GEN_AI_EVALUATION_RESULT_EVENT, {
        sc.GEN_AI_EVALUATION_NAME: "helpful", sc.GEN_AI_EVALUATION_SCORE_VALUE: r["helpful"]})
    span.add_event(sc.GEN_AI_EVALUATION_RESULT_EVENT, {
        sc.GEN_AI_EVALUATION_NAME: "pii_leak", sc.GEN_AI_EVALUATION_SCORE_VALUE: 0.0,
        sc.EVALUATION_KIND: "safety"})
    if r["error"]:
        raise RuntimeError("upstream timeout")
    return "answer"

for i in range(count):
    r = {
        "block": rng.random() < p_block,
        "error": rng.random() < p_error,
        "tokens_in": rng.randint(80, 120),
        "tokens_out": rng.randint(20, 40),
        "sleep_s": 0.004 * (1.0 + rng.random()) * slow,
        "helpful": rng.choice([0.6, 0.8, 1.0]),
    }
    with llmtrace.context(conversation_id=f"{mode}-{seed}-c{i // 2}", user_id=f"u{i % 7}"):
        try:
            handle(f"question {i}", r)
        except RuntimeError:
            pass
"""


@dataclass(frozen=True)
class TrafficWindows:
    """The store and the ISO bounds of each window's traffic."""

    db: Path
    baseline: tuple[str, str]
    unchanged: tuple[str, str]
    regression: tuple[str, str]


def _now() -> str:
    return datetime.now(timezone.utc).isoformat()


def run_traffic(db: Path, mode: str, seed: int, count: int) -> tuple[str, str]:
    """One traced process; returns the ISO interval it ran in."""
    start = _now()
    time.sleep(0.01)
    done = run_python(
        APP.replace(
            "sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])",
            f"{str(db)!r}, {mode!r}, {seed}, {count}",
        )
    )
    assert done.returncode == 0, done.stderr
    time.sleep(0.01)
    return start, _now()


def traffic_store(db: Path, count: int = 300) -> TrafficWindows:
    """Three windows of ``count`` traces each in ``db``."""
    baseline = run_traffic(db, "baseline", 1, count)
    unchanged = run_traffic(db, "unchanged", 2, count)
    regression = run_traffic(db, "regression", 3, count)
    return TrafficWindows(db, baseline, unchanged, regression)


_shared: list[TrafficWindows] = []


def shared_traffic(factory: pytest.TempPathFactory) -> TrafficWindows:
    """The three windows, written once per test session and shared by the test modules."""
    if not _shared:
        _shared.append(traffic_store(factory.mktemp("production") / "prod.duckdb"))
    return _shared[0]
