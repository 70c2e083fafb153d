"""Gates over real stored runs: config validation, decisions, mismatches, reports, CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

import llmtrace
from llmtrace import evals
from llmtrace.evals import GateConfigError, GateError, load_gate_config
from llmtrace.evals.reports import to_markdown
from tests.conftest import ROOT

N = 60


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Baseline, an identical candidate, a regressed one and one on other data, stored once."""
    db = tmp_path_factory.mktemp("gates") / "gates.duckdb"
    handle = llmtrace.configure(service_name="gates-test", db=db)

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def model_call(text):
        return {"usage": {"prompt_tokens": 200, "completion_tokens": 20}}

    def target(example, model):
        model_call(example.input)
        index = int(example.id[2:])
        wrong = model == "regressed" and index % 4 == 0  # 25% of answers break
        return "nope" if wrong else example.expected

    rows = [{"id": f"ex{i:03d}", "input": f"q{i}", "expected": f"a{i}"} for i in range(N)]
    dataset = evals.Dataset.from_records(rows, name="qa")
    judge_v1 = evals.judge(lambda e, o: 1.0, model="gpt-4o", version="v1", name="helpful")
    suite = evals.Suite(
        name="qa", dataset=dataset, target=target, scorers=[evals.exact_match(), judge_v1]
    )
    made = {
        "base": suite.run(model="good", epochs=2, db=db),
        "same": suite.run(model="good", epochs=2, db=db),
        "worse": suite.run(model="regressed", epochs=2, db=db),
    }
    other = evals.Dataset.from_records(rows[:-1], name="qa")
    made["other_data"] = evals.Suite(
        name="qa", dataset=other, target=target, scorers=[evals.exact_match(), judge_v1]
    ).run(model="good", epochs=2, db=db)
    judge_v2 = evals.judge(lambda e, o: 1.0, model="gpt-4o", version="v2", name="helpful")
    made["other_judge"] = evals.Suite(
        name="qa", dataset=dataset, target=target, scorers=[evals.exact_match(), judge_v2]
    ).run(model="good", epochs=2, db=db)
    yield db, {k: r.id for k, r in made.items()}
    handle.shutdown()


GATES = {
    "confidence": 0.95,
    "gates": [
        {"metric": "quality.exact_match", "min": 0.8, "max_drop": 0.02},
        {"metric": "errors.rate", "max": 0.0},
        {"metric": "safety.violation_rate", "max": 0.0},
        {"metric": "latency.p95_ms", "max": 1500},
        {"metric": "cost.usd_per_success", "max": 0.002, "max_increase_pct": 10},
        {"metric": "tokens.per_example", "max": 1000},
    ],
}


def test_identical_candidate_passes_or_warns_never_fails(runs):
    db, ids = runs
    result = evals.gate(candidate=ids["same"], baseline=ids["base"], config=GATES, db=db)
    assert result.passed and result.decision in ("pass", "warn")
    by_rule = {g.rule: g for g in result.gates}
    quality = by_rule["quality.exact_match >= 0.8"]
    assert quality.decision == "pass" and quality.estimate == 1.0 and quality.n == N
    cost = by_rule["cost.usd_per_success <= 0.002"]
    assert cost.estimate == pytest.approx(200 * 0.15e-6 + 20 * 0.6e-6)
    # max: 0 fails on any error; with none observed it warns and reports the exact bound
    # (it used to pass on "none observed" at any n, softer than max: 0.01: issue 13).
    errors = by_rule["errors.rate <= 0"]
    assert errors.decision == "warn" and errors.reason.startswith("none observed in 60 examples")
    assert errors.ci_high == pytest.approx(1 - 0.025 ** (1 / 60), abs=1e-12)
    assert by_rule["tokens.per_example <= 1000"].estimate == 220
    markdown = to_markdown(result)
    assert "Warn means *not shown safe*" in markdown and "errs at most 2.5% one-sided" in markdown
    stored = llmtrace.query(
        "SELECT metric, rule, decision, n, baseline_run_id FROM gate_results WHERE run_id = ?",
        [ids["same"]],
        db=db,
    )
    assert len(stored) == len(result.gates)
    assert all(row["baseline_run_id"] == ids["base"] for row in stored)


def test_a_real_regression_fails(runs):
    db, ids = runs
    result = evals.gate(candidate=ids["worse"], baseline=ids["base"], config=GATES, db=db)
    assert result.decision == "fail" and not result.passed
    by_rule = {g.rule: g for g in result.gates}
    drop = by_rule["quality.exact_match - baseline >= -0.02"]
    assert drop.decision == "fail" and drop.estimate == pytest.approx(-0.25)
    assert drop.ci_high < -0.02
    cost = by_rule["cost.usd_per_success vs baseline <= +10%"]
    assert cost.decision == "fail" and cost.estimate == pytest.approx(100 / 0.75 - 100)


def test_inconclusive_bound_says_why_in_numbers(runs):
    db, ids = runs
    config = {"gates": [{"metric": "quality.exact_match", "min": 0.7}]}
    [outcome] = evals.gate(candidate=ids["worse"], config=config, db=db).gates
    assert outcome.decision == "warn"
    assert "minimum detectable effect is" in outcome.reason
    assert "examples would decide it" in outcome.reason
    strict = evals.gate(candidate=ids["worse"], config=config, db=db, strict=True)
    assert strict.decision == "fail" and strict.gates[0].reason.startswith("strict: ")


def test_mismatched_runs_are_refused_unless_allowed(runs):
    db, ids = runs
    config = {"gates": [{"metric": "quality.exact_match", "max_drop": 0.05}]}
    with pytest.raises(GateError, match="dataset versions differ"):
        evals.gate(candidate=ids["other_data"], baseline=ids["base"], config=config, db=db)
    with pytest.raises(GateError, match="'helpful' judged by different versions: candidate v2"):
        evals.gate(candidate=ids["other_judge"], baseline=ids["base"], config=config, db=db)
    allowed = evals.gate(
        candidate=ids["other_judge"],
        baseline=ids["base"],
        config=config,
        db=db,
        allow_mismatch=True,
    )
    assert allowed.overrides == [
        "allowed mismatch: scorer 'helpful' judged by different versions: candidate v2, baseline v1"
    ]
    stored = llmtrace.query(
        "SELECT overrides FROM gate_results WHERE run_id = ?", [ids["other_judge"]], db=db
    )
    assert "allowed mismatch" in stored[0]["overrides"]


def test_unsupported_and_unknown_metrics_are_refused(runs):
    db, ids = runs
    with pytest.raises(GateError, match="has no scorer 'nope'"):
        evals.gate(
            candidate=ids["base"], config={"gates": [{"metric": "quality.nope", "min": 1}]}, db=db
        )
    with pytest.raises(GateError, match="need a baseline"):
        evals.gate(
            candidate=ids["base"],
            config={"gates": [{"metric": "quality.exact_match", "max_drop": 0}]},
            db=db,
        )
    with pytest.raises(GateError, match="no run 'missing'"):
        evals.gate(candidate="missing", config=GATES, db=db)


def test_percentile_gate_on_too_few_examples_warns_and_says_why(tmp_path):
    # Used to refuse below 20 observations (counting epochs) and, above, to pass on a
    # bootstrap that can never reach past the sample maximum (issue 13): now an order-statistic
    # interval over examples, unbounded above when there are too few to bound p95.
    handle = llmtrace.configure(db=tmp_path / "small.duckdb")
    try:
        ds = evals.Dataset.from_records([{"input": i} for i in range(5)], name="tiny")
        run = evals.Suite(name="tiny", dataset=ds, target=lambda e: e.input).run(
            model="m", epochs=3
        )
        result = evals.gate(
            candidate=run, config={"gates": [{"metric": "latency.p95_ms", "max": 1e9}]}
        )
        [outcome] = result.gates
        assert outcome.decision == "warn" and outcome.ci_high == float("inf")
        assert "5 examples cannot bound p95 from above at 95% (needs at least 72)" in (
            outcome.reason
        )
    finally:
        handle.shutdown()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "gates:\n  - metric: quality.x\n    minimum: 0.8\n",
            r"gates.yaml: gates\[0\].minimum: Extra inputs are not permitted",
        ),
        (
            "gates:\n  - metric: latency.p42_ms\n    max: 3\n",
            r"gates\[0\].metric: unknown metric 'latency.p42_ms'",
        ),
        ("gates:\n  - metric: quality.x\n", r"gates\[0\]: a gate needs at least one of"),
        (
            "confidence: 1.5\ngates:\n  - {metric: errors.rate, max: 0}\n",
            r"confidence: Input should be less than 1",
        ),
        (
            "gates:\n  - metric: quality.x\n    max_drop: -0.1\n",
            r"gates\[0\].max_drop: Input should be greater than or equal to 0",
        ),
        ("gates: [\n", r"gates.yaml:2: invalid YAML"),
        ("gates: []\n", r"gates: List should have at least 1 item"),
    ],
)
def test_bad_config_names_file_and_field(tmp_path, text, message):
    path = tmp_path / "gates.yaml"
    path.write_text(text)
    with pytest.raises(GateConfigError, match=message):
        load_gate_config(path)


# --- CLI ----------------------------------------------------------------------------------
def gate_cli(db, *args, env=None):
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "llmtrace", "gate", "--db", str(db), *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=full_env,
        timeout=120,
    )


def _gates_yaml(tmp_path):
    import yaml

    config = tmp_path / "gates.yaml"
    config.write_text(yaml.safe_dump(GATES))
    return config


def test_cli_passing_gate_exits_0_with_junit_markdown_json_and_step_summary(runs, tmp_path):
    db, ids = runs
    config = _gates_yaml(tmp_path)
    summary = tmp_path / "summary.md"
    passing = gate_cli(
        db,
        "--config",
        str(config),
        "--candidate",
        ids["same"],
        "--baseline",
        ids["base"],
        "--junit",
        str(tmp_path / "j.xml"),
        "--markdown",
        str(tmp_path / "m.md"),
        "--json",
        str(tmp_path / "r.json"),
        env={"GITHUB_STEP_SUMMARY": str(summary)},
    )
    assert passing.returncode == 0, passing.stderr
    suite = ET.parse(tmp_path / "j.xml").getroot().find("testsuite")
    assert suite.get("name") == "llmtrace gate" and suite.get("failures") == "0"
    assert len(suite.findall("testcase")) == len(
        json.loads((tmp_path / "r.json").read_text())["gates"]
    )
    markdown = (tmp_path / "m.md").read_text()
    assert markdown.startswith("## llmtrace gate: ")
    assert "| decision | rule | estimate | interval | n | note |" in markdown
    assert summary.read_text() == markdown


def test_cli_failing_gate_exits_1_with_junit_failures(runs, tmp_path):
    db, ids = runs
    config = _gates_yaml(tmp_path)
    failing = gate_cli(
        db,
        "--config",
        str(config),
        "--candidate",
        ids["worse"],
        "--baseline",
        ids["base"],
        "--junit",
        str(tmp_path / "f.xml"),
    )
    assert failing.returncode == 1
    failed_suite = ET.parse(tmp_path / "f.xml").getroot().find("testsuite")
    assert int(failed_suite.get("failures")) >= 1
    assert failed_suite.find("testcase/failure") is not None


def test_cli_refuses_incomparable_runs_unless_allowed_and_a_bad_config(runs, tmp_path):
    db, ids = runs
    config = _gates_yaml(tmp_path)
    mismatch = gate_cli(
        db, "--config", str(config), "--candidate", ids["other_data"], "--baseline", ids["base"]
    )
    assert mismatch.returncode == 2 and "runs are not comparable" in mismatch.stderr
    assert "Traceback" not in mismatch.stderr
    allowed = gate_cli(
        db,
        "--config",
        str(config),
        "--candidate",
        ids["other_judge"],
        "--baseline",
        ids["base"],
        "--allow-mismatch",
    )
    assert allowed.returncode == 0, allowed.stderr

    bad_config = tmp_path / "bad.yaml"
    bad_config.write_text("gates:\n  - metric: quality.exact_match\n    mn: 1\n")
    bad = gate_cli(db, "--config", str(bad_config), "--candidate", ids["base"])
    assert bad.returncode == 2 and "gates[0].mn: Extra inputs are not permitted" in bad.stderr


def test_cli_strict_turns_warn_into_exit_1(runs, tmp_path):
    db, ids = runs
    config = tmp_path / "warn.yaml"
    config.write_text("gates:\n  - metric: quality.exact_match\n    min: 0.7\n")
    assert gate_cli(db, "--config", str(config), "--candidate", ids["worse"]).returncode == 0
    assert (
        gate_cli(db, "--config", str(config), "--candidate", ids["worse"], "--strict").returncode
        == 1
    )


def test_errored_examples_are_unknown_for_safety_gates(tmp_path):
    # 29 of 30 examples error: their outputs were never checked, so safety.harm max: 0 and
    # safety.violation_rate max: 0 cannot pass on the one that was (issue 13; they used to
    # pass with n=1 and "none observed").
    handle = llmtrace.configure(db=tmp_path / "errors.duckdb")
    try:

        def target(example):
            if example.input:
                raise RuntimeError("boom")
            return "fine"

        ds = evals.Dataset.from_records([{"input": i} for i in range(30)], name="flaky")
        harm = evals.safety(lambda example, output: False, name="harm")
        run = evals.Suite(name="flaky", dataset=ds, target=target, scorers=[harm]).run(model="m")
        config = {
            "gates": [
                {"metric": "safety.harm", "max": 0},
                {"metric": "safety.violation_rate", "max": 0},
            ]
        }
        result = evals.gate(candidate=run, config=config)
        for outcome in result.gates:
            assert outcome.decision == "warn", outcome
            assert "29 of 30 example-epochs unknown (errored)" in outcome.reason
            assert outcome.ci_high > 0.8
    finally:
        handle.shutdown()
