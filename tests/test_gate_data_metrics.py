"""data.* rules are gate metrics: evals.gate and llmtrace gate decide them on the run's recorded
data checks and store them with the other gate rows."""

from __future__ import annotations

import subprocess
import sys

import duckdb
import pytest

import llmtrace
from llmtrace import evals
from llmtrace.evals import GateConfigError, load_gate_config

CLEAN = [{"id": f"r{i}", "input": f"q{i}", "expected": f"a{i}"} for i in range(12)]
WITH_PII = [*CLEAN[:-1], {"id": "r11", "input": "mail jane@example.com", "expected": "ok"}]
GATES = {
    "gates": [
        {"metric": "quality.exact_match", "min": 0.5},
        {"metric": "data.pii_rows", "max": 0},
        {"metric": "data.rows", "min": 10},
        {"metric": "data.license", "allowed": ["MIT", "CC-BY-4.0"]},
    ]
}


def _run(db, rows, license):
    dataset = evals.Dataset.from_records(rows, name="qa").declare(license=license)
    suite = evals.Suite(
        name="qa", dataset=dataset, target=lambda e: e.expected, scorers=[evals.exact_match()]
    )
    return suite.run(model="m", db=db, progress=False).id


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    db = tmp_path_factory.mktemp("data-gates") / "data.duckdb"
    handle = llmtrace.configure(service_name="data-gates", db=db)
    ids = {
        "clean": _run(db, CLEAN, "MIT"),
        "pii": _run(db, WITH_PII, "MIT"),
        "gpl": _run(db, CLEAN, "GPL-3.0"),
    }
    handle.shutdown()
    return db, ids


def _decisions(result):
    return {g.metric: g.decision for g in result.gates}


def test_clean_data_passes_every_data_rule(runs):
    db, ids = runs
    result = evals.gate(ids["clean"], config=GATES, db=db)
    assert result.decision == "pass"
    assert _decisions(result) == {
        "quality.exact_match": "pass",
        "data.pii_rows": "pass",
        "data.rows": "pass",
        "data.license": "pass",
    }
    rows = {g.metric: g for g in result.gates}
    assert rows["data.rows"].estimate == 12 and rows["data.rows"].ci_low == 12
    assert rows["data.pii_rows"].estimate == 0 and rows["data.license"].estimate is None


def test_a_pii_row_fails_pii_rows_max_0(runs):
    db, ids = runs
    result = evals.gate(ids["pii"], config=GATES, db=db)
    assert result.decision == "fail"
    assert _decisions(result)["data.pii_rows"] == "fail"
    assert _decisions(result)["data.license"] == "pass"
    pii = next(g for g in result.gates if g.metric == "data.pii_rows")
    assert pii.estimate == 1 and "1 > 0" in pii.reason


def test_a_license_off_the_list_fails(runs):
    db, ids = runs
    result = evals.gate(ids["gpl"], config=GATES, db=db)
    assert result.decision == "fail"
    assert [g.metric for g in result.gates if g.decision == "fail"] == ["data.license"]
    license = next(g for g in result.gates if g.metric == "data.license")
    assert "'GPL-3.0' is not in" in license.reason


def test_data_rules_are_stored_with_the_gate(runs):
    db, ids = runs
    evals.gate(ids["gpl"], config=GATES, db=db)
    conn = duckdb.connect(str(db), read_only=True)
    try:
        stored = conn.execute(
            "SELECT metric, decision, estimate FROM gate_results WHERE run_id = ? "
            "AND metric LIKE 'data.%' ORDER BY metric",
            [ids["gpl"]],
        ).fetchall()
    finally:
        conn.close()
    assert ("data.license", "fail", None) in stored
    assert ("data.pii_rows", "pass", 0.0) in stored and ("data.rows", "pass", 12.0) in stored


def test_a_gates_file_of_data_rules_only_is_a_gate(runs, tmp_path):
    db, ids = runs
    config = tmp_path / "gates.yaml"
    config.write_text("gates:\n  - {metric: data.pii_rows, max: 0}\n")
    assert evals.gate(ids["pii"], config=config, db=db).decision == "fail"
    assert evals.gate(ids["clean"], config=config, db=db).decision == "pass"


def test_llmtrace_gate_exits_1_on_a_data_rule(runs, tmp_path):
    db, ids = runs
    config = tmp_path / "gates.yaml"
    config.write_text(
        "gates:\n  - {metric: quality.exact_match, min: 0.5}\n  - {metric: data.pii_rows, max: 0}\n"
    )

    def gate(run_id):
        command = [sys.executable, "-m", "llmtrace", "gate", "--config", str(config)]
        return subprocess.run(
            [*command, "--candidate", run_id, "--db", str(db)],
            capture_output=True,
            text=True,
            timeout=120,
        )

    failed, passed = gate(ids["pii"]), gate(ids["clean"])
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "data.pii_rows" in failed.stdout
    assert passed.returncode == 0, passed.stdout + passed.stderr


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gates:\n  - {metric: data.nope, max: 1}\n", r"gates\[0\]: unknown data metric"),
        (
            "gates:\n  - {metric: errors.rate, max: 0}\n  - {metric: data.license, max: 1}\n",
            r"gates\[1\]: data.license takes allowed",
        ),
        ("gates:\n  - {metric: data.rows}\n", r"gates\[0\]: data.rows takes min and/or max"),
    ],
)
def test_a_bad_data_rule_names_its_place(tmp_path, text, message):
    path = tmp_path / "gates.yaml"
    path.write_text(text)
    with pytest.raises(GateConfigError, match=message):
        load_gate_config(path)


def test_every_report_shows_the_data_rows(runs, tmp_path):
    db, ids = runs
    from llmtrace.evals.reports import to_json, to_junit, to_markdown

    result = evals.gate(ids["gpl"], config=GATES, db=db)
    for text in (to_markdown(result), to_junit(result), to_json(result)):
        assert "data.license" in text and "data.pii_rows" in text
    html = evals.report(ids["gpl"], result=result, db=db)
    assert "data.license" in html and "GPL-3.0" in html
    assert "1 of them data checks: exact counts, no interval." in html  # the verdict says why
