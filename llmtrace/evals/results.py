"""What a run produced: one result per example-epoch, the run itself, and the success rule
(no error, every quality scorer at least 0.5) that gates and reports share. Kept apart from the
runner so that records, gates and reports read results without importing the runner."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from .scorers import Score

__all__ = ["TARGET_SCORER", "ExampleResult", "Run"]

# Every example-epoch also gets one result row under this name: 1.0 when the target returned,
# 0.0 when it raised or timed out. Error rate, latency and cost are read from these rows.
TARGET_SCORER = "target"


@dataclass
class ExampleResult:
    """The outcome of one example in one epoch."""

    example_id: str
    epoch: int
    output: Any = None
    error: str | None = None
    latency_ms: float | None = None
    trace_id: str | None = None
    scores: dict[str, Score] = field(default_factory=dict)
    scorer_meta: dict[str, tuple[str, str | None, str | None]] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        """No error, and every quality scorer gave at least 0.5."""
        if self.error is not None:
            return False
        for name, score in self.scores.items():
            if self.scorer_meta[name][0] == "quality" and not (
                score.value is not None and score.value >= 0.5
            ):
                return False
        return True


@dataclass
class Run:
    """One executed triple: ``run.id`` names it in the store and in gates."""

    id: str
    suite: str
    dataset_name: str
    dataset_version: str
    model: str
    prompt_name: str | None
    prompt_version: str | None
    epochs: int
    seed: int | None
    concurrency: int
    params: dict[str, Any]
    envelope: dict[str, Any]
    example_count: int
    db_path: Path
    started_at: datetime
    status: str = "running"
    ended_at: datetime | None = None
    results: list[ExampleResult] = field(default_factory=list)

    def mean(self, scorer: str) -> float | None:
        values = [r.scores[scorer].value for r in self.results if scorer in r.scores]
        numbers = [v for v in values if v is not None]
        return sum(numbers) / len(numbers) if numbers else None

    @property
    def error_rate(self) -> float:
        return sum(r.error is not None for r in self.results) / max(len(self.results), 1)
