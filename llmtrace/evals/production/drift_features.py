"""What drift compares: features of a selection of traces (an eval run or a window), binned by
bins fixed from the reference, and counted in DuckDB.

Numeric features (input and output tokens per LLM call, root latency, cost per trace, each
evaluation's scores) take quantile bins: the reference's deciles, deduplicated, as the edges of
``(-inf, e1], (e1, e2], ..., (ek, inf)``. Categorical features (model, prompt version, tool
names, guardrail ``policy:action``, finish reasons) take the reference's most common categories
(at most 20) plus ``(other)``; a missing value is the category ``(none)``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import duckdb

from ... import semconv as sc
from .trace_sql import evaluations_table_sql, traces_table_sql

__all__ = ["OTHER", "Bins", "FeatureSpec", "Selection", "count_bins", "reference_bins"]

OTHER = "(other)"
NONE = "(none)"
MAX_CATEGORIES = 20
_DECILES = [i / 10 for i in range(1, 10)]
_ids = itertools.count()


@dataclass(frozen=True)
class FeatureSpec:
    """A feature's name, kind and the table column it reads (from :class:`Selection`)."""

    name: str
    kind: Literal["numeric", "categorical"]
    table: Literal["traces", "calls", "spans", "evaluations"]
    column: str
    condition: str = "TRUE"


_LLM = f"kind = '{sc.KIND_LLM}'"
FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("input_tokens", "numeric", "calls", "input_tokens::DOUBLE", _LLM),
    FeatureSpec("output_tokens", "numeric", "calls", "output_tokens::DOUBLE", _LLM),
    FeatureSpec("latency_ms", "numeric", "traces", "root_ms"),
    FeatureSpec("cost_usd", "numeric", "traces", "cost_usd"),
    FeatureSpec("model", "categorical", "calls", "model", _LLM),
    FeatureSpec("prompt_version", "categorical", "calls", "prompt_version", _LLM),
    FeatureSpec("finish_reasons", "categorical", "calls", "finish_reasons", _LLM),
    FeatureSpec("tool_name", "categorical", "spans", "tool_name", f"kind = '{sc.KIND_TOOL}'"),
    FeatureSpec(
        "guardrail_action",
        "categorical",
        "spans",
        "guardrail_policy || ':' || guardrail_action",
        f"kind = '{sc.KIND_GUARDRAIL}'",
    ),
)


@dataclass(frozen=True)
class Bins:
    """Bins fixed from the reference: edges for a number, categories (then ``(other)``)."""

    kind: Literal["numeric", "categorical"]
    edges: tuple[float, ...] = ()
    categories: tuple[str, ...] = ()

    def labels(self) -> list[str]:
        if self.kind == "categorical":
            return [*self.categories, OTHER]
        bounds = ["-inf", *(f"{e:.6g}" for e in self.edges), "inf"]
        return [f"({low}, {high}]" for low, high in itertools.pairwise(bounds)]

    def to_dict(self) -> dict[str, Any]:
        if self.kind == "categorical":
            return {"kind": self.kind, "categories": list(self.categories), "other": OTHER}
        return {"kind": self.kind, "edges": list(self.edges)}


@dataclass
class Selection:
    """The traces of a run or a window in temporary tables, with their LLM calls, spans and
    evaluation events, so each feature is one small query."""

    conn: duckdb.DuckDBPyConnection
    label: str
    tables: dict[str, str] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        conn: duckdb.DuckDBPyConnection,
        label: str,
        roots: str,
        where: str | None,
        all_calls: str,
        since: datetime | None = None,
    ) -> Selection:
        """Select the traces whose roots meet ``roots`` (and ``where``); ``all_calls`` is a
        table of :func:`.trace_sql.calls_table_sql` that covers them."""
        suffix = next(_ids)
        traces, evaluations = f"_lt_drift_traces_{suffix}", f"_lt_drift_evals_{suffix}"
        calls = f"(SELECT c.* FROM {all_calls} c SEMI JOIN {traces} t ON t.trace_id = c.trace_id)"
        conn.execute(traces_table_sql(traces, roots, where, all_calls, since))
        conn.execute(evaluations_table_sql(evaluations, traces))
        spans = (
            "(SELECT s.kind, s.tool_name, s.guardrail_policy, s.guardrail_action FROM spans s "
            f"SEMI JOIN {traces} t ON t.trace_id = s.trace_id)"
        )
        tables = {"traces": traces, "calls": calls, "spans": spans, "evaluations": evaluations}
        return cls(conn, label, tables)

    @property
    def trace_count(self) -> int:
        row = self.conn.execute(f"SELECT count(*) FROM {self.tables['traces']}").fetchone()
        return int(row[0]) if row else 0

    def evaluation_names(self) -> list[str]:
        rows = self.conn.execute(
            f"SELECT DISTINCT name FROM {self.tables['evaluations']} "
            "WHERE name IS NOT NULL AND score IS NOT NULL ORDER BY 1"
        ).fetchall()
        return [str(row[0]) for row in rows]

    def values_sql(self, feature: FeatureSpec) -> tuple[str, list[Any]]:
        """``SELECT value`` of the feature (NULLs left in: categorical features count them)."""
        if feature.table == "evaluations":
            return (
                f"SELECT score AS value FROM {self.tables['evaluations']} WHERE name = ?",
                [feature.column],
            )
        source = self.tables[feature.table]
        return f"SELECT {feature.column} AS value FROM {source} WHERE {feature.condition}", []


def score_feature(name: str) -> FeatureSpec:
    """The scores of one evaluation, as a numeric feature ``score.<name>``."""
    return FeatureSpec(f"score.{name}", "numeric", "evaluations", name)


def reference_bins(reference: Selection, feature: FeatureSpec) -> Bins | None:
    """Bins fixed from the reference's values; None when the reference has none."""
    sql, params = reference.values_sql(feature)
    if feature.kind == "numeric":
        row = reference.conn.execute(
            f"SELECT quantile_cont(value, ?::DOUBLE[]), count(value) FROM ({sql})",
            [_DECILES, *params],
        ).fetchone()
        if row is None or not row[1]:
            return None
        return Bins("numeric", edges=tuple(sorted({float(e) for e in row[0]})))
    rows = reference.conn.execute(
        f"SELECT coalesce(value::VARCHAR, '{NONE}') AS category, count(*) AS n FROM ({sql}) "
        f"GROUP BY 1 ORDER BY n DESC, category LIMIT {MAX_CATEGORIES}",
        params,
    ).fetchall()
    if not rows:
        return None
    return Bins("categorical", categories=tuple(sorted(str(r[0]) for r in rows)))


def count_bins(selection: Selection, feature: FeatureSpec, bins: Bins) -> list[int]:
    """How many of the selection's values fall in each bin (in :meth:`Bins.labels` order)."""
    sql, params = selection.values_sql(feature)
    if bins.kind == "numeric":
        index = " + ".join("(value > ?)::INTEGER" for _ in bins.edges) or "0"
        rows = selection.conn.execute(
            f"SELECT {index} AS bin, count(*) FROM ({sql}) WHERE value IS NOT NULL GROUP BY 1",
            [*bins.edges, *params],
        ).fetchall()
        counts = [0] * (len(bins.edges) + 1)
        for position, count in rows:
            counts[int(position)] = int(count)
        return counts
    rows = selection.conn.execute(
        f"SELECT coalesce(value::VARCHAR, '{NONE}') AS category, count(*) FROM ({sql}) GROUP BY 1",
        params,
    ).fetchall()
    labels = bins.labels()
    counts = [0] * len(labels)
    for category, count in rows:
        position = labels.index(category) if category in bins.categories else len(labels) - 1
        counts[position] += int(count)
    return counts
