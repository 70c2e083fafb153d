"""Which cluster each trace falls in (conversation, then session, then user, then the trace),
and drift between an eval run and a production window ("is my eval set like my traffic?"),
on stores written by real traced processes."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pytest

from llmtrace import evals
from llmtrace.evals.production import Window
from tests.conftest import run_json, run_python

APP = """
import llmtrace
llmtrace.configure(db=DB, service_name="bot")

@llmtrace.workflow("handle")
def handle(i):
    if i % 4 == 0:
        raise RuntimeError("boom")

groups = [
    ({"conversation_id": "c1", "session_id": "s1", "user_id": "u1"}, 6),
    ({"session_id": "s2", "user_id": "u1"}, 4),
    ({"user_id": "u2"}, 3),
    ({}, 2),
]
i = 0
for stamps, count in groups:
    for _ in range(count):
        with llmtrace.context(**stamps):
            try:
                handle(i)
            except RuntimeError:
                pass
        i += 1
"""


def test_traces_cluster_by_conversation_then_session_then_user_then_trace(tmp_path: Path) -> None:
    db = tmp_path / "clusters.duckdb"
    start = datetime.now().astimezone()
    done = run_python(APP.replace("DB", repr(str(db))))
    assert done.returncode == 0, done.stderr
    window = Window(start, datetime.now().astimezone())
    result = evals.gate_traces(
        {"gates": [{"metric": "errors.rate", "max": 1.0}]}, window=window, db=db, store=False
    )
    assert result.clustered_by == (
        "conversation (6 traces), session (4 traces), user (3 traces), trace (2 traces)"
    )
    [errors] = result.gates
    assert errors.n == 1 + 1 + 1 + 2  # c1, s2, u2 and two lone traces
    assert errors.estimate == pytest.approx(4 / 15)  # per trace, not per cluster
    assert "clustered by conversation (6 traces)" in errors.reason


EVAL_RUN = """
import json
import llmtrace
from llmtrace import evals

llmtrace.configure(db=DB, service_name="bot")

@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(question):
    return {"usage": {"prompt_tokens": 10 + len(question), "completion_tokens": 5}}

def target(example):
    call(example.input)
    return "ok"

ds = evals.Dataset.from_records([{"input": "q" * n, "id": str(n)} for n in range(40)], name="d")
run = evals.Suite(name="s", dataset=ds, target=target, scorers=[evals.contains()]).run(
    model="gpt-4o-mini", db=DB, progress=False
)
print(json.dumps(run.id))
"""

TRAFFIC = """
import llmtrace
llmtrace.configure(db=DB, service_name="bot")

@llmtrace.llm(model=MODEL, provider="openai")
def call(question):
    return {"usage": {"prompt_tokens": 10 + len(question), "completion_tokens": 5}}

@llmtrace.workflow("handle")
def handle(question):
    call(question)

for n in range(40):
    handle("q" * (n * 3))
"""


def test_drift_compares_an_eval_run_with_a_production_window(tmp_path: Path) -> None:
    db = tmp_path / "evalset.duckdb"
    run_id = run_json(EVAL_RUN.replace("DB", repr(str(db))))
    start = datetime.now().astimezone()
    code = TRAFFIC.replace("DB", repr(str(db))).replace("MODEL", repr("gpt-4o"))
    done = run_python(code)
    assert done.returncode == 0, done.stderr
    window = Window(start, datetime.now().astimezone())
    result = evals.drift(run_id[:8], window, db=db, store=False)
    assert result.reference == f"run {run_id}"
    features = {f.feature: f for f in result.features}
    model = features["model"]
    assert model.bins.categories == ("gpt-4o-mini",)
    assert (model.reference_counts, model.current_counts) == ([40, 0], [0, 40])
    assert model.js == pytest.approx(1.0, abs=1e-4)  # no overlap at all: JS near its maximum
    tokens = features["input_tokens"]
    assert sum(tokens.reference_counts) == 40 and sum(tokens.current_counts) == 40
    assert tokens.psi is not None and tokens.psi > 0.5  # traffic prompts run three times longer
