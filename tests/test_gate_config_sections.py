"""One gates file serves the gate, the promotion policy and drift: `release:` and `drift:`
sections are accepted by every reader, and checked by their own."""

from __future__ import annotations

import pytest

from llmtrace.evals.gate_config import GateConfigError, parse_gate_config

RULES = [{"metric": "quality.exact_match", "min": 0.8}]


def test_release_and_drift_sections_are_accepted_beside_the_gates() -> None:
    config = parse_gate_config(
        {
            "gates": RULES,
            "release": {"production": {"approvals": 1, "roles": ["owner"]}},
            "drift": {"psi_max": 0.2},
        },
        "gates.yaml",
    )
    assert config.release == {"production": {"approvals": 1, "roles": ["owner"]}}
    assert config.drift == {"psi_max": 0.2}
    assert [rule.metric for rule in config.gates] == ["quality.exact_match"]


def test_an_unknown_section_is_still_refused_by_name() -> None:
    with pytest.raises(GateConfigError, match=r"gates.yaml: relase: Extra inputs"):
        parse_gate_config({"gates": RULES, "relase": {}}, "gates.yaml")
