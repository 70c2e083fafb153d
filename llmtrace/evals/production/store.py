"""Writing production gate results: the ``gate_results`` rows with the window they covered."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ...store.connection import connect_write
from .result import TraceGateResult

__all__ = ["store_trace_gate"]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def store_trace_gate(db: Path, result: TraceGateResult) -> None:
    """One ``gate_results`` row per bound, with the windows, selection and clustering."""
    window, base = result.window, result.baseline_window
    conn = connect_write(db, timeout_s=30.0)
    try:
        conn.executemany(
            "INSERT INTO gate_results (run_id, baseline_run_id, metric, rule, estimate, ci_low, "
            "ci_high, n, decision, reason, overrides, window_start, window_end, "
            "baseline_window_start, baseline_window_end, selection, clustered_by) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    result.candidate_run_id,
                    result.baseline_run_id,
                    g.metric,
                    g.rule,
                    _finite(g.estimate),
                    _finite(g.ci_low),
                    _finite(g.ci_high),
                    g.n,
                    g.decision,
                    g.reason,
                    json.dumps(result.overrides),
                    window.start if window else None,
                    window.end if window else None,
                    base.start if base else None,
                    base.end if base else None,
                    result.where,
                    result.clustered_by,
                ]
                for g in result.gates
            ],
        )
    finally:
        conn.close()
