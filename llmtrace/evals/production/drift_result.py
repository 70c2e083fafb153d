"""What a drift comparison found: per feature, the fixed bins, both counts, PSI and JS."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from .drift_features import Bins

__all__ = ["EPSILON", "DriftResult", "FeatureDrift"]

# The share an empty bin is raised to before the logarithms (then shares are renormalised).
EPSILON = 1e-6


@dataclass
class FeatureDrift:
    """One feature: its fixed bins, both count vectors, PSI, JS and a decision (``none`` when
    no rule judges it)."""

    feature: str
    kind: str
    bins: Bins
    reference_counts: list[int]
    current_counts: list[int]
    psi: float | None
    js: float | None
    decision: str = "none"
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "bins": self.bins.to_dict(),
            "labels": self.bins.labels(),
            "reference_counts": self.reference_counts,
            "current_counts": self.current_counts,
            "psi": self.psi,
            "js": self.js,
            "decision": self.decision,
            "reason": self.reason,
        }


@dataclass
class DriftResult:
    """Every feature's drift between ``reference`` and ``current``."""

    reference: str
    current: str
    where: str | None
    features: list[FeatureDrift] = field(default_factory=list)
    drift_id: str = field(default_factory=lambda: uuid.uuid4().hex[:12])

    @property
    def decision(self) -> str:
        """``fail`` when a feature broke its bound, ``pass`` when some feature was judged and
        none failed, ``none`` when no feature had a rule (reported only)."""
        decisions = {f.decision for f in self.features}
        if "fail" in decisions:
            return "fail"
        return "pass" if decisions & {"pass", "warn"} else "none"

    @property
    def passed(self) -> bool:
        return self.decision != "fail"

    def to_dict(self) -> dict[str, Any]:
        return {
            "drift_id": self.drift_id,
            "decision": self.decision,
            "reference": self.reference,
            "current": self.current,
            "where": self.where,
            "epsilon": EPSILON,
            "features": [f.to_dict() for f in self.features],
        }
