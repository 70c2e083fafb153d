"""Data checks: measured when a run starts, recorded with it, and enforced on promotion."""

from __future__ import annotations

import json

import duckdb
import pytest

import llmtrace
from llmtrace import evals
from llmtrace.evals import PromotionRefused, Registry
from llmtrace.evals.release_policy import ReleaseConfigError

SCHEMA = {
    "type": "object",
    "properties": {"input": {"type": "string"}, "expected": {"type": "string"}},
    "required": ["expected"],
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    db = tmp_path_factory.mktemp("data-checks") / "data.duckdb"
    rows = [{"id": f"r{i}", "input": f"q{i}", "expected": f"a{i}"} for i in range(20)]
    rows[3] = {"id": "r3", "input": "mail me at jane@example.com", "expected": "ok"}
    rows[5] = {"id": "r5", "input": "no answer"}  # fails the schema: expected is required
    handle = llmtrace.configure(service_name="data-checks", db=db)
    dataset = evals.Dataset.from_records(rows, name="qa").declare(schema=SCHEMA, license="MIT")
    suite = evals.Suite(
        name="qa", dataset=dataset, target=lambda e: e.expected, scorers=[evals.exact_match()]
    )
    declared = suite.run(model="m", db=db, progress=False)
    plain = evals.Suite(
        name="qa",
        dataset=evals.Dataset.from_records(rows, name="qa"),
        target=lambda e: e.expected,
        scorers=[evals.exact_match()],
    ).run(model="m", db=db, progress=False)
    handle.shutdown()
    return db, declared.id, plain.id


def _envelope(db, run_id):
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return json.loads(
            conn.execute("SELECT envelope FROM eval_runs WHERE run_id = ?", [run_id]).fetchone()[0]
        )
    finally:
        conn.close()


def test_data_checks_are_recorded_with_the_run(runs):
    db, declared, plain = runs
    checks = _envelope(db, declared)["data_checks"]
    assert checks["rows"] == 20 and checks["schema_errors"] == 1 and checks["pii_rows"] == 1
    assert checks["license"] == "MIT" and 0 <= checks["age_days"] < 1
    assert _envelope(db, plain)["data_checks"]["schema_errors"] is None


def test_promotion_enforces_data_rules_with_every_reason(runs):
    db, declared, plain = runs
    registry = Registry(db)
    config = {
        "gates": [
            {"metric": "errors.rate", "max": 0.5},
            {"metric": "data.rows", "min": 50},
            {"metric": "data.schema_errors", "max": 0},
            {"metric": "data.pii_rows", "max": 0},
            {"metric": "data.age_days", "max": 30},
            {"metric": "data.license", "allowed": ["CC-BY-4.0", "Apache-2.0"]},
        ]
    }
    release = registry.register(declared, name="data")
    with pytest.raises(PromotionRefused) as refused:
        registry.promote(release, to="production", config=config, by="a")
    assert refused.value.reasons == [
        "data check data.rows >= 50 failed: 20 < 50",
        "data check data.schema_errors <= 0 failed: 1 > 0",
        "data check data.pii_rows <= 0 failed: 1 > 0",
        "data check data.license in ['CC-BY-4.0', 'Apache-2.0'] failed: license 'MIT' is not "
        "in ['CC-BY-4.0', 'Apache-2.0']",
    ]
    event = registry.history("data")[-1]
    assert [c["decision"] for c in event.details["data_checks"]] == [
        "fail",
        "fail",
        "fail",
        "pass",
        "fail",
    ]
    undeclared = registry.register(plain, name="data-plain")
    with pytest.raises(PromotionRefused, match="no JSON schema declared"):
        registry.promote(
            undeclared,
            to="production",
            by="a",
            config={"gates": [{"metric": "data.schema_errors", "max": 0}]},
        )
    passing = {
        "gates": [{"metric": "data.rows", "min": 10}, {"metric": "data.age_days", "max": 30}]
    }
    assert registry.promote(undeclared, to="production", config=passing, by="a").stage == (
        "production"
    )


def test_bad_data_rules_name_the_entry(runs):
    db, declared, _ = runs
    registry = Registry(db)
    release = registry.register(declared, name="data-bad")
    for rule, message in (
        ({"metric": "data.volume", "max": 1}, "unknown data metric 'data.volume'"),
        ({"metric": "data.license", "max": 1}, "data.license takes allowed"),
        ({"metric": "data.rows"}, "data.rows takes min and/or max"),
    ):
        with pytest.raises(ReleaseConfigError, match=r"gates\[1\]: " + message):
            registry.promote(
                release,
                to="production",
                by="a",
                config={"gates": [{"metric": "errors.rate", "max": 1}, rule]},
            )
