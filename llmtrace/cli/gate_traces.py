"""``llmtrace gate --traces``: the gate over a window of stored traces (DESIGN section 10).

``llmtrace gate`` parses the options and prints and writes the reports; this module turns the
window options into :func:`llmtrace.evals.gate_traces` and says what the window held.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

import typer

from ..errors import UserError
from ..evals.production import TraceGateResult, gate_traces
from ..evals.production.source import is_parquet_source
from ..evals.production.windows import window_from_options
from ._store import resolve_db, writable_store

__all__ = ["run_trace_gate", "trace_source"]


def trace_source(db: Path | None) -> Path:
    """The store to gate and record in, or a folder of Parquet from ``llmtrace export`` (read
    only: results are printed and written to report files, not stored)."""
    path = resolve_db(db)
    return path if is_parquet_source(path) else writable_store(db)


def run_trace_gate(
    config: Path,
    *,
    since: str | None,
    until: str | None,
    baseline_since: str | None,
    baseline_until: str | None,
    where: str | None,
    strict: bool,
    db: Path,
) -> TraceGateResult:
    """Gate the ``--since``/``--until`` window, against ``--baseline-since``/``--until`` when
    given; prints the windows and how their traces were clustered."""
    now = datetime.now(timezone.utc)
    window = window_from_options(since, until, now)
    if window is None:
        raise UserError("--traces needs --since (a window like 24h, 7d..1d or an ISO time)")
    baseline = window_from_options(
        baseline_since, baseline_until, now, names=("--baseline-since", "--baseline-until")
    )
    result = gate_traces(
        config, window=window, baseline=baseline, where=where, strict=strict, db=db
    )
    typer.echo(f"traces {window}: clustered by {result.clustered_by}")
    if baseline is not None:
        typer.echo(f"baseline {baseline}: clustered by {result.baseline_clustered_by}")
    return result
