"""``evals.plan`` and ``llmtrace plan``: examples and epochs needed to detect a stated effect."""

from __future__ import annotations

import math
import subprocess
import sys
from statistics import NormalDist

import pytest

import llmtrace
from llmtrace import evals
from llmtrace.evals.plan import format_plan, plan
from tests.conftest import ROOT

N = 40
CLI = [sys.executable, "-m", "llmtrace", "plan"]
GATES = {
    "gates": [
        {"metric": "quality.exact_match", "min": 0.5, "max_drop": 0.02},
        {"metric": "latency.p95_ms", "max": 10_000},
        {"metric": "errors.rate", "max_increase_pct": 10},
    ]
}


@pytest.fixture(scope="module")
def baseline(tmp_path_factory):
    """A run whose answers are right on 3 of 4 examples, every epoch (no epoch noise)."""
    db = tmp_path_factory.mktemp("plan") / "plan.duckdb"
    handle = llmtrace.configure(service_name="plan-test", db=db)
    rows = [{"id": f"ex{i:03d}", "input": i, "expected": i} for i in range(N)]
    dataset = evals.Dataset.from_records(rows, name="qa")

    def target(example):
        return example.input if example.input % 4 else -1

    run = evals.Suite(name="qa", dataset=dataset, target=target, scorers=[evals.exact_match()])
    yield db, run.run(model="m", epochs=2, db=db).id
    handle.shutdown()


def test_plan_by_hand(baseline):
    db, run_id = baseline
    rows = plan(GATES, run_id, effect={"quality.exact_match": 0.05}, db=db)
    by_goal = {(r.rule, r.goal): r for r in rows}
    # absolute: p = 0.75, no epoch noise -> variance p(1-p) n/(n-1) between examples; a truth
    # 0.05 inside the bound needs (z_0.975 + z_0.8)^2 * variance / 0.05^2 examples, any epochs
    z = NormalDist().inv_cdf(0.975) + NormalDist().inv_cdf(0.8)
    absolute = by_goal[("quality.exact_match >= 0.5", "pass a truth 0.05 inside the bound")]
    assert (
        absolute.examples[1]
        == absolute.examples[5]
        == math.ceil(z * z * 0.1875 * N / (N - 1) / 0.0025)
    )
    # paired: no epoch noise -> the only limit is the exact bound on examples that changed
    fail = by_goal[("quality.exact_match - baseline >= -0.02", "fail a change of 0.05")]
    assert fail.examples[1] == math.ceil(math.log(0.025) / math.log(1 - 0.03))
    keep = by_goal[("quality.exact_match - baseline >= -0.02", "pass an unchanged candidate")]
    assert keep.examples[3] == math.ceil(math.log(0.025) / math.log(1 - 0.02))
    assert by_goal[("latency.p95_ms", "-")].note == "no effect stated for latency.p95_ms"
    assert by_goal[("errors.rate", "-")].examples == {}


def test_plan_percentiles_need_the_order_statistic_floor(baseline):
    db, run_id = baseline
    rows = plan(GATES, run_id, effect={"latency.p95_ms": 1e9}, db=db)
    [p95] = [r for r in rows if r.rule.startswith("latency.p95_ms <=")]
    assert set(p95.examples.values()) == {72}
    assert "percentiles count examples, not epochs" in p95.note


def test_plan_zero_baseline_relative_bound_says_so(baseline):
    db, run_id = baseline
    rows = plan(GATES, run_id, effect=5.0, db=db)
    [relative] = [r for r in rows if r.rule.startswith("errors.rate vs baseline")]
    assert relative.examples == {} and "the baseline is 0" in relative.note
    text = format_plan(rows)
    header = ["rule", "goal", "1", "epoch", "2", "epochs", "3", "epochs", "5", "epochs"]
    assert text.splitlines()[0].split() == header


def test_plan_rejects_a_nonpositive_effect(baseline):
    db, run_id = baseline
    with pytest.raises(ValueError, match="effect must be above 0"):
        plan(GATES, run_id, effect=0.0, db=db)


def test_cli_plan(baseline, tmp_path):
    db, run_id = baseline
    config = tmp_path / "gates.yaml"
    config.write_text(
        "gates:\n  - {metric: quality.exact_match, min: 0.5, max_drop: 0.02}\n"
        "  - {metric: latency.p95_ms, max: 10000}\n"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmtrace",
            "plan",
            "--db",
            str(db),
            "--config",
            str(config),
            "--baseline",
            run_id,
            "--effect",
            "quality.exact_match=0.05",
            "--effect",
            "latency.p95_ms=100",
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"plan: examples needed per gate bound (baseline {run_id}")
    assert "quality.exact_match - baseline >= -0.02  fail a change of 0.05" in done.stdout
    bad = subprocess.run(
        [*CLI, "--db", str(db), "--config", str(config), "--baseline", run_id, "--effect", "x"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert bad.returncode == 2 and "give a number (every rule) or METRIC=NUMBER" in bad.stderr
    assert "Traceback" not in bad.stderr
