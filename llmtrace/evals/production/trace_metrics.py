"""The metrics a production gate can name, and one window's data read through DuckDB.

``latency.p50_ms|p90_ms|p95_ms|p99_ms|mean_ms`` (root spans), ``llm.latency.*`` (LLM calls, one
call one row), ``errors.rate`` (traces with an error span), ``cost.usd_per_trace``,
``tokens.per_trace``, ``guardrail.<policy>.block_rate`` (guardrail checks of that policy that
blocked), ``quality.<evaluation>`` (mean score of the evaluation events of that name),
``safety.<evaluation>`` (share of those events scoring 1) and ``safety.violation_rate`` (share
of traces with a safety evaluation that had any violation).
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import duckdb
import numpy as np

from ...errors import UserError
from ..stats import Interval
from . import trace_stats
from .trace_sql import (
    CLUSTER_LEVELS,
    PER_TRACE_VALUES,
    TEXT_KEY,
    cluster_level_sql,
    evaluations_table_sql,
    observations_sql,
    selection_view_sql,
    selections_table_sql,
    window_roots,
)
from .windows import Window

__all__ = ["TRACE_METRICS", "TraceGateError", "TraceMetric", "WindowData", "parse_metric"]

TRACE_METRICS = (
    "latency.p50_ms|p90_ms|p95_ms|p99_ms|mean_ms",
    "llm.latency.p50_ms|p90_ms|p95_ms|p99_ms|mean_ms",
    "errors.rate",
    "cost.usd_per_trace",
    "tokens.per_trace",
    "guardrail.<policy>.block_rate",
    "quality.<evaluation>",
    "safety.<evaluation>",
    "safety.violation_rate",
)
_LATENCY = re.compile(r"^(llm\.)?latency\.(p50|p90|p95|p99|mean)_ms$")
_GUARDRAIL = re.compile(r"^guardrail\.([A-Za-z0-9_\-.]+)\.block_rate$")
_EVALUATION = re.compile(r"^(quality|safety)\.([A-Za-z0-9_\-.]+)$")
_table_ids = itertools.count()
_FROM_EVALUATIONS = ("score", "violation", "any_violation")
_JOINED = ("llm_ms", "block")

Kind = Literal["rate", "score", "mean", "percentile"]


class TraceGateError(UserError):
    """A production gate cannot be decided as asked (unknown metric, bad --where, an empty
    window): the CLI exits 2 with one line."""


@dataclass(frozen=True)
class TraceMetric:
    """A metric name resolved to its observations and the interval it takes."""

    name: str
    kind: Kind
    source: str
    unit: str
    parameter: str | None = None
    quantile: float | None = None


def parse_metric(name: str) -> TraceMetric:
    """The metric ``name`` names, or a :class:`TraceGateError` listing the known ones."""
    latency = _LATENCY.match(name)
    if latency:
        source, unit = ("llm_ms", "LLM call") if latency.group(1) else ("root_ms", "trace")
        which = latency.group(2)
        if which == "mean":
            return TraceMetric(name, "mean", source, unit)
        return TraceMetric(name, "percentile", source, unit, quantile=float(which[1:]) / 100.0)
    fixed = {
        "errors.rate": TraceMetric(name, "rate", "error", "trace"),
        "cost.usd_per_trace": TraceMetric(name, "mean", "cost", "trace"),
        "tokens.per_trace": TraceMetric(name, "mean", "tokens", "trace"),
        "safety.violation_rate": TraceMetric(name, "rate", "any_violation", "checked trace"),
    }
    if name in fixed:
        return fixed[name]
    guardrail = _GUARDRAIL.match(name)
    if guardrail:
        return TraceMetric(name, "rate", "block", "guardrail check", guardrail.group(1))
    evaluation = _EVALUATION.match(name)
    if evaluation:
        family, evaluation_name = evaluation.groups()
        if family == "quality":
            return TraceMetric(name, "score", "score", "evaluation", evaluation_name)
        return TraceMetric(name, "rate", "violation", "evaluation", evaluation_name)
    raise TraceGateError(f"unknown metric {name!r}; a trace gate takes {', '.join(TRACE_METRICS)}")


@dataclass
class _Clusters:
    """One metric's observations summed per cluster (what every interval here needs)."""

    totals: np.ndarray
    sizes: np.ndarray
    low: float
    high: float

    @property
    def observations(self) -> int:
        return int(self.sizes.sum())


@dataclass
class WindowData:
    """The traces of one window (and ``--where``), held in temporary tables of a read-only
    connection, and the metrics computed from them."""

    conn: duckdb.DuckDBPyConnection
    window: Window
    where: str | None
    traces: str = ""
    evaluations: str = ""
    calls: str = ""
    _evaluations_ready: bool = False
    _joined: dict[str, str] = field(default_factory=dict)
    cluster_levels: dict[str, int] = field(default_factory=dict)
    _cache: dict[str, _Clusters | None] = field(default_factory=dict)
    _estimates: dict[str, tuple[float, float]] = field(default_factory=dict)
    key: Sequence[str] = TEXT_KEY

    @classmethod
    def load(
        cls,
        conn: duckdb.DuckDBPyConnection,
        windows: Sequence[Window],
        where: str | None,
        calls: str,
        key: Sequence[str] = TEXT_KEY,
    ) -> list[WindowData]:
        """Select every window's traces into one temporary table (one pass over the spans for
        all windows) and a view per window; ``calls`` is a table of
        :func:`.trace_sql.calls_table_sql` covering the windows, with the trace ``key``."""
        suffix = next(_table_ids)
        table = f"_lt_traces_{suffix}"
        selections = [(window_roots(w), w.start) for w in windows]
        # the roots' scan reads the first cluster level; each next one is read only for the
        # traces still alone (an attribute no root carries costs a pass over their VARIANTs)
        conn.execute(selections_table_sql(table, selections, where, calls, levels=1, key=key))
        for level in range(1, len(CLUSTER_LEVELS)):
            alone = conn.execute(
                f"SELECT count(*) FROM {table} WHERE cluster_level = 'trace'"
            ).fetchone()
            if not alone or not alone[0]:
                break
            conn.execute(cluster_level_sql(table, selections, level))
        levels: dict[int, dict[str, int]] = {k: {} for k in range(len(windows))}
        rows = conn.execute(
            f"SELECT sel, cluster_level, count(*) FROM {table} GROUP BY 1, 2 ORDER BY 3 DESC, 2"
        ).fetchall()
        for sel, level, count in rows:
            levels[int(sel)][str(level)] = int(count)
        found = []
        for k, window in enumerate(windows):
            data = cls(conn, window, where, calls=calls, cluster_levels=levels[k], key=key)
            data.traces, data.evaluations = f"{table}_{k}", f"_lt_evals_{suffix}_{k}"
            conn.execute(selection_view_sql(data.traces, table, k))
            found.append(data)
        return found

    @property
    def trace_count(self) -> int:
        return sum(self.cluster_levels.values())

    def clustered_by(self) -> str:
        """Which cluster levels the window's traces fell into, in words."""
        return ", ".join(
            f"{level} ({count} traces)" for level, count in self.cluster_levels.items()
        )

    def _observations(self, metric: TraceMetric) -> tuple[str, list[str]]:
        if metric.source in _FROM_EVALUATIONS and not self._evaluations_ready:
            self.conn.execute(evaluations_table_sql(self.evaluations, self.traces, key=self.key))
            self._evaluations_ready = True
        sql = observations_sql(
            metric.source, self.traces, self.evaluations, self.calls, self.window.start, self.key
        )
        params = [metric.parameter] if metric.parameter is not None else []
        if metric.source not in _JOINED:
            return sql, params
        # a join of the window's traces with its calls or spans is made once, then read by
        # the sums, the percentile and its effective size
        key = f"{metric.source}:{metric.parameter}"
        if key not in self._joined:
            table = f"{self.traces}_obs{len(self._joined)}"
            self.conn.execute(f"CREATE OR REPLACE TEMP TABLE {table} AS {sql}", params)
            self._joined[key] = table
        return f"SELECT cluster, value FROM {self._joined[key]}", []

    def clusters(self, metric: TraceMetric) -> _Clusters:
        """Per-cluster sums and counts of the metric's observations (cached; the metrics
        with one value per trace are summed together, in one pass over the traces)."""
        key = f"{metric.source}:{metric.parameter}"
        if key not in self._cache:
            if metric.source in PER_TRACE_VALUES:
                self._per_trace_clusters()
            else:
                sql, params = self._observations(metric)
                self._cache[key] = self._clusters_of(
                    f"SELECT cluster, value AS v0 FROM ({sql}) WHERE value IS NOT NULL",
                    params,
                    ["v0"],
                )[0]
        found = self._cache[key]
        if found is None:
            raise TraceGateError(self._nothing_observed(metric))
        return found

    def _per_trace_clusters(self) -> None:
        names = list(PER_TRACE_VALUES)
        values = ", ".join(f"{PER_TRACE_VALUES[n]} AS v{i}" for i, n in enumerate(names))
        found = self._clusters_of(
            f"SELECT cluster, {values} FROM {self.traces}",
            [],
            [f"v{i}" for i in range(len(names))],
        )
        for name, clusters in zip(names, found, strict=True):
            self._cache[f"{name}:None"] = clusters

    def _clusters_of(
        self, sql: str, params: list[str], columns: list[str]
    ) -> list[_Clusters | None]:
        """For each value column of ``sql`` (``cluster``, then ``columns``): its sum and count
        per cluster that has one, with the lowest and highest value; None when it has none."""
        aggregates = ", ".join(
            f"sum({c})::DOUBLE AS total_{c}, count({c})::DOUBLE AS size_{c}, "
            f"min(min({c})) OVER () AS low_{c}, max(max({c})) OVER () AS high_{c}"
            for c in columns
        )
        rows = self.conn.execute(
            f"SELECT {aggregates} FROM ({sql}) GROUP BY cluster", params
        ).fetchnumpy()
        found: list[_Clusters | None] = []
        for c in columns:
            sizes = np.asarray(rows[f"size_{c}"], dtype=float)
            seen = sizes > 0  # a cluster whose values are all NULL has none of them
            if not seen.any():
                found.append(None)
                continue
            totals = np.asarray(rows[f"total_{c}"], dtype=float)[seen]
            low, high = float(rows[f"low_{c}"][0]), float(rows[f"high_{c}"][0])
            found.append(_Clusters(totals, sizes[seen], low, high))
        return found

    def _nothing_observed(self, metric: TraceMetric) -> str:
        where = f" matching --where {self.where!r}" if self.where else ""
        text = f"{metric.name}: no {metric.unit} in the window {self.window}{where}"
        if metric.source == "block":
            seen = self._names(
                "SELECT DISTINCT guardrail_policy FROM spans WHERE "
                f"trace_id IN (SELECT trace_id FROM {self.traces}) "
                "AND guardrail_policy IS NOT NULL"
            )
            text += f" for policy {metric.parameter!r}; policies seen there: {seen}"
        elif metric.source in _FROM_EVALUATIONS:
            seen = self._names(
                f"SELECT DISTINCT name FROM {self.evaluations} WHERE name IS NOT NULL"
            )
            text += f"; evaluations seen there: {seen}"
        return text

    def _names(self, sql: str) -> list[str]:
        return sorted(str(row[0]) for row in self.conn.execute(sql).fetchall())

    def interval(self, metric: TraceMetric, confidence: float) -> Interval:
        """The metric's estimate and interval at ``confidence``."""
        found = self.clusters(metric)
        if metric.kind == "rate":
            return trace_stats.clustered_ratio_rate(found.totals, found.sizes, confidence)
        if metric.kind == "score" and found.low >= 0.0 and found.high <= 1.0:
            return trace_stats.clustered_ratio_rate(
                found.totals, found.sizes, confidence, binary=False
            )
        if found.low == found.high:  # every observation the same: the mean is exact
            return Interval(found.low, found.low, found.high, len(found.sizes))
        if metric.kind in ("score", "mean"):
            return trace_stats.mean_interval(found.totals, found.sizes, confidence)
        return self._percentile(metric, found, confidence)

    def _quantiles(self, metric: TraceMetric, fractions: list[float]) -> list[float]:
        sql, params = self._observations(metric)
        row = self.conn.execute(
            f"WITH obs AS ({sql}) SELECT quantile_disc(value, ?::DOUBLE[]) FROM obs "
            "WHERE value IS NOT NULL",
            [*params, fractions],
        ).fetchone()
        assert row is not None
        return [float(v) for v in row[0]]

    def _percentile(self, metric: TraceMetric, found: _Clusters, confidence: float) -> Interval:
        assert metric.quantile is not None
        q = metric.quantile
        if metric.name not in self._estimates:  # neither depends on the confidence
            (estimate,) = self._quantiles(metric, [q])
            self._estimates[metric.name] = (
                estimate,
                self._cdf_effective_n(metric, found, estimate),
            )
        estimate, n_eff = self._estimates[metric.name]
        trials = max(1, math.floor(n_eff))
        low_rank, high_rank = trace_stats.order_ranks(trials, q, confidence)
        # quantile_disc is the inverted empirical CDF: fraction r / trials, nudged below so
        # rounding never moves it to the next order statistic
        wanted = [max(r / trials - 1e-12, 0.0) for r in (low_rank, high_rank) if 1 <= r <= trials]
        values = iter(self._quantiles(metric, wanted)) if wanted else iter(())
        low = next(values) if low_rank >= 1 else -math.inf
        high = next(values) if high_rank <= trials else math.inf
        note = ""
        if math.isinf(high):
            note = (
                f"{trials} effective observations cannot bound p{q * 100:g} from above at "
                f"{confidence:.0%}"
            )
        return Interval(estimate, low, high, len(found.sizes), n_eff=n_eff, note=note)

    def _cdf_effective_n(self, metric: TraceMetric, found: _Clusters, estimate: float) -> float:
        if len(found.sizes) == found.observations:
            return float(found.observations)
        sql, params = self._observations(metric)
        rows = self.conn.execute(
            f"WITH obs AS ({sql}) SELECT sum((value <= ?)::DOUBLE) AS below, count(*)::DOUBLE "
            "AS size FROM obs WHERE value IS NOT NULL GROUP BY cluster",
            [*params, estimate],
        ).fetchnumpy()
        return trace_stats.cdf_effective_n(
            np.asarray(rows["below"], dtype=float), np.asarray(rows["size"], dtype=float)
        )
