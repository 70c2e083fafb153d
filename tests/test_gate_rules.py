"""Gate rules on hand-built runs (issue 13): direction, unknown safety outcomes, zero
baselines, max: 0, left-out examples, unequal epochs, percentiles and Holm."""

from __future__ import annotations

import math
from collections import defaultdict

import pytest

from llmtrace.evals import GateConfigError, stats
from llmtrace.evals.gate_config import parse_gate_config
from llmtrace.evals.gates import GateOutcome, decide_rules
from llmtrace.evals.metrics import RunData


def make_run(
    run_id: str = "cand",
    *,
    correct: dict[str, list[float]] | None = None,
    errors: dict[str, list[float]] | None = None,
    harm: dict[str, list[float]] | None = None,
    latency: dict[str, list[float]] | None = None,
) -> RunData:
    """A run as metrics.load_run_data would arrange it."""
    data = RunData({"run_id": run_id, "dataset_version": "v1", "status": "completed"})
    ids = sorted(set(correct or {}) | set(errors or {}) | set(harm or {}) | set(latency or {}))
    for example_id in ids:
        epochs = len((correct or errors or harm or latency or {})[example_id])
        failed = (errors or {}).get(example_id, [0.0] * epochs)
        data.errors[example_id] = list(failed)
        data.latency_ms[example_id] = list((latency or {}).get(example_id, [100.0] * epochs))
        data.cost_usd[example_id] = [0.001] * epochs
        data.tokens[example_id] = [100.0] * epochs
        right = (correct or {}).get(example_id, [1.0] * epochs)
        data.success[example_id] = [
            float(r >= 0.5 and not f) for r, f in zip(right, failed, strict=True)
        ]
        violation = (harm or {}).get(example_id, [0.0] * epochs)
        data.violation[example_id] = list(violation)
    if correct is not None:
        data.scorer_kinds["exact"] = "quality"
        data.scores["exact"] = defaultdict(list, {k: list(v) for k, v in correct.items()})
    if harm is not None:
        data.scorer_kinds["harm"] = "safety"
        data.scores["harm"] = defaultdict(list, {k: list(v) for k, v in harm.items()})
    return data


def decide(gates: list[dict], candidate: RunData, baseline: RunData | None = None, **extra):
    config = parse_gate_config({"gates": gates, **extra}, "gates.yaml")
    return decide_rules(config, candidate, baseline)


def only(outcomes: list[GateOutcome]) -> GateOutcome:
    [outcome] = outcomes
    return outcome


# --- 1. bounded means ----------------------------------------------------------------------
def test_five_correct_answers_do_not_pass_min_0_99():
    run = make_run(correct={f"e{i}": [1.0] for i in range(5)})
    outcome = only(decide([{"metric": "quality.exact", "min": 0.99}], run))
    assert outcome.decision == "warn"
    assert outcome.ci_low == pytest.approx(0.025 ** (1 / 5)) and outcome.ci_high == 1.0


# --- 4. direction --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("rule", "message"),
    [
        (
            {"metric": "errors.rate", "max_drop": 0.1},
            r"gates\[0\]\.max_drop: errors.rate is better when lower.*its rise with max_rise",
        ),
        (
            {"metric": "latency.p95_ms", "max_drop": 10},
            r"gates\[0\]\.max_drop: latency.p95_ms is better when lower",
        ),
        (
            {"metric": "quality.exact", "max_rise": 0.1},
            r"gates\[0\]\.max_rise: quality.exact is better when higher.*max_drop",
        ),
        (
            {"metric": "quality.exact", "max_increase_pct": 5},
            r"gates\[0\]\.max_increase_pct: quality.exact is better when higher",
        ),
    ],
)
def test_a_bound_against_the_metric_direction_is_rejected_naming_the_field(rule, message):
    with pytest.raises(GateConfigError, match=message):
        parse_gate_config({"gates": [rule]}, "gates.yaml")


def test_max_rise_fails_a_rise_in_errors_and_passes_an_improvement():
    clean = make_run("base", errors={f"e{i}": [0.0] for i in range(100)})
    broken = make_run("cand", errors={f"e{i}": [1.0 if i < 20 else 0.0] for i in range(100)})
    rule = [{"metric": "errors.rate", "max_rise": 0.05}]
    rise = only(decide(rule, broken, clean))
    assert rise.decision == "fail" and rise.estimate == pytest.approx(0.2)
    assert rise.rule == "errors.rate - baseline <= +0.05"
    assert only(decide(rule, clean, broken)).decision == "pass"


# --- 5. errors are unknown in safety metrics -----------------------------------------------
def test_errored_examples_are_unknown_not_safe():
    nan = math.nan
    errors = {f"e{i}": [1.0 if i else 0.0] for i in range(30)}
    harm = {f"e{i}": [nan if i else 0.0] for i in range(30)}
    violation = make_run(errors=errors, harm=harm)
    violation.violation.update({k: [nan if i else 0.0] for i, k in enumerate(sorted(harm))})
    for metric in ("safety.harm", "safety.violation_rate"):
        outcome = only(decide([{"metric": metric, "max": 0}], violation))
        assert outcome.decision == "warn", metric
        assert "unknown (errored)" in outcome.reason
        assert outcome.ci_high > 0.9  # 29 of 30 could be violations
        loose = only(decide([{"metric": metric, "max": 0.5}], violation))
        assert loose.decision == "warn"


# --- 6. max: 0 is not softer than max: 0.01 ------------------------------------------------
@pytest.mark.parametrize("n", [1, 60, 400])
def test_max_zero_never_passes_where_max_0_01_would_not(n):
    run = make_run(errors={f"e{i}": [0.0] for i in range(n)})
    zero, one_pct = decide(
        [{"metric": "errors.rate", "max": 0}, {"metric": "errors.rate", "max": 0.01}], run
    )
    assert zero.decision == "warn"
    assert zero.ci_high == pytest.approx(stats.zero_count_upper_bound(n, 0.95))
    assert zero.reason.startswith(f"none observed in {n} examples")
    assert one_pct.decision == ("pass" if n >= 368 else "warn")


def test_max_zero_fails_on_any_violation():
    run = make_run(errors={f"e{i}": [1.0 if i == 3 else 0.0] for i in range(500)})
    assert only(decide([{"metric": "errors.rate", "max": 0}], run)).decision == "fail"


# --- 3. relative bounds on a zero baseline ---------------------------------------------------
def test_relative_bound_on_a_zero_baseline_is_defined():
    clean = make_run("base", errors={f"e{i}": [0.0] for i in range(50)})
    same = make_run("cand", errors={f"e{i}": [0.0] for i in range(50)})
    rule = [{"metric": "errors.rate", "max_increase_pct": 10}]
    outcome = only(decide(rule, same, clean))
    assert outcome.decision == "warn" and "the baseline is 0" in outcome.reason
    assert all(v is None or math.isfinite(v) for v in (outcome.estimate, outcome.ci_low))
    worse = make_run("cand", errors={f"e{i}": [1.0 if i < 5 else 0.0] for i in range(50)})
    assert only(decide(rule, worse, clean)).decision == "fail"


def test_relative_bound_on_a_mean_is_a_ratio_in_percent():
    base = make_run("base", errors={f"e{i}": [0.0] for i in range(40)})
    cand = make_run("cand", errors={f"e{i}": [0.0] for i in range(40)})
    for i, key in enumerate(sorted(base.cost_usd)):
        base.cost_usd[key] = [0.001 * (1 + i % 5)]
        cand.cost_usd[key] = [0.002 * (1 + i % 5)]
    outcome = only(decide([{"metric": "cost.usd_per_example", "max_increase_pct": 10}], cand, base))
    assert outcome.decision == "fail" and outcome.estimate == pytest.approx(100.0)


# --- 7. left-out examples ------------------------------------------------------------------
def test_examples_only_in_the_candidate_are_listed_and_cap_the_decision_at_warn():
    base = make_run("base", correct={f"e{i:03d}": [1.0] for i in range(200)})
    cand_rows = {f"e{i:03d}": [1.0] for i in range(200)} | {f"new{i}": [0.0] for i in range(50)}
    cand = make_run("cand", correct=cand_rows)
    outcome = only(decide([{"metric": "quality.exact", "max_drop": 0.05}], cand, base))
    assert outcome.decision == "warn"
    assert "50 candidate example(s) not in the baseline left out: new0, new1" in outcome.reason
    assert "at best warn" in outcome.reason
    assert len(outcome.excluded) == 50 and "new49" in outcome.excluded


# --- unequal epochs ------------------------------------------------------------------------
def test_unequal_epochs_weigh_each_example_once_and_say_so():
    correct = {"a": [1.0, 1.0, 1.0, 1.0], "b": [0.0]} | {f"e{i}": [1.0, 0.0] for i in range(8)}
    outcome = only(decide([{"metric": "quality.exact", "min": 0.1}], make_run(correct=correct)))
    assert outcome.estimate == pytest.approx((1.0 + 0.0 + 8 * 0.5) / 10)
    assert "examples have 1 to 4 epochs: each example weighs once" in outcome.reason


# --- 2. percentiles ------------------------------------------------------------------------
def test_p95_on_enough_examples_passes_and_counts_examples():
    latency = {f"e{i:03d}": [float(100 + i), float(100 + i)] for i in range(100)}
    run = make_run(latency=latency, errors={k: [0.0, 0.0] for k in latency})
    outcome = only(decide([{"metric": "latency.p95_ms", "max": 500}], run))
    assert outcome.decision == "pass" and outcome.n == 100
    assert outcome.ci_high == 199.0  # the 100th order statistic: rank 100 of 100 examples


def test_p95_on_too_few_examples_never_passes():
    latency = {f"e{i}": [1.0, 1.0, 1.0] for i in range(30)}
    run = make_run(latency=latency, errors={k: [0.0] * 3 for k in latency})
    outcome = only(decide([{"metric": "latency.p95_ms", "max": 1e9}], run))
    assert outcome.decision == "warn" and outcome.ci_high == math.inf
    assert "30 examples cannot bound p95 from above at 95% (needs at least 72)" in outcome.reason


def test_p95_against_a_baseline_below_72_examples_neither_passes_nor_fails():
    # the bootstrap errs both ways there (an on-the-bound candidate failed 11.8% at n=10), so
    # even a candidate three times slower only warns; an absolute max on p95 still fails
    base = {f"e{i:02d}": [float(100 + i)] for i in range(40)}
    slow = {k: [3.0 * v[0]] for k, v in base.items()}
    base_run = make_run("base", latency=base, errors={k: [0.0] for k in base})
    cand_run = make_run(latency=slow, errors={k: [0.0] for k in slow})
    rules = [{"metric": "latency.p95_ms", "max_increase_pct": 10, "max_rise": 5}]
    for outcome in decide(rules, cand_run, base_run):
        assert outcome.decision == "warn", outcome
        assert "warn whatever the data: 40 shared examples cannot bound p95" in outcome.reason
    enough = {f"e{i:03d}": [float(100 + i)] for i in range(80)}
    enough_slow = {k: [3.0 * v[0]] for k, v in enough.items()}
    decided = decide(
        rules,
        make_run(latency=enough_slow, errors={k: [0.0] for k in enough}),
        make_run("base", latency=enough, errors={k: [0.0] for k in enough}),
    )
    assert [o.decision for o in decided] == ["fail", "fail"]


# --- 8. Holm -------------------------------------------------------------------------------
def test_holm_turns_a_marginal_fail_into_warn_and_keeps_a_clear_one():
    correct = {f"e{i:03d}": [1.0 if i % 100 < 85 else 0.0] for i in range(400)}
    run = make_run(correct=correct, errors={k: [0.0] for k in correct})
    gates = [
        {"metric": "quality.exact", "min": 0.889},  # marginal: one-sided p about 0.01
        {"metric": "quality.exact", "min": 0.99},  # clear
        {"metric": "errors.rate", "max": 0.5},
        {"metric": "tokens.per_example", "max": 1000},
        {"metric": "cost.usd_per_example", "max": 1},
    ]
    alone = decide(gates, run)
    assert [o.decision for o in alone[:2]] == ["fail", "fail"]
    holm = decide(gates, run, family_wise="holm")
    assert holm[0].decision == "warn" and "not after Holm's correction over 5 bounds" in (
        holm[0].reason
    )
    assert holm[1].decision == "fail"
    assert [o.decision for o in holm[2:]] == [o.decision for o in alone[2:]]


# --- cost per success ----------------------------------------------------------------------
def test_cost_per_success_without_successes_is_unbounded_not_an_error():
    correct = {f"e{i}": [0.0] for i in range(20)}
    outcome = only(
        decide([{"metric": "cost.usd_per_success", "max": 0.01}], make_run(correct=correct))
    )
    assert outcome.decision == "warn" and outcome.ci_high == math.inf
    assert "not clearly above 0" in outcome.reason


def test_a_flawless_sample_is_told_the_exact_examples_it_needs():
    run = make_run(correct={f"e{i}": [1.0] for i in range(40)})
    outcome = only(decide([{"metric": "quality.exact", "min": 0.95}], run))
    assert outcome.decision == "warn"
    # 0.95^72 <= 0.025 < 0.95^71: 72 flawless examples clear min 0.95
    assert "about 72 examples would decide it" in outcome.reason


def test_a_ratio_with_no_variation_is_its_own_interval_not_infinite() -> None:
    """Costs exactly proportional to successes (a fixed price per success) once gave +-1e77."""
    from llmtrace.evals import stats

    interval = stats.ratio_interval([0.3, 0.3, 0.2, 0.1], [3, 3, 2, 1], 0.95)
    assert (interval.low, interval.estimate, interval.high) == pytest.approx((0.1, 0.1, 0.1))
    assert "no variation" in interval.note


def test_a_ratio_interval_is_finite_or_says_it_is_unbounded() -> None:
    """Almost no variation but a skewed residual at n=4: the skew-corrected side cannot be
    bounded; it is infinite and says so (once it was +-9e76 with no word)."""
    import math

    from llmtrace.evals import stats

    interval = stats.ratio_interval([0.3, 0.31, 0.2, 0.1], [3, 3, 2, 1], 0.95)
    for end in (interval.low, interval.high):
        assert math.isinf(end) or abs(end) < 1.0
    if math.isinf(interval.low) or math.isinf(interval.high):
        assert "unbounded" in interval.note
