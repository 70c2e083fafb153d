"""The result of a gate over trace windows: a :class:`~llmtrace.evals.gates.GateResult` (so every
report and exit code applies) that also says which windows, selection and clusters it covered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..gates import GateResult
from .windows import Window

__all__ = ["TraceGateResult"]


@dataclass
class TraceGateResult(GateResult):
    """A gate result over trace windows: the windows, the selection and the clustering."""

    window: Window | None = None
    baseline_window: Window | None = None
    where: str | None = None
    clustered_by: str = ""
    baseline_clustered_by: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data.update(
            window=self.window.label() if self.window else None,
            baseline_window=self.baseline_window.label() if self.baseline_window else None,
            where=self.where,
            clustered_by=self.clustered_by,
            baseline_clustered_by=self.baseline_clustered_by or None,
        )
        return data
