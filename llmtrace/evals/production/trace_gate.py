"""``evals.gate_traces()``: the gate's decision rule applied to a window of stored traces.

Each bound of each rule is decided by :func:`llmtrace.evals.stats.decide` (pass when the whole
interval satisfies it, fail when the whole interval breaks it, warn when it straddles), and the
result is a :class:`~llmtrace.evals.gates.GateResult`, so the JUnit, Markdown and JSON reports
and the exit codes are those of ``llmtrace gate``. Intervals are explained in
:mod:`.trace_stats`; the result says which clusters the traces fell into and is stored in
``gate_results`` with the window it covered.
"""

from __future__ import annotations

import os
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any, Literal

import duckdb

from ..._store_path import default_db_path
from ..gate_bounds import _Bound
from ..gate_decisions import _decide, _holm
from ..gates import GateOutcome
from ..stats import Interval
from . import trace_stats
from .config import TraceGateConfig, TraceGateRule, load_trace_config
from .result import TraceGateResult
from .source import is_parquet_source, open_source
from .store import store_trace_gate
from .trace_metrics import TraceGateError, TraceMetric, WindowData, parse_metric
from .trace_sql import calls_table_sql, trace_key
from .windows import Window, parse_window

__all__ = ["TraceGateResult", "check_where", "gate_traces"]

Direction = Literal["min", "max"]


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def check_where(conn: duckdb.DuckDBPyConnection, where: str | None) -> None:
    """Refuse a ``--where`` DuckDB cannot bind on ``spans``, with DuckDB's first line."""
    if not where:
        return
    if any(mark in where for mark in (";", "--", "/*")):
        # the condition is placed inside our own SQL: a statement end or a comment would cut it
        raise TraceGateError(f"--where {where!r}: one condition, without ';' or comments")
    try:
        conn.execute(f"EXPLAIN SELECT 1 FROM spans WHERE ({where})")
    except duckdb.Error as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TraceGateError(f"--where {where!r}: {first}") from None


def _absolute(rule: TraceGateRule, metric: TraceMetric, data: WindowData) -> list[_Bound]:
    def at(c: float) -> Interval:
        return data.interval(metric, c)

    bounds = []
    if rule.min is not None:
        bounds.append(
            _Bound(rule.metric, f"{rule.metric} >= {_fmt(rule.min)}", rule.min, "min", at)
        )
    if rule.max is not None:
        bounds.append(
            _Bound(rule.metric, f"{rule.metric} <= {_fmt(rule.max)}", rule.max, "max", at)
        )
    return bounds


def _unpaired_note(confidence_hint: str = "") -> str:
    return (
        "windows are not paired: each window's interval at the Bonferroni level is combined "
        "(conservative)" + confidence_hint
    )


def _against_baseline(
    rule: TraceGateRule, metric: TraceMetric, cand: WindowData, base: WindowData
) -> list[_Bound]:
    def pair(c: float) -> tuple[Interval, Interval]:
        level = trace_stats.bonferroni_level(c)
        return cand.interval(metric, level), base.interval(metric, level)

    def diff(c: float) -> Interval:
        return trace_stats.difference(*pair(c))

    name, notes = rule.metric, [_unpaired_note()]
    bounds = []
    if rule.max_drop is not None:
        text = f"{name} - baseline >= -{_fmt(rule.max_drop)}"
        bounds.append(_Bound(name, text, -rule.max_drop, "min", diff, list(notes)))
    if rule.max_rise is not None:
        text = f"{name} - baseline <= +{_fmt(rule.max_rise)}"
        bounds.append(_Bound(name, text, rule.max_rise, "max", diff, list(notes)))
    if rule.max_increase_pct is not None:
        text = f"{name} vs baseline <= +{_fmt(rule.max_increase_pct)}%"
        if trace_stats.relative_pct(*pair(0.5 + 1e-9)) is None:
            zero = "the baseline is 0, so any rise is infinite: decided as max: 0 on the candidate"
            bounds.append(
                _Bound(name, text, 0.0, "max", lambda c: cand.interval(metric, c), [zero])
            )
        else:

            def relative(c: float) -> Interval:
                found = trace_stats.relative_pct(*pair(c))
                assert found is not None
                return found

            bounds.append(_Bound(name, text, rule.max_increase_pct, "max", relative, notes))
    return bounds


def _rule_notes(metric: TraceMetric, data: WindowData) -> list[str]:
    notes = []
    if metric.source == "cost":
        unknown = data.conn.execute(
            f"SELECT count(*) FROM {data.traces} WHERE cost_usd IS NULL"
        ).fetchone()
        if unknown and unknown[0]:
            notes.append(f"{unknown[0]} trace(s) without a priced model call counted as 0")
    found = data.clusters(metric)
    notes.append(
        f"{found.observations} {metric.unit}(s) in {len(found.sizes)} cluster(s); the "
        f"window's traces are clustered by {data.clustered_by()}"
    )

    return notes


def _bounds(config: TraceGateConfig, cand: WindowData, base: WindowData | None) -> list[_Bound]:
    bounds: list[_Bound] = []
    for rule in config.gates:
        metric = parse_metric(rule.metric)
        notes = _rule_notes(metric, cand)
        found = _absolute(rule, metric, cand)
        if any(x is not None for x in (rule.max_drop, rule.max_rise, rule.max_increase_pct)):
            if base is None:
                raise TraceGateError(
                    f"{rule.metric}: max_drop, max_rise and max_increase_pct need a baseline "
                    "window (--baseline-since)"
                )
            found += _against_baseline(rule, metric, cand, base)
        for bound in found:
            bound.notes = [*notes, *bound.notes]
        bounds += found
    return bounds


def _window(value: Window | str | None, now: datetime, origin: str) -> Window | None:
    if value is None or isinstance(value, Window):
        return value
    return parse_window(value, now, origin)


def gate_traces(
    config: str | os.PathLike[str] | dict[str, Any] | TraceGateConfig = "gates.yaml",
    *,
    window: Window | str = "24h",
    baseline: Window | str | None = None,
    where: str | None = None,
    strict: bool = False,
    db: str | os.PathLike[str] | None = None,
    now: datetime | None = None,
    store: bool = True,
) -> TraceGateResult:
    """Gate a window of production traces (optionally against a baseline window).

    Example:
        >>> result = evals.gate_traces("prod.yaml", window="24h", baseline="8d..1d")
        >>> result.decision, [(g.rule, g.decision) for g in result.gates]
    """
    parsed = load_trace_config(config)
    if not parsed.gates:
        raise TraceGateError("the gates file has no gates: to gate traces, list rules under gates:")
    now = now or datetime.now(timezone.utc)
    cand_window = _window(window, now, "--since")
    base_window = _window(baseline, now, "--baseline-since")
    assert cand_window is not None
    path = default_db_path(db)
    conn = open_source(path)
    try:
        check_where(conn, where)
        since = min(w.start for w in (cand_window, base_window) if w is not None)
        key = trace_key(conn)
        conn.execute(calls_table_sql("_lt_calls", since, finish_reasons=False, key=key))
        windows = [w for w in (cand_window, base_window) if w is not None]
        cand, *rest = WindowData.load(conn, windows, where, "_lt_calls", key)
        if not cand.trace_count:
            raise TraceGateError(f"no traces in the window {cand_window}" + _where_text(where))
        base = rest[0] if rest else None
        if base is not None and not base.trace_count:
            raise TraceGateError(
                f"no traces in the baseline window {base_window}" + _where_text(where)
            )
        bounds = _bounds(parsed, cand, base)
        outcomes = [_decide(b, parsed.confidence) for b in bounds]
        if parsed.family_wise == "holm":
            _holm(bounds, outcomes, parsed.confidence)
    finally:
        conn.close()
    result = _result(parsed, outcomes, strict, cand, base, where)
    if store and not is_parquet_source(path):  # a Parquet export is read-only
        store_trace_gate(path, result)
    return result


def _where_text(where: str | None) -> str:
    return f" matching --where {where!r}" if where else ""


def _result(
    config: TraceGateConfig,
    outcomes: list[GateOutcome],
    strict: bool,
    cand: WindowData,
    base: WindowData | None,
    where: str | None,
) -> TraceGateResult:
    if strict:
        outcomes = [
            replace(o, decision="fail", reason="strict: " + o.reason) if o.decision == "warn" else o
            for o in outcomes
        ]
    decisions = {o.decision for o in outcomes}
    decision = "fail" if "fail" in decisions else "warn" if "warn" in decisions else "pass"
    return TraceGateResult(
        decision,
        f"traces {cand.window}",
        f"traces {base.window}" if base else None,
        config.confidence,
        strict,
        outcomes,
        [],
        config.family_wise,
        window=cand.window,
        baseline_window=base.window if base else None,
        where=where,
        clustered_by=cand.clustered_by(),
        baseline_clustered_by=base.clustered_by() if base else "",
    )
