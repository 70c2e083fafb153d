"""The gate-metric registry (issue 16): each metric declared once in gate_metrics.py, and a
new one needs nothing else to be validated, directed and decided."""

from __future__ import annotations

import pytest

from llmtrace.evals import GateConfigError
from llmtrace.evals.gate_config import higher_is_better, parse_gate_config
from llmtrace.evals.gate_metrics import REGISTRY, find_metric, gate_metric, metric_names
from llmtrace.evals.gates import decide_rules
from llmtrace.evals.metrics import RunData


def test_every_registered_metric_is_found_by_its_own_name_first():
    for metric in REGISTRY:
        concrete = metric.name.replace("<scorer>", "helpful")
        assert find_metric(concrete) is metric, concrete
        assert higher_is_better(concrete) is metric.higher_is_better
    assert find_metric("safety.violation_rate").kind == "bounded"  # not safety.<scorer>
    assert find_metric("latency.p42_ms") is None and find_metric("quality.a.b") is None


def test_the_unknown_metric_message_lists_the_registry():
    with pytest.raises(GateConfigError, match=r"unknown metric 'latency\.p42_ms'; use one of") as e:
        parse_gate_config({"gates": [{"metric": "latency.p42_ms", "max": 1}]}, "gates.yaml")
    assert all(name in str(e.value) for name in metric_names())


@pytest.fixture
def tokens_squared():
    """A metric added the way a contributor would: one declaration."""

    @gate_metric("tokens.squared_per_example", kind="mean")
    def _squared(metric, data):
        return {k: [v * v for v in vs] for k, vs in data.tokens.items()}

    yield
    REGISTRY.pop()


def test_a_metric_declared_once_is_validated_directed_and_decided(tokens_squared):
    run = RunData({"run_id": "cand", "dataset_version": "v1", "status": "completed"})
    run.tokens.update({f"e{i}": [100.0, 100.0] for i in range(30)})
    config = parse_gate_config(
        {"gates": [{"metric": "tokens.squared_per_example", "max": 20_000}]}, "gates.yaml"
    )
    [outcome] = decide_rules(config, run, None)
    assert outcome.estimate == 10_000.0 and outcome.decision == "pass"
    with pytest.raises(GateConfigError, match=r"max_drop: tokens\.squared_per_example is better"):
        parse_gate_config(
            {"gates": [{"metric": "tokens.squared_per_example", "max_drop": 1}]}, "gates.yaml"
        )
