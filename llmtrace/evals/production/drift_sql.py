"""The SQL of drift's tables: each side's traces, their model calls and their costs, each made
once and read by every feature of it (see :class:`.drift_features.Selection`).

Drift reads less of a trace than a gate does (no cluster, no error flag, no tokens), so its
traces come from the root spans alone, and its calls from one join of ``model_calls`` to them:
a call's side, its features and its trace's key in one table, from which each trace's cost is
summed (a trace without a priced call has no cost, as in a gate's table).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from .trace_sql import (
    TEXT_KEY,
    matched_sql,
    roots_sql,
    since_case,
    timestamp_sql,
    trace_key_on,
)

__all__ = ["calls_of_sides_sql", "costs_table_sql", "sides_table_sql"]

# What drift's call features read, beside the side and the trace key.
_CALL_COLUMNS = (
    "kind",
    "cost_usd",
    "input_tokens",
    "output_tokens",
    "model",
    "prompt_version",
    "finish_reasons",
)


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
    table: str, traces: str, since: datetime | None, key: Sequence[str] = TEXT_KEY
) -> str:
    """``CREATE TEMP TABLE table``: every model call (one call, one row, counted once per
    trace) of a trace of ``traces`` (a :func:`sides_table_sql` table) that started at or after
    ``since``, with its trace's side ``sel`` and ``key`` and the columns drift's features read;
    a call of a trace on both sides is listed once for each."""
    after = f"AND c.start_time >= {timestamp_sql(since)}" if since is not None else ""
    columns = ", ".join(f"c.{column}" for column in (*key, *_CALL_COLUMNS))
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT t.sel, {columns}
FROM model_calls c JOIN {traces} t ON {trace_key_on(key, "t", "c")}
WHERE c.first_in_trace {after}
"""


def costs_table_sql(table: str, calls: str, key: Sequence[str] = TEXT_KEY) -> str:
    """``CREATE TEMP TABLE table``: each side's traces that have a call in ``calls`` (a
    :func:`calls_of_sides_sql` table) with the sum of their calls' costs (NULL when none was
    priced)."""
    return (
        f"CREATE OR REPLACE TEMP TABLE {table} AS SELECT sel, sum(cost_usd) AS cost_usd "
        f"FROM {calls} GROUP BY sel, {', '.join(key)}"
    )
