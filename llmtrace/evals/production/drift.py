"""``evals.drift()``: how far the current traffic moved from a reference, feature by feature.

Reference and current are each an eval run or a window of traces (so "is my eval set like my
traffic?" is ``drift(reference=RUN, current="7d")``). Bins are fixed from the reference (see
:mod:`.drift_features`) and recorded with the counts. For each feature:

- PSI = sum((c - r) * ln(c / r)) over bins;
- Jensen-Shannon divergence in bits, in [0, 1]: 0.5 KL(r || m) + 0.5 KL(c || m), m = (r + c) / 2;

where r and c are the shares of the reference and the current in each bin, each share of 0
raised to ``EPSILON`` and the shares then renormalised to sum to 1 (an empty bin would make
PSI infinite). A ``drift:`` section in the gates file (``psi_max``, ``js_max``, for every
feature or per feature) makes a feature above its bound fail, and ``llmtrace drift`` exit 1.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import duckdb
import numpy as np

from ..._store_path import default_db_path
from .config import DriftConfig, TraceGateConfig, load_trace_config
from .drift_features import (
    FEATURES,
    FeatureSpec,
    Selection,
    bins_and_counts,
    score_feature,
)
from .drift_result import EPSILON, DriftResult, FeatureDrift
from .source import is_parquet_source, open_source
from .store import store_drift
from .trace_gate import check_where
from .trace_metrics import TraceGateError
from .trace_sql import run_roots, trace_key, window_roots
from .windows import Window, WindowError, parse_window

__all__ = ["EPSILON", "DriftResult", "FeatureDrift", "drift", "js_divergence", "psi"]


def _shares(counts: Sequence[int]) -> np.ndarray:
    values = np.asarray(counts, dtype=float)
    shares: np.ndarray = np.maximum(values / values.sum(), EPSILON)
    normalised: np.ndarray = shares / shares.sum()
    return normalised


def psi(reference: Sequence[int], current: Sequence[int]) -> float:
    """Population stability index of two count vectors over the same bins."""
    r, c = _shares(reference), _shares(current)
    return float(np.sum((c - r) * np.log(c / r)))


def js_divergence(reference: Sequence[int], current: Sequence[int]) -> float:
    """Jensen-Shannon divergence (base 2, in [0, 1]) of two count vectors over the same bins."""
    r, c = _shares(reference), _shares(current)
    m = (r + c) / 2.0
    return float(0.5 * np.sum(r * np.log2(r / m)) + 0.5 * np.sum(c * np.log2(c / m)))


def _resolve(
    conn: duckdb.DuckDBPyConnection, source: str | Window, now: datetime, role: str
) -> tuple[str, str, datetime | None]:
    """A run id (an exact id, or a unique prefix) or a window: its label, the condition on
    its root spans, and the earliest time its calls can start (None for a run)."""
    if isinstance(source, Window):
        return f"traces {source}", window_roots(source), source.start
    runs = conn.execute(
        "SELECT run_id FROM eval_runs WHERE run_id = ? OR starts_with(run_id, ?) ORDER BY 1",
        [source, source],
    ).fetchall()
    if len(runs) == 1 or (runs and runs[0][0] == source):
        run_id = str(runs[0][0])
        return f"run {run_id}", run_roots(run_id), None
    if len(runs) > 1:
        raise TraceGateError(f"--{role} {source!r}: more than one run starts with it")
    try:
        window = parse_window(source, now, f"--{role}")
    except WindowError:
        raise TraceGateError(
            f"--{role} {source!r}: no eval run has that id, and it is not a window (24h, "
            "7d..1d, FROM..UNTIL with ISO times)"
        ) from None
    return f"traces {window}", window_roots(window), window.start


def _features(data: Selection, wanted: Sequence[str] | None) -> list[FeatureSpec]:
    specs = [*FEATURES, *(score_feature(n) for n in data.evaluation_names())]
    if wanted is None:
        return specs
    known = {spec.name: spec for spec in specs}
    unknown = [name for name in wanted if name not in known]
    if unknown:
        raise TraceGateError(
            f"unknown drift feature {unknown[0]!r}; features here: {', '.join(known)}"
        )
    return [known[name] for name in wanted]


def _decide(found: FeatureDrift, rules: DriftConfig | None) -> None:
    """``fail`` past a bound, ``pass`` within every bound, ``none`` with no bound to judge by
    (the values are reported, not judged: a large PSI without a rule is not a pass)."""
    if found.psi is None or found.js is None:
        return
    bounds = rules.bounds_for(found.feature) if rules is not None else None
    if bounds is None or (bounds.psi_max is None and bounds.js_max is None):
        found.decision, found.reason = "none", "no drift rule for this feature"
        return
    found.decision = "pass"
    broken = []
    if bounds.psi_max is not None and found.psi > bounds.psi_max:
        broken.append(f"PSI {found.psi:.4g} > psi_max {bounds.psi_max:g}")
    if bounds.js_max is not None and found.js > bounds.js_max:
        broken.append(f"JS {found.js:.4g} > js_max {bounds.js_max:g}")
    if broken:
        found.decision, found.reason = "fail", "; ".join(broken)


def _compare(data: Selection, specs: list[FeatureSpec]) -> list[FeatureDrift]:
    """Every feature's drift: bins fixed from the reference, then one pass over each table
    that counts both sides' values in every feature's bins."""
    found_bins, counts = bins_and_counts(data, specs)
    bins = {name: b for name, b in found_bins.items() if b is not None}
    binned = [spec for spec in specs if spec.name in bins]
    found = []
    for spec in binned:
        ref_counts, cur_counts = counts[(0, spec.name)], counts[(1, spec.name)]
        if not sum(cur_counts):
            reason = f"no {spec.name} values in {data.labels[1]}"
            found.append(
                FeatureDrift(
                    spec.name, spec.kind, bins[spec.name], ref_counts, cur_counts, None, None,
                    "warn", reason,
                )
            )  # fmt: skip
            continue
        found.append(
            FeatureDrift(
                spec.name,
                spec.kind,
                bins[spec.name],
                ref_counts,
                cur_counts,
                psi(ref_counts, cur_counts),
                js_divergence(ref_counts, cur_counts),
            )
        )
    return found


def drift(
    reference: str | Window,
    current: str | Window,
    *,
    where: str | None = None,
    features: Sequence[str] | None = None,
    config: str | os.PathLike[str] | dict[str, Any] | TraceGateConfig | None = None,
    db: str | os.PathLike[str] | None = None,
    now: datetime | None = None,
    store: bool = True,
) -> DriftResult:
    """PSI and Jensen-Shannon divergence per feature between two runs or windows.

    Example:
        >>> result = evals.drift(reference="8d..1d", current="24h", config="prod.yaml")
        >>> [(f.feature, round(f.psi, 3)) for f in result.features]
    """
    rules = load_trace_config(config).drift if config is not None else None
    now = now or datetime.now(timezone.utc)
    path = default_db_path(db)
    conn = open_source(path)
    try:
        check_where(conn, where)
        sides = [
            _resolve(conn, reference, now, "reference"),
            _resolve(conn, current, now, "current"),
        ]
        starts = [side[2] for side in sides]
        since = None if None in starts else min(s for s in starts if s is not None)
        data = Selection.load(conn, sides, where, since, trace_key(conn))
        for sel, label in enumerate(data.labels):
            if not data.trace_count(sel):
                raise TraceGateError(f"no traces in {label}")
        result = DriftResult(data.labels[0], data.labels[1], where)
        for found in _compare(data, _features(data, features)):
            _decide(found, rules)
            result.features.append(found)
    finally:
        conn.close()
    if store and not is_parquet_source(path):  # a Parquet export is read-only
        store_drift(path, result)
    return result
