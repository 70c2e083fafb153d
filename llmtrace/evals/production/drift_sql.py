"""The SQL of drift's tables: each side's traces, their model calls and their costs, each made
once and read by every feature of it (see :class:`.drift_features.Selection`).

Drift reads less of a trace than a gate does (no cluster, no error flag, no tokens), so its
traces come from the root spans alone, and its calls from one join of ``model_calls`` to them:
a call's side, its features and its trace's row in one table, from which each trace's cost is
summed (a trace without a priced call has no cost, as in a gate's table).

The calls table is 4M rows over 10M spans, and a text column costs it as much as the rest: so
it holds no text. A call's kind is a flag (``llm``); its text features are their 64-bit hashes
where :func:`text_codes` finds them one to one on every value of that column in ``spans`` (the
view copies its values from there), and are read back as text after counting.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from ... import semconv as sc
from .trace_sql import (
    TEXT_KEY,
    matched_sql,
    roots_sql,
    since_case,
    timestamp_sql,
    trace_key_on,
)

__all__ = [
    "CODED_CALL_COLUMNS",
    "calls_of_sides_sql",
    "costs_table_sql",
    "sides_table_sql",
    "text_codes",
]

# What drift's call features read, beside the side, the trace's row and the ``llm`` flag.
_CALL_COLUMNS = ("cost_usd", "input_tokens", "output_tokens")
# The text columns a call's features read, each as its hash when text_codes allows it.
CODED_CALL_COLUMNS = ("model", "prompt_version", "finish_reasons")
# The SQL of a value's code (a UBIGINT; NULL has one too): one place, so a test can make codes
# that collide.
CODE_SQL = "hash({})"


def text_codes(conn: Any, columns: Sequence[str]) -> dict[str, dict[int, str | None]]:
    """Per column of ``spans``: every value it holds (NULL too) by its code, for the columns
    whose values all have codes of their own (a column where two values share a code is left
    out, and read as text). DuckDB finds a column's distinct values from its dictionaries in a
    few milliseconds, but takes 10M NULLs one by one (80 ms): a column with no value is not
    asked (its row groups' statistics answer that)."""
    codes: dict[str, dict[int, str | None]] = {}
    for column in columns:
        held = conn.execute(f"SELECT 1 FROM spans WHERE {column} IS NOT NULL LIMIT 1")
        values = f"SELECT DISTINCT {column} AS v FROM spans" if held.fetchall() else ""
        rows = conn.execute(
            f"SELECT {CODE_SQL.format('v')}, v FROM (SELECT NULL::VARCHAR AS v "
            f"{'UNION ' + values if values else ''})"
        ).fetchall()
        found = {int(code): None if value is None else str(value) for code, value in rows}
        if len(found) == len(rows):
            codes[column] = found
    return codes


def sides_table_sql(
    table: str,
    selections: Sequence[tuple[str, datetime | None]],
    where: str | None,
    key: Sequence[str] = TEXT_KEY,
) -> str:
    """``CREATE TEMP TABLE table``: one row per selection ``sel`` and trace whose root meets
    that selection's condition and, when given, ``where`` (as
    :func:`.trace_sql.selections_table_sql` keeps them), with its ``key`` and root latency
    ``root_ms``."""
    keep = f"AND {since_case(selections, 'm.last_at')}" if where else ""
    join_matched = f"LEFT JOIN matched m ON {trace_key_on(key, 'm', 'r')}" if where else ""
    columns = ", ".join(f"r.{column}" for column in key)
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
WITH {matched_sql(where, selections, key)}
roots AS ({roots_sql(selections, (), key, with_id=False)})
SELECT r.sel, {columns}, r.root_ms
FROM roots r {join_matched}
WHERE TRUE {keep}
"""


def calls_of_sides_sql(
    table: str,
    traces: str,
    since: datetime | None,
    key: Sequence[str] = TEXT_KEY,
    coded: Collection[str] = (),
) -> str:
    """``CREATE TEMP TABLE table``: every model call (one call, one row, counted once per
    trace) of a trace of ``traces`` (a :func:`sides_table_sql` table, joined on ``key``) that
    started at or after ``since``, with its trace's side ``sel`` and row in ``traces``
    (``trace_row``), ``llm`` (its kind is ``llm``, not ``judge``) and the columns drift's
    features read, those of :data:`CODED_CALL_COLUMNS` in ``coded`` as their codes; a call of
    a trace on both sides is listed once for each."""
    after = f"AND c.start_time >= {timestamp_sql(since)}" if since is not None else ""
    columns = [f"c.{column}" for column in _CALL_COLUMNS] + [
        f"{CODE_SQL.format('c.' + column)} AS {column}" if column in coded else f"c.{column}"
        for column in CODED_CALL_COLUMNS
    ]
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT t.sel, t.rowid AS trace_row, c.kind = '{sc.KIND_LLM}' AS llm, {", ".join(columns)}
FROM model_calls c JOIN {traces} t ON {trace_key_on(key, "t", "c")}
WHERE c.first_in_trace {after}
"""


def costs_table_sql(table: str, calls: str) -> str:
    """``CREATE TEMP TABLE table``: each side's traces that have a call in ``calls`` (a
    :func:`calls_of_sides_sql` table) with the sum of their calls' costs (NULL when none was
    priced), grouped on the trace's row (one integer, where its key is two or a text)."""
    return (
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT sel, sum(cost_usd) AS cost_usd "
        f"FROM {calls} GROUP BY trace_row, sel"
    )
