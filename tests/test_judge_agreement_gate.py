"""Judge calibrations in the store and the judge.<name>.agreement gate metric (issue 13):
stored with the judge and dataset versions, read for exactly the version that scored the run,
warn without one, and a judge's score bounds cannot pass until its agreement bound does."""

from __future__ import annotations

import json
import math

import pytest

import llmtrace
from llmtrace import evals
from llmtrace.evals import GateConfigError
from llmtrace.evals.calibration_store import calibration_for, load_calibrations
from llmtrace.evals.reports import to_json, to_markdown

N = 40


def _labelled():
    """90 labelled outputs (the integers 0-89), labelled good unless divisible by 3."""
    rows = [
        {"id": f"l{i}", "input": i, "metadata": {"output": i, "label": i % 3 != 0}}
        for i in range(90)
    ]
    return evals.Dataset.from_records(rows, name="helpful-labels")


def _judge(version: str, flip_every: int):
    """Grades the suite's answers (strings) 1.0; on the labelled integers it agrees with the
    human label except on every ``flip_every``-th."""

    def grade(example, output):
        if isinstance(output, str):
            return 1.0
        return float((output % 3 != 0) != (output % flip_every == 0))

    return evals.judge(grade, model="gpt-4o", version=version, name="helpful")


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    db = tmp_path_factory.mktemp("agreement") / "agreement.duckdb"
    handle = llmtrace.configure(service_name="agreement-test", db=db)
    rows = [{"id": f"ex{i:03d}", "input": f"q{i}", "expected": f"a{i}"} for i in range(N)]
    dataset = evals.Dataset.from_records(rows, name="qa")

    def run_with(judge):
        suite = evals.Suite(
            name="qa", dataset=dataset, target=lambda e, model=None: e.expected, scorers=[judge]
        )
        return suite.run(model="m", db=db).id

    good, poor, never = _judge("good-v1", 1000), _judge("poor-v1", 2), _judge("new-v2", 1000)
    ids = {"good": run_with(good), "poor": run_with(poor), "never": run_with(never)}
    calibrations = {
        "good": evals.calibrate(good, _labelled(), db=db, seed=1),
        "poor": evals.calibrate(poor, _labelled(), db=db, seed=1),
    }
    yield db, ids, calibrations
    handle.shutdown()


RULES = {
    "gates": [
        {"metric": "judge.helpful.agreement", "min": 0.7},
        {"metric": "quality.helpful", "min": 0.5},
    ]
}


def test_calibrations_are_stored_with_judge_and_dataset_versions(store):
    db, _ids, made = store
    stored = load_calibrations(db)
    assert {c.judge_version for c in stored} == {"good-v1", "poor-v1"}
    good = calibration_for(stored, "helpful", "good-v1")
    assert good is not None
    assert good == made["good"]  # every field round-trips, dataset name and version included
    assert good.dataset_name == "helpful-labels" and good.dataset_version
    assert calibration_for(stored, "helpful", "new-v2") is None


def test_a_calibrated_judge_passes_and_its_scores_count(store):
    db, ids, made = store
    result = evals.gate(candidate=ids["good"], config=RULES, db=db)
    agreement, quality = result.gates
    assert made["good"].ci_low >= 0.7
    assert agreement.decision == "pass"
    assert (agreement.estimate, agreement.ci_low, agreement.ci_high) == pytest.approx(
        (made["good"].agreement, made["good"].ci_low, made["good"].ci_high)
    )
    assert agreement.n == made["good"].n and "cohen_kappa" in agreement.reason
    assert quality.decision == "pass"


def test_a_poorly_agreeing_judge_fails_and_holds_its_scores_at_warn(store):
    db, ids, made = store
    result = evals.gate(candidate=ids["poor"], config=RULES, db=db)
    agreement, quality = result.gates
    assert made["poor"].ci_high < 0.7
    assert agreement.decision == "fail"
    assert quality.decision == "warn"
    assert "judge 'helpful''s scores do not count yet" in quality.reason
    # without an agreement rule the same scores count as before
    alone = evals.gate(candidate=ids["poor"], config={"gates": RULES["gates"][1:]}, db=db)
    assert [g.decision for g in alone.gates] == ["pass"]


def test_an_uncalibrated_judge_version_warns_and_says_so(store):
    db, ids, _made = store
    result = evals.gate(candidate=ids["never"], config=RULES, db=db)
    agreement, quality = result.gates
    assert agreement.decision == "warn" and agreement.estimate is None
    assert math.isinf(agreement.ci_low) and math.isinf(agreement.ci_high)
    assert "judge 'helpful' version new-v2 has no stored calibration" in agreement.reason
    assert quality.decision == "warn"
    strict = evals.gate(candidate=ids["never"], config=RULES, db=db, strict=True)
    assert strict.decision == "fail"


def test_the_agreement_interval_follows_the_gate_confidence(store):
    db, ids, made = store
    wider = evals.gate(candidate=ids["good"], config={**RULES, "confidence": 0.99}, db=db)
    c = made["good"]
    assert wider.gates[0].ci_low < c.ci_low and wider.gates[0].ci_high > c.ci_high


@pytest.mark.parametrize("field", ["max_drop", "max_rise", "max_increase_pct"])
def test_agreement_rules_are_absolute(field):
    with pytest.raises(GateConfigError, match=f"gates\\[0\\].{field}: .*use min"):
        evals.gate(
            candidate="x",
            config={"gates": [{"metric": "judge.helpful.agreement", field: 0.1}]},
        )


def test_an_agreement_rule_naming_no_scorer_of_the_run_is_a_user_error(store):
    db, ids, _made = store
    config = {"gates": [{"metric": "judge.nobody.agreement", "min": 0.7}]}
    with pytest.raises(evals.GateError, match="has no scorer 'nobody'"):
        evals.gate(candidate=ids["good"], config=config, db=db)


def test_reports_show_stored_calibrations_and_flag_judge_versions_without_one(store):
    db, ids, made = store
    calibrated = evals.gate(candidate=ids["good"], config=RULES, db=db)
    [entry] = calibrated.judges
    assert entry["calibrated"] and entry["version"] == "good-v1"
    assert entry["agreement"] == pytest.approx(made["good"].agreement)
    assert json.loads(to_json(calibrated))["judges"][0]["labels"].startswith("helpful-labels@")
    assert "judge `helpful` version `good-v1`: cohen_kappa" in to_markdown(calibrated)

    uncalibrated = evals.gate(candidate=ids["never"], config=RULES, db=db)
    assert json.loads(to_json(uncalibrated))["judges"] == [
        {"judge": "helpful", "version": "new-v2", "calibrated": False}
    ]
    assert "⚠️ judge `helpful` version `new-v2` has no stored calibration" in to_markdown(
        uncalibrated
    )

    page = evals.report(ids["good"], db=db)  # no calibrations= given: read from the store
    assert "cohen_kappa" in page and "none stored" not in page
    page = evals.report(ids["never"], db=db)
    assert "<strong>none stored</strong>" in page and "1 judge version(s) have no" in page
