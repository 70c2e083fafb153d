"""Evals: versioned datasets, (dataset, model, prompt) runs, scorers and versioned judges.

Example:
    >>> from llmtrace import evals
    >>> ds = evals.Dataset.from_jsonl("qa.jsonl", name="qa")
    >>> suite = evals.Suite(name="qa", dataset=ds, target=answer, scorers=[evals.exact_match()])
    >>> run = suite.run(model="gpt-4o-mini", prompt=PROMPT, epochs=3, concurrency=16)
"""

from .calibrate import JudgeCalibration, calibrate
from .card import card
from .dataset import Dataset, DatasetError, Example
from .gate_config import GateConfig, GateConfigError, GateRule, load_gate_config
from .gate_report import report
from .gates import GateError, GateOutcome, GateResult, gate
from .lineage import Lineage, lineage
from .plan import PlanRow, plan
from .production import DriftResult, TraceGateResult, Window, drift, gate_traces
from .registry import Registry, Release, ReleaseEvent
from .release_errors import NotReproducible, PromotionRefused, RollbackRefused
from .reproduce import Reproduction, reproduce
from .runner import TARGET_SCORER, ExampleResult, Run, Suite
from .scorers import (
    Score,
    Scorer,
    contains,
    exact_match,
    json_valid,
    judge,
    numeric_close,
    regex,
    safety,
    scorer,
)

__all__ = [
    "TARGET_SCORER",
    "Dataset",
    "DatasetError",
    "DriftResult",
    "Example",
    "ExampleResult",
    "GateConfig",
    "GateConfigError",
    "GateError",
    "GateOutcome",
    "GateResult",
    "GateRule",
    "JudgeCalibration",
    "Lineage",
    "NotReproducible",
    "PlanRow",
    "PromotionRefused",
    "Registry",
    "Release",
    "ReleaseEvent",
    "Reproduction",
    "RollbackRefused",
    "Run",
    "Score",
    "Scorer",
    "Suite",
    "TraceGateResult",
    "Window",
    "calibrate",
    "card",
    "contains",
    "drift",
    "exact_match",
    "gate",
    "gate_traces",
    "json_valid",
    "judge",
    "lineage",
    "load_gate_config",
    "numeric_close",
    "plan",
    "regex",
    "report",
    "reproduce",
    "safety",
    "scorer",
]
