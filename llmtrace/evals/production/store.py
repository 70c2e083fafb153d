"""Writing what production gates and drift decided: ``gate_results`` rows with the window they
covered, ``drift_results`` rows with each feature's bins and counts."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ...store.connection import connect_write
from .drift_result import EPSILON, DriftResult
from .result import TraceGateResult

__all__ = ["store_drift", "store_trace_gate"]


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


def store_drift(db: Path, result: DriftResult) -> None:
    """One ``drift_results`` row per feature, with its fixed bins and both count vectors."""
    conn = connect_write(db, timeout_s=30.0)
    try:
        conn.executemany(
            "INSERT INTO drift_results (drift_id, reference, current, selection, feature, "
            "feature_kind, bins, reference_counts, current_counts, psi, js, epsilon, decision) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                [
                    result.drift_id,
                    result.reference,
                    result.current,
                    result.where,
                    f.feature,
                    f.kind,
                    json.dumps(f.bins.to_dict()),
                    json.dumps(f.reference_counts),
                    json.dumps(f.current_counts),
                    _finite(f.psi),
                    _finite(f.js),
                    EPSILON,
                    f.decision,
                ]
                for f in result.features
            ],
        )
    finally:
        conn.close()
