"""What a gate decided: one outcome per bound, and the result of them all."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import UserError

__all__ = ["GateError", "GateOutcome", "GateResult"]


class GateError(UserError):
    """The gate cannot be decided as asked (unknown run or scorer, runs not comparable): the
    CLI exits 2."""


@dataclass(frozen=True)
class GateOutcome:
    """One bound of one rule, decided."""

    metric: str
    rule: str
    decision: str
    estimate: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    reason: str = ""
    excluded: tuple[str, ...] = ()


@dataclass
class GateResult:
    """The release decision and its evidence."""

    decision: str
    candidate_run_id: str
    baseline_run_id: str | None
    confidence: float
    strict: bool
    gates: list[GateOutcome] = field(default_factory=list)
    overrides: list[str] = field(default_factory=list)
    family_wise: str = "none"
    judges: list[dict[str, Any]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.decision != "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision": self.decision,
            "passed": self.passed,
            "candidate_run_id": self.candidate_run_id,
            "baseline_run_id": self.baseline_run_id,
            "confidence": self.confidence,
            "strict": self.strict,
            "family_wise": self.family_wise,
            "overrides": self.overrides,
            "gates": [{**vars(g), "excluded": list(g.excluded)} for g in self.gates],
            "judges": self.judges,
        }
