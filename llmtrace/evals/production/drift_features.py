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
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

import duckdb

from ... import semconv as sc
from .drift_histogram import bin_counts, quantiles_of_counts
from .drift_sql import (
    CODED_CALL_COLUMNS,
    calls_of_sides_sql,
    costs_table_sql,
    sides_table_sql,
    text_codes,
)
from .trace_sql import TEXT_KEY, evaluations_table_sql

__all__ = [
    "OTHER",
    "Bins",
    "FeatureSpec",
    "Selection",
    "bins_and_counts",
    "count_bins",
    "score_feature",
]

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
    table: Literal["traces", "calls", "costs", "spans", "evaluations"]
    column: str
    condition: str = "TRUE"
    # a number with few distinct values (a token count): counted value by value, its deciles
    # and bins then follow from the counts (:mod:`.drift_histogram`), with no pass of their own
    discrete: bool = False


_LLM = "llm"  # the calls table's flag of an ``llm`` call (not a judge's)
FEATURES: tuple[FeatureSpec, ...] = (
    FeatureSpec("input_tokens", "numeric", "calls", "input_tokens::DOUBLE", _LLM, True),
    FeatureSpec("output_tokens", "numeric", "calls", "output_tokens::DOUBLE", _LLM, True),
    FeatureSpec("latency_ms", "numeric", "traces", "root_ms"),
    FeatureSpec("cost_usd", "numeric", "costs", "cost_usd"),
    *(FeatureSpec(column, "categorical", "calls", column, _LLM) for column in CODED_CALL_COLUMNS),
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
    """Drift's two sides (reference ``sel`` 0, current ``sel`` 1) in temporary tables: their
    traces, and their LLM calls, spans and evaluation events each tagged with the side, so
    every feature of a table is binned and counted in one pass over it. ``codes``: the calls
    table's text columns held as codes, each code's value (see :mod:`.drift_sql`)."""

    conn: duckdb.DuckDBPyConnection
    labels: list[str]
    tables: dict[str, str] = field(default_factory=dict)
    codes: dict[str, dict[int, str | None]] = field(default_factory=dict)

    @classmethod
    def load(
        cls,
        conn: duckdb.DuckDBPyConnection,
        sides: Sequence[tuple[str, str, datetime | None]],
        where: str | None,
        since: datetime | None,
        key: Sequence[str] = TEXT_KEY,
    ) -> Selection:
        """Select each side's traces (``(label, roots, since)``: see
        :func:`.trace_sql.selections_table_sql`) in one scan, then their model calls that
        started at or after ``since`` in one join, and the traces' costs from those; ``key``:
        the trace columns to join on (:func:`.trace_sql.trace_key`)."""
        suffix = next(_ids)
        traces, evaluations = f"_lt_drift_traces_{suffix}", f"_lt_drift_evals_{suffix}"
        calls, spans = f"_lt_drift_calls_{suffix}", f"_lt_drift_spans_{suffix}"
        costs = f"_lt_drift_costs_{suffix}"
        selections = [(roots, start) for _, roots, start in sides]
        conn.execute(sides_table_sql(traces, selections, where, key))
        codes = text_codes(conn, CODED_CALL_COLUMNS)
        conn.execute(calls_of_sides_sql(calls, traces, since, key, codes))
        conn.execute(costs_table_sql(costs, calls))
        conn.execute(
            evaluations_table_sql(evaluations, traces, with_sel=True, key=key, clusters=False)
        )
        # the spans' features are all categorical: read by one pass, so a view (not copied)
        conn.execute(
            f"CREATE OR REPLACE TEMP VIEW {spans} AS SELECT t.sel, s.kind, s.tool_name, "
            f"s.guardrail_policy, s.guardrail_action FROM spans s JOIN {traces} t "
            f"USING ({', '.join(key)}) WHERE s.kind IN ('{sc.KIND_TOOL}', '{sc.KIND_GUARDRAIL}')"
        )
        tables = {
            "traces": traces,
            "calls": calls,
            "costs": costs,
            "spans": spans,
            "evaluations": evaluations,
        }
        return cls(conn, [label for label, _, _ in sides], tables, codes)

    def trace_count(self, sel: int) -> int:
        row = self.conn.execute(
            f"SELECT count(*) FROM {self.tables['traces']} WHERE sel = {sel}"
        ).fetchone()
        return int(row[0]) if row else 0

    def evaluation_names(self) -> list[str]:
        """The names of the reference's scored evaluations."""
        rows = self.conn.execute(
            f"SELECT DISTINCT name FROM {self.tables['evaluations']} "
            "WHERE sel = 0 AND name IS NOT NULL AND score IS NOT NULL ORDER BY 1"
        ).fetchall()
        return [str(row[0]) for row in rows]


def _coded(data: Selection, feature: FeatureSpec) -> dict[int, str | None] | None:
    """The values by code of a feature its table holds as codes, else None."""
    if feature.table != "calls" or feature.kind != "categorical":
        return None
    return data.codes.get(feature.column)


def _decode(codes: dict[int, str | None], code: Any) -> str:
    """The category of a code (``(none)`` for NULL's): every value the column holds has one."""
    if int(code) not in codes:
        raise RuntimeError(f"drift: a call feature's code {code} is no value of its column")
    value = codes[int(code)]
    return NONE if value is None else value


def _value(feature: FeatureSpec, coded: bool = False) -> str:
    """The feature's value on a row of its table; NULL when the row is not one of its rows
    (a categorical feature's missing value is ``(none)``, a number's is NULL: not counted).
    ``coded``: the column holds codes (NULL's too), read back after counting."""
    if coded:
        return f"CASE WHEN {feature.condition} THEN {feature.column} END"
    if feature.table == "evaluations":
        quoted = feature.column.replace("'", "''")
        return f"CASE WHEN name = '{quoted}' THEN score END"
    if feature.kind == "numeric":
        return f"CASE WHEN {feature.condition} THEN ({feature.column})::DOUBLE END"
    return f"CASE WHEN {feature.condition} THEN coalesce(({feature.column})::VARCHAR, '{NONE}') END"


def score_feature(name: str) -> FeatureSpec:
    """The scores of one evaluation, as a numeric feature ``score.<name>``."""
    return FeatureSpec(f"score.{name}", "numeric", "evaluations", name)


def _by_table(features: Sequence[FeatureSpec]) -> dict[str, list[FeatureSpec]]:
    found: dict[str, list[FeatureSpec]] = {}
    for feature in features:
        found.setdefault(feature.table, []).append(feature)
    return found


def _numeric_edges(
    data: Selection, table: str, features: list[FeatureSpec]
) -> dict[str, Bins | None]:
    columns = ", ".join(
        f"quantile_cont({_value(f)}, ?::DOUBLE[]), count({_value(f)})" for f in features
    )
    row = data.conn.execute(
        f"SELECT {columns} FROM {data.tables[table]} WHERE sel = 0", [_DECILES] * len(features)
    ).fetchone()
    assert row is not None
    found: dict[str, Bins | None] = {}
    for k, feature in enumerate(features):
        edges, count = row[2 * k], row[2 * k + 1]
        found[feature.name] = (
            Bins("numeric", edges=tuple(sorted({float(e) for e in edges}))) if count else None
        )
    return found


def _categorical(
    counts: dict[str, list[dict[str, int]]],
) -> tuple[dict[str, Bins | None], dict[tuple[int, str], list[int]]]:
    """Bins of the reference's most common categories (ties by name), and each side's counts
    in them, the rest in ``(other)``."""
    bins: dict[str, Bins | None] = {}
    binned: dict[tuple[int, str], list[int]] = {}
    for name, sides in counts.items():
        ranked = sorted(sides[0].items(), key=lambda item: (-item[1], item[0]))
        if not ranked:
            bins[name] = None
            continue
        categories = tuple(sorted(category for category, _ in ranked[:MAX_CATEGORIES]))
        bins[name] = Bins("categorical", categories=categories)
        for sel, seen in enumerate(sides):
            kept = [seen.get(category, 0) for category in categories]
            binned[(sel, name)] = [*kept, sum(seen.values()) - sum(kept)]
    return bins, binned


def _discrete(
    conn: duckdb.DuckDBPyConnection, sides: list[dict[str, int]]
) -> tuple[Bins | None, list[list[int]]]:
    """The bins of a discrete feature (the reference's deciles) and each side's counts in
    them, from each side's count of every value."""
    by_value = [{float(value): count for value, count in seen.items()} for seen in sides]
    if not by_value[0]:
        return None, []
    edges = tuple(sorted(set(quantiles_of_counts(conn, by_value[0], _DECILES))))
    return Bins("numeric", edges=edges), [bin_counts(seen, edges) for seen in by_value]


def bins_and_counts(
    data: Selection, features: Sequence[FeatureSpec]
) -> tuple[dict[str, Bins | None], dict[tuple[int, str], list[int]]]:
    """Each feature's bins, fixed from the reference (None when it has no values there), and
    both sides' counts in them, keyed by (side, feature). Per table: one query for the
    numbers' deciles, then one pass that counts both sides in the numbers' bins and every
    category (the reference's most common become the bins) and value of a discrete number
    (their deciles follow from those counts) of both sides."""
    found: dict[str, Bins | None] = {}
    counts: dict[tuple[int, str], list[int]] = {}
    for table, specs in _by_table(features).items():
        numeric = [f for f in specs if f.kind == "numeric" and not f.discrete]
        by_value = [f for f in specs if f.kind == "categorical" or f.discrete]
        edges = _numeric_edges(data, table, numeric) if numeric else {}
        found |= edges
        ready = {name: b for name, b in edges.items() if b is not None}
        seen, binned = _one_pass(
            data, table, by_value, [f for f in numeric if f.name in ready], ready
        )
        categories = {f.name: seen[f.name] for f in by_value if not f.discrete}
        if categories:
            bins, category_counts = _categorical(categories)
            found |= bins
            counts |= category_counts
        for feature in (f for f in by_value if f.discrete):
            found[feature.name], sides = _discrete(data.conn, seen[feature.name])
            counts |= {(sel, feature.name): side for sel, side in enumerate(sides)}
        counts |= binned
    return found, counts


def _bin_index(column: str, bins: Bins) -> tuple[str, list[Any]]:
    """SQL of the bin (its place in :meth:`Bins.labels`) of a value ``column``, NULL for none."""
    if bins.kind == "numeric":
        index = " + ".join(f"({column} > ?)::INTEGER" for _ in bins.edges) or "0"
        return f"CASE WHEN {column} IS NOT NULL THEN {index} END", [*bins.edges]
    return (
        f"coalesce(list_position(?::VARCHAR[], {column}) - 1, "
        f"CASE WHEN {column} IS NOT NULL THEN {len(bins.categories)} END)",
        [list(bins.categories)],
    )


def _one_pass(
    data: Selection,
    table: str,
    categorical: Sequence[FeatureSpec],
    numeric: Sequence[FeatureSpec],
    bins: dict[str, Bins],
) -> tuple[dict[str, list[dict[str, int]]], dict[tuple[int, str], list[int]]]:
    """One scan of ``table`` (GROUPING SETS feeds every count from it): each ``categorical``
    feature's count of every category (or value, as text, of a discrete number) per side
    (``[sel 0, sel 1]``), and each ``numeric`` feature's count per side in each of its
    ``bins`` (keyed by (side, feature))."""
    seen: dict[str, list[dict[str, int]]] = {f.name: [{}, {}] for f in categorical}
    counts = {(sel, f.name): [0] * len(bins[f.name].labels()) for sel in (0, 1) for f in numeric}
    if not categorical and not numeric:
        return seen, counts
    raw = [f"{_value(f)} AS v{k}" for k, f in enumerate(numeric)]
    codes = [_coded(data, f) for f in categorical]
    columns = [
        f"{_value(f, code is not None)} AS f{k}"
        for k, (f, code) in enumerate(zip(categorical, codes, strict=True))
    ]
    params: list[Any] = []
    for k, feature in enumerate(numeric):
        sql, found = _bin_index(f"v{k}", bins[feature.name])
        columns.append(f"{sql} AS f{len(categorical) + k}")
        params += found
    width = len(categorical) + len(numeric)
    # as text in the list (after grouping): categories and bin numbers side by side
    names = ", ".join(f"f{k}::VARCHAR" for k in range(width))
    grouped = ", ".join(f"grouping(f{k})" for k in range(width))
    sets = ", ".join(f"(sel, f{k})" for k in range(width))
    inner = f"SELECT *{''.join(', ' + r for r in raw)} FROM {data.tables[table]}"
    rows = data.conn.execute(
        f"SELECT sel, [{names}], [{grouped}], count(*) FROM (SELECT sel, {', '.join(columns)} "
        f"FROM ({inner})) GROUP BY GROUPING SETS ({sets})",
        params,
    ).fetchall()
    for sel, values, grouping, count in rows:
        k = list(grouping).index(0)
        if values[k] is None:  # a row that is not one of the feature's rows
            continue
        if k < len(categorical):
            side, code = seen[categorical[k].name][int(sel)], codes[k]
            value = str(values[k]) if code is None else _decode(code, values[k])
            side[value] = side.get(value, 0) + int(count)  # NULL and "(none)": one category
        else:
            counts[(int(sel), numeric[k - len(categorical)].name)][int(values[k])] += int(count)
    return seen, counts


def count_bins(
    data: Selection, features: Sequence[FeatureSpec], bins: dict[str, Bins]
) -> dict[tuple[int, str], list[int]]:
    """How many of each side's values fall in each bin of each numeric feature (in
    :meth:`Bins.labels` order), keyed by (side, feature): one pass over each table."""
    counts: dict[tuple[int, str], list[int]] = {}
    for table, specs in _by_table(features).items():
        counts |= _one_pass(data, table, [], specs, bins)[1]
    return counts
