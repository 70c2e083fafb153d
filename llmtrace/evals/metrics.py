"""Per-run observations for gate metrics, read from stored results and their traces.

Everything is kept per example id and epoch so statistics can cluster by example. A quality
metric averages a scorer's scores (scorer errors are left out and counted). A safety outcome
that was never checked (the target or the scorer errored) is NaN, unknown, never a clean
result: gates count it as a possible violation. Latency, cost and tokens come from each
example-epoch's target span and trace.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .calibration_store import JudgeCalibration, load_calibrations
from .records import load_results, load_run
from .results import TARGET_SCORER

__all__ = ["RunData", "load_run_data"]

Clusters = dict[str, list[float]]


@dataclass
class RunData:
    """One run's stored results, arranged for statistics."""

    run: dict[str, Any]
    latency_ms: Clusters = field(default_factory=lambda: defaultdict(list))
    cost_usd: Clusters = field(default_factory=lambda: defaultdict(list))
    tokens: Clusters = field(default_factory=lambda: defaultdict(list))
    errors: Clusters = field(default_factory=lambda: defaultdict(list))
    success: Clusters = field(default_factory=lambda: defaultdict(list))
    violation: Clusters = field(default_factory=lambda: defaultdict(list))
    scores: dict[str, Clusters] = field(default_factory=dict)
    scorer_kinds: dict[str, str] = field(default_factory=dict)
    judge_versions: dict[str, str | None] = field(default_factory=dict)
    scorer_errors: dict[str, int] = field(default_factory=dict)
    unknown_cost: int = 0
    calibrations: list[JudgeCalibration] = field(default_factory=list)

    @property
    def example_epochs(self) -> int:
        return sum(len(v) for v in self.errors.values())


def load_run_data(db: Path, run_id: str) -> RunData | None:
    """The run and its results, or None when no run has that id."""
    run = load_run(db, run_id)
    if run is None:
        return None
    data = RunData(run, calibrations=load_calibrations(db))
    per_epoch: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in load_results(db, run_id):
        per_epoch[(row["example_id"], row["epoch"])].append(row)
    for (example_id, _epoch), rows in sorted(per_epoch.items()):
        succeeded = True
        violated = False
        unchecked = False
        for row in rows:
            scorer, kind = row["scorer"], row["kind"]
            if scorer == TARGET_SCORER:
                failed = row["score"] != 1.0
                data.errors[example_id].append(1.0 if failed else 0.0)
                succeeded = succeeded and not failed
                unchecked = unchecked or failed
                if row["latency_ms"] is not None:
                    data.latency_ms[example_id].append(float(row["latency_ms"]))
                if row["trace_cost_usd"] is None:
                    data.unknown_cost += 1
                data.cost_usd[example_id].append(float(row["trace_cost_usd"] or 0.0))
                data.tokens[example_id].append(float(row["trace_tokens"] or 0))
                continue
            data.scorer_kinds[scorer] = kind
            data.judge_versions.setdefault(scorer, row["judge_version"])
            if row["score"] is None:
                if kind == "quality":
                    succeeded = False
                data.scorer_errors[scorer] = data.scorer_errors.get(scorer, 0) + 1
                if kind == "safety":
                    unchecked = True
                    data.scores.setdefault(scorer, defaultdict(list))[example_id].append(math.nan)
                continue
            data.scores.setdefault(scorer, defaultdict(list))[example_id].append(row["score"])
            if kind == "quality" and row["score"] < 0.5:
                succeeded = False
            if kind == "safety" and row["score"] >= 1.0:
                violated = True
        data.success[example_id].append(1.0 if succeeded else 0.0)
        data.violation[example_id].append(1.0 if violated else math.nan if unchecked else 0.0)
    return data
