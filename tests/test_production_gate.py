"""Production gates over windows of traces written by real traced processes (issue 17).

Three windows: a baseline, an unchanged window (same distributions, another seed) and one with a
planted regression (latency x5, error rate 2% -> 20%, guardrail blocks 5% -> 30%). The gate
fails exactly the planted rules and passes the unchanged window, through the Python API and the
CLI (exit codes, reports, stored rows with their window).
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from llmtrace import evals
from llmtrace.evals.production import Window
from tests.conftest import cli_in_process as cli
from tests.production_traffic import TrafficWindows, shared_traffic

PROD_YAML = """
confidence: 0.95
gates:
  - metric: latency.p50_ms
    max_increase_pct: 50
  - metric: latency.p95_ms
    max: 1000
  - metric: llm.latency.p95_ms
    max: 1000
  - metric: errors.rate
    max_rise: 0.08
  - metric: guardrail.pii.block_rate
    max_rise: 0.08
  - metric: cost.usd_per_trace
    max_increase_pct: 20
  - metric: tokens.per_trace
    max: 1000
    max_increase_pct: 20
  - metric: quality.helpful
    min: 0.5
    max_drop: 0.1
  - metric: safety.violation_rate
    max: 0.05
"""
PLANTED = {
    "latency.p50_ms vs baseline <= +50%",
    "errors.rate - baseline <= +0.08",
    "guardrail.pii.block_rate - baseline <= +0.08",
}


@pytest.fixture
def traffic(tmp_path_factory: pytest.TempPathFactory) -> TrafficWindows:
    return shared_traffic(tmp_path_factory)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "prod.yaml"
    path.write_text(PROD_YAML, encoding="utf-8")
    return path


def window(bounds: tuple[str, str]) -> Window:
    return Window(datetime.fromisoformat(bounds[0]), datetime.fromisoformat(bounds[1]))


def window_args(traffic: TrafficWindows, name: str) -> list[str]:
    start, end = getattr(traffic, name)
    base_start, base_end = traffic.baseline
    return [
        *("--since", start, "--until", end),
        *("--baseline-since", base_start, "--baseline-until", base_end),
    ]


def test_unchanged_window_passes_every_rule(traffic: TrafficWindows, config: Path) -> None:
    result = evals.gate_traces(
        config,
        window=window(traffic.unchanged),
        baseline=window(traffic.baseline),
        db=traffic.db,
        store=False,
    )
    assert [g.rule for g in result.gates if g.decision != "pass"] == []
    assert result.decision == "pass"
    assert result.clustered_by == "conversation (300 traces)"
    assert all(g.n == 150 for g in result.gates if not g.metric.startswith("guardrail"))


def test_regression_fails_exactly_the_planted_rules(traffic: TrafficWindows, config: Path) -> None:
    result = evals.gate_traces(
        config,
        window=window(traffic.regression),
        baseline=window(traffic.baseline),
        db=traffic.db,
        store=False,
    )
    assert {g.rule for g in result.gates if g.decision == "fail"} == PLANTED
    assert {g.rule for g in result.gates if g.decision == "warn"} == set()
    assert result.decision == "fail"
    errors = next(g for g in result.gates if g.metric == "errors.rate")
    assert errors.estimate is not None and 0.1 < errors.estimate < 0.3


def test_cli_gate_traces_exit_codes_reports_and_stored_window(
    traffic: TrafficWindows, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    reports = [tmp_path / "gate.json", tmp_path / "gate.xml", tmp_path / "gate.md"]
    args = ["gate", "--db", str(traffic.db), "--config", str(config), "--traces"]
    outputs = ["--json", str(reports[0]), "--junit", str(reports[1]), "--markdown", str(reports[2])]
    code, out, err = cli(capsys, *args, *window_args(traffic, "regression"), *outputs)
    assert code == 1, err
    assert err.strip() == "llmtrace: gate failed: 3 rules failed"
    assert "clustered by conversation (300 traces)" in out
    data = json.loads(reports[0].read_text())
    assert data["window"].endswith("Z") and data["clustered_by"] == "conversation (300 traces)"
    assert {g["rule"] for g in data["gates"] if g["decision"] == "fail"} == PLANTED
    assert reports[1].read_text().count("<failure") == 3
    assert "## llmtrace gate: ❌ fail" in reports[2].read_text()

    code, out, err = cli(capsys, *args, *window_args(traffic, "unchanged"))
    assert code == 0, err
    assert out.strip().endswith("decision: pass")

    conn = duckdb.connect(str(traffic.db), read_only=True)
    try:
        rows = conn.execute(
            "SELECT DISTINCT run_id, window_start IS NOT NULL, baseline_window_end IS NOT NULL, "
            "clustered_by FROM gate_results WHERE run_id LIKE 'traces %'"
        ).fetchall()
    finally:
        conn.close()
    assert len(rows) == 2
    assert all(row[1] and row[2] and row[3] == "conversation (300 traces)" for row in rows)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--since", "2x"], "--since '2x': not a time"),
        (["--since", "1h", "--where", "no_such_column = 1"], "--where 'no_such_column = 1'"),
        (["--since", "1h", "--where", "1 = 1; DROP TABLE spans"], "without ';'"),
        (["--since", "1d..2d"], "the window is empty"),
        (["--until", "1h"], "--until '1h' needs --since"),
        (["--since", "1h", "--candidate", "abc"], "drop --candidate"),
    ],
)
def test_bad_windows_and_where_exit_2_with_one_line(
    traffic: TrafficWindows,
    config: Path,
    capsys: pytest.CaptureFixture[str],
    extra: list[str],
    message: str,
) -> None:
    args = ["gate", "--db", str(traffic.db), "--config", str(config), "--traces", *extra]
    code, _out, err = cli(capsys, *args)
    assert code == 2
    assert len(err.strip().splitlines()) == 1 and message in err


def test_unknown_metric_and_empty_selection_exit_2(
    traffic: TrafficWindows, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("gates:\n  - metric: latency.p42ms\n    max: 1\n", encoding="utf-8")
    base = ["gate", "--db", str(traffic.db), "--traces", "--since", "1d"]
    code, _out, err = cli(capsys, *base, "--config", str(bad))
    assert code == 2 and "gates[0].metric: unknown metric 'latency.p42ms'" in err
    assert len(err.strip().splitlines()) == 1

    policy = tmp_path / "policy.yaml"
    policy.write_text("gates:\n  - metric: guardrail.toxic.block_rate\n    max: 0.1\n")
    code, _out, err = cli(capsys, *base, "--config", str(policy))
    assert code == 2 and "policies seen there: ['pii']" in err

    code, _out, err = cli(
        capsys, *base, "--config", str(policy), "--where", "service_name = 'other'"
    )
    assert code == 2 and "no traces in the window" in err and "service_name = 'other'" in err


def test_where_narrows_both_windows(traffic: TrafficWindows, config: Path) -> None:
    narrowed = evals.gate_traces(
        config,
        window=window(traffic.regression),
        baseline=window(traffic.baseline),
        where="guardrail_action = 'allow'",
        db=traffic.db,
        store=False,
    )
    blocks = next(g for g in narrowed.gates if g.metric == "guardrail.pii.block_rate")
    assert blocks.estimate == 0.0  # only traces whose check allowed are left
    assert narrowed.where == "guardrail_action = 'allow'"


def test_the_same_gate_runs_over_the_parquet_export(
    traffic: TrafficWindows, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "export"
    code, _out, err = cli(capsys, "export", "--db", str(traffic.db), "--parquet", str(folder))
    assert code == 0, err
    from_store = evals.gate_traces(
        config, window=window(traffic.regression), baseline=window(traffic.baseline),
        db=traffic.db, store=False,
    )  # fmt: skip
    report = tmp_path / "parquet.json"
    args = ["gate", "--db", str(folder), "--config", str(config), "--traces"]
    code, _out, err = cli(capsys, *args, *window_args(traffic, "regression"), "--json", str(report))
    assert code == 1, err
    from_parquet = json.loads(report.read_text())["gates"]
    assert [g["decision"] for g in from_parquet] == [g.decision for g in from_store.gates]
    for ours, theirs in zip(from_parquet, from_store.gates, strict=True):
        assert ours["estimate"] == pytest.approx(theirs.estimate, rel=1e-9, abs=1e-12)
