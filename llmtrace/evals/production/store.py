"""Writing what production gates and drift decided: ``gate_results`` rows with the window they
covered, ``drift_results`` rows with each feature's bins and counts."""

from __future__ import annotations

import json
import math
from pathlib import Path

from ...store.connection import connect_write
from ..gates import store_gate_result
from .drift_result import EPSILON, DriftResult
from .result import TraceGateResult

__all__ = ["store_drift", "store_trace_gate"]


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


def store_trace_gate(db: Path, result: TraceGateResult) -> None:
    """One ``gate_results`` row per bound, with the windows, selection and clustering."""
    window, base = result.window, result.baseline_window
    store_gate_result(
        db,
        result,
        {
            "window_start": window.start if window else None,
            "window_end": window.end if window else None,
            "baseline_window_start": base.start if base else None,
            "baseline_window_end": base.end if base else None,
            "selection": result.where,
            "clustered_by": result.clustered_by,
        },
    )


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
