"""The SQL behind production gates: one temporary table of the window's traces, then one
``(cluster, value)`` relation per metric, every aggregation left to DuckDB.

A trace belongs to a window when its root span (no parent) started inside it. ``--where`` is a
SQL condition on the ``spans`` columns: a trace is kept when at least one of its spans meets it
(``service_name = 'bot'``, ``prompt_version = 'v3'``, ``attributes['tenant']::VARCHAR = 'acme'``).
Each trace is put in a cluster: its conversation, else its session, else its user, else the
trace alone, read from its root span (``llmtrace.context`` stamps every span, the root too;
reading every span's attributes cost 3x the time of the whole gate on a large store).
Costs and tokens come from ``model_calls`` (one model call, one row), as in the ``traces`` view.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from ... import semconv as sc
from ...store.keys import KEYED_STORE_SQL
from .windows import Window

__all__ = [
    "CLUSTER_LEVELS",
    "INT_KEY",
    "PER_TRACE_VALUES",
    "TEXT_KEY",
    "calls_table_sql",
    "cluster_level_sql",
    "evaluations_table_sql",
    "matched_sql",
    "observations_sql",
    "roots_sql",
    "run_roots",
    "selection_view_sql",
    "selections_table_sql",
    "since_case",
    "timestamp_sql",
    "trace_key",
    "trace_key_on",
    "traces_table_sql",
    "window_roots",
]

# How much earlier than its root a span of the same trace may start (clocks of services differ).
SKEW = timedelta(minutes=5)
# The observation sources with one value per trace, and that value (a column of the traces).
PER_TRACE_VALUES: dict[str, str] = {
    "root_ms": "root_ms",
    "error": "has_error::DOUBLE",
    "cost": "coalesce(cost_usd, 0.0)",
    "tokens": "tokens::DOUBLE",
}
# The order clusters are chosen in: the first attribute a trace carries wins.
CLUSTER_LEVELS: tuple[tuple[str, str], ...] = (
    ("conversation", sc.GEN_AI_CONVERSATION_ID),
    ("session", sc.SESSION_ID),
    ("user", sc.USER_ID),
)


# The columns a trace is joined and grouped on: its text id, or (a store whose every span has
# them, store/keys.py) the two integer halves of it, which hash and compare several times faster.
TEXT_KEY: tuple[str, ...] = ("trace_id",)
INT_KEY: tuple[str, ...] = ("trace_hi", "trace_lo")


def trace_key(conn: Any) -> tuple[str, ...]:
    """:data:`INT_KEY` when every span of the store (or Parquet export) has its integer trace
    keys, else :data:`TEXT_KEY`."""
    columns = {str(row[0]) for row in conn.execute("DESCRIBE spans").fetchall()}
    if not set(INT_KEY) <= columns:
        return TEXT_KEY
    row = conn.execute(KEYED_STORE_SQL).fetchone()
    return INT_KEY if row and row[0] else TEXT_KEY


def trace_key_on(key: Sequence[str], left: str, right: str) -> str:
    """The join condition of two relations' traces on ``key``."""
    return " AND ".join(f"{left}.{column} = {right}.{column}" for column in key)


def _key_list(key: Sequence[str], alias: str = "") -> str:
    return ", ".join(f"{alias}{column}" for column in key)


def timestamp_sql(moment: datetime) -> str:
    """The SQL literal of ``moment`` (in UTC)."""
    return f"TIMESTAMPTZ '{moment.astimezone(timezone.utc).isoformat()}'"


def window_roots(window: Window) -> str:
    """The condition on ``spans`` that picks the root spans that started in ``window``."""
    return (
        f"parent_span_id IS NULL AND start_time >= {timestamp_sql(window.start)} "
        f"AND start_time < {timestamp_sql(window.end)}"
    )


def run_roots(run_id: str) -> str:
    """The condition on ``spans`` that picks the root spans of an eval run's traces."""
    quoted = run_id.replace("'", "''")
    return (
        "parent_span_id IS NULL AND trace_id IN "
        f"(SELECT trace_id FROM spans WHERE eval_run_id = '{quoted}')"
    )


def calls_table_sql(
    table: str,
    since: datetime | None,
    *,
    finish_reasons: bool = True,
    key: Sequence[str] = TEXT_KEY,
) -> str:
    """``CREATE TEMP TABLE table``: the model calls (one call, one row, counted once per trace)
    that started at or after ``since``, with the columns gates and drift read. ``model_calls``
    is the costly view of the store (its rule walks the span tree), so one gate or drift
    evaluates it once, for every window. ``finish_reasons``: drift's features (the model,
    prompt version and finish reasons, promoted columns), which a gate leaves out. ``key``:
    the trace columns it carries (:func:`trace_key`)."""
    after = f"AND start_time >= {timestamp_sql(since)}" if since is not None else ""
    features = ", model, prompt_version, finish_reasons" if finish_reasons else ""
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
SELECT {_key_list(key)}, kind, duration_ms, cost_usd, input_tokens, output_tokens{features}
FROM model_calls WHERE first_in_trace {after}
"""


def matched_sql(
    where: str | None, selections: Sequence[tuple[str, datetime | None]], key: Sequence[str]
) -> str:
    """The ``matched AS (...),`` CTE of the traces with a recent span that meets ``where``
    (with that span's latest start, ``last_at``), or nothing without ``where``."""
    if not where:
        return ""
    return (
        f"matched AS (SELECT {_key_list(key)}, max(start_time) AS last_at FROM spans "
        f"WHERE ({where}) {_recent(selections)} GROUP BY {_key_list(key)}),"
    )


def _recent(selections: Sequence[tuple[str, datetime | None]]) -> str:
    """A condition on ``spans`` that skips row groups older than every selection's start."""
    starts = [since for _, since in selections]
    if any(since is None for since in starts):
        return ""
    earliest = min(since for since in starts if since is not None)
    return f"AND start_time >= {timestamp_sql(earliest - SKEW)}"


def since_case(selections: Sequence[tuple[str, datetime | None]], column: str) -> str:
    """``column`` is late enough for the row's selection: at or after its start less ``SKEW``
    (a run has no start: any time is)."""
    arms = " ".join(
        f"WHEN {k} THEN {column} >= {timestamp_sql(since - SKEW)}"
        if since is not None
        else f"WHEN {k} THEN {column} IS NOT NULL"
        for k, (_, since) in enumerate(selections)
    )
    return f"coalesce(CASE r.sel {arms} END, FALSE)"


def roots_sql(
    selections: Sequence[tuple[str, datetime | None]],
    read: tuple[tuple[str, str], ...],
    key: Sequence[str],
    with_id: bool = True,
) -> str:
    """Per selection and trace: its first root's start and latency, and each cluster level
    of ``read`` (the earliest root's); grouped on ``key`` (its text id is the same on every
    row of a group; ``with_id``: the text id is wanted beside another key). Each selection's
    roots come from a scan of their own, which skips the row groups outside its window (one
    scan of every root of either window, each listed with its selections, cost more)."""
    # each attribute read by name in the scan (DuckDB reads only its shredded column)
    attributes = "".join(f", attributes['{attr}']::VARCHAR AS {level}" for level, attr in read)
    labels = "".join(f", arg_min({level}, start_time) AS {level}" for level, _ in read)
    text_id = ", any_value(trace_id) AS trace_id" if with_id and tuple(key) != TEXT_KEY else ""
    columns = _key_list(key)
    scans = "\n        UNION ALL\n".join(
        f"        SELECT {k} AS sel, {columns}{', trace_id' if text_id else ''}, start_time, "
        f"duration_ms{attributes} FROM spans WHERE ({roots})"
        for k, (roots, _) in enumerate(selections)
    )
    return f"""
    SELECT sel, {columns}{text_id}, min(start_time) AS start_time,
           arg_min(duration_ms, start_time) AS root_ms{labels}
    FROM (
{scans}
    )
    GROUP BY sel, {columns}
"""


def selections_table_sql(
    table: str,
    selections: Sequence[tuple[str, datetime | None]],
    where: str | None,
    calls: str,
    levels: int = len(CLUSTER_LEVELS),
    key: Sequence[str] = TEXT_KEY,
    clusters: bool = True,
) -> str:
    """``CREATE TEMP TABLE table``: one row per selection ``sel`` (its place in
    ``selections``) and trace whose root span meets that selection's condition (see
    :func:`window_roots`, :func:`run_roots`) and, when given, ``where``, with its cluster, root
    latency, error flag, cost (NULL when no call was priced) and tokens; ``calls`` is a table
    from :func:`calls_table_sql` that covers these traces.

    Every selection (a gate's window and baseline, drift's reference and current) comes from
    one table: its roots from a scan of its window's row groups (:func:`roots_sql`), the error
    and ``where`` flags from one scan of the spans that carry them: a trace has an error (or
    matches) when one of its spans does and started no earlier than its selection's start
    (``since``, None for a run) less ``SKEW`` of clock difference between services, which
    also lets DuckDB skip older row groups.

    Only the first ``levels`` of :data:`CLUSTER_LEVELS` are read (each attribute missing from
    the shredded columns costs a pass over every root's attributes): a trace without them is
    clustered alone until :func:`cluster_level_sql` reads the next level for it. ``key``: the
    columns traces are joined on (:func:`trace_key`; ``calls`` carries them), which the table
    carries beside ``trace_id``. Without ``clusters`` (drift reads none) every ``cluster`` is
    NULL and, with an integer key, the table has no ``trace_id``: 2M such texts cost 0.5 s."""
    read = CLUSTER_LEVELS[:levels]
    level_case = " ".join(f"WHEN r.{level} IS NOT NULL THEN '{level}'" for level, _ in read)
    cluster = "".join(f"'{level}:' || r.{level}, " for level, _ in read)
    keep = f"AND {since_case(selections, 'm.last_at')}" if where else ""
    join_matched = f"LEFT JOIN matched m ON {trace_key_on(key, 'm', 'r')}" if where else ""
    ids = [*key] if tuple(key) == TEXT_KEY or not clusters else [*key, "trace_id"]
    cluster = f"coalesce({cluster}'trace:' || r.trace_id)" if clusters else "NULL::VARCHAR"
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
WITH roots AS ({roots_sql(selections, read, key, clusters)}),
errors AS (
    SELECT {_key_list(key)}, max(start_time) AS last_at FROM spans
    WHERE status = 'ERROR' {_recent(selections)} GROUP BY {_key_list(key)}
),
{matched_sql(where, selections, key)}
calls AS (
    SELECT {_key_list(key)}, sum(cost_usd) AS cost_usd,
           sum(coalesce(input_tokens, 0) + coalesce(output_tokens, 0)) AS tokens
    FROM {calls}
    GROUP BY {_key_list(key)}
)
SELECT r.sel, {_key_list(ids, "r.")}, r.start_time, r.root_ms,
       {since_case(selections, "e.last_at")} AS has_error,
       {f"CASE {level_case} ELSE 'trace' END" if read else "'trace'"} AS cluster_level,
       {cluster} AS cluster,
       c.cost_usd, coalesce(c.tokens, 0) AS tokens
FROM roots r LEFT JOIN errors e ON {trace_key_on(key, "e", "r")}
{join_matched}
LEFT JOIN calls c ON {trace_key_on(key, "c", "r")}
WHERE TRUE {keep}
"""


def selection_view_sql(view: str, table: str, sel: int) -> str:
    """``CREATE TEMP VIEW view``: the traces of one selection of a
    :func:`selections_table_sql` table, as :func:`traces_table_sql` would have made them."""
    return (
        f"CREATE OR REPLACE TEMP VIEW {view} AS "
        f"SELECT * EXCLUDE (sel) FROM {table} WHERE sel = {sel}"
    )


def cluster_level_sql(
    table: str, selections: Sequence[tuple[str, datetime | None]], level: int
) -> str:
    """``UPDATE table`` (of :func:`selections_table_sql`): the traces still clustered alone
    that carry ``CLUSTER_LEVELS[level]``'s attribute on a root take that cluster; only their
    roots' attributes are read."""
    name, attr = CLUSTER_LEVELS[level]
    member = ", ".join(
        f"CASE WHEN ({roots}) THEN {k} END" for k, (roots, _) in enumerate(selections)
    )
    anywhere = " OR ".join(f"({roots})" for roots, _ in selections)
    return f"""
UPDATE {table} SET cluster_level = '{name}', cluster = '{name}:' || f.label
FROM (
    SELECT sel, trace_id, arg_min(label, start_time) AS label
    FROM (
        SELECT trace_id, start_time, attributes['{attr}']::VARCHAR AS label,
               unnest(list_filter([{member}], lambda k: k IS NOT NULL)) AS sel
        FROM spans
        WHERE ({anywhere})
          AND trace_id IN (SELECT trace_id FROM {table} WHERE cluster_level = 'trace')
    )
    GROUP BY sel, trace_id
) f
WHERE f.sel = {table}.sel AND f.trace_id = {table}.trace_id AND {table}.cluster_level = 'trace'
  AND f.label IS NOT NULL
"""


def traces_table_sql(
    table: str, roots: str, where: str | None, calls: str, since: datetime | None = None
) -> str:
    """``CREATE TEMP TABLE table`` of one selection (see :func:`selections_table_sql`):
    the traces whose root span meets ``roots``; ``since`` is the selection's start."""
    return selections_table_sql(table, [(roots, since)], where, calls)


def evaluations_table_sql(
    table: str,
    traces: str,
    *,
    with_sel: bool = False,
    key: Sequence[str] = TEXT_KEY,
    clusters: bool = True,
) -> str:
    """``CREATE TEMP TABLE table``: every ``gen_ai.evaluation.result`` event on a span of the
    window's traces, with its name, score, kind (``llmtrace.evaluation.kind``) and cluster;
    ``with_sel``: ``traces`` is a :func:`selections_table_sql` table, and each event is
    listed once per selection its trace is in, with that ``sel``; ``key``: the columns
    ``traces`` is joined on (:func:`trace_key`); without ``clusters`` (``traces`` has none)
    every ``cluster`` is NULL. The spans are joined to the traces once, then their events read
    (a join before and one after cost a second hash table of every trace)."""
    sel = "t.sel, " if with_sel else ""
    cluster = "t.cluster" if clusters else "NULL::VARCHAR"
    shape = '[{"name": "VARCHAR", "attributes": "JSON"}]'
    return f"""
CREATE OR REPLACE TEMP TABLE {table} AS
WITH events AS (
    SELECT {sel}s.trace_id, s.span_id, {cluster} AS cluster,
           unnest(from_json(s.events, '{shape}')) AS event
    FROM spans s JOIN {traces} t ON {trace_key_on(key, "t", "s")}
    WHERE s.events LIKE '%{sc.GEN_AI_EVALUATION_RESULT_EVENT}%'
)
SELECT {sel.replace("t.", "")}trace_id, span_id, cluster,
       event.attributes->>'{sc.GEN_AI_EVALUATION_NAME}' AS name,
       TRY_CAST(event.attributes->>'{sc.GEN_AI_EVALUATION_SCORE_VALUE}' AS DOUBLE) AS score,
       event.attributes->>'{sc.EVALUATION_KIND}' AS kind
FROM events
WHERE event.name = '{sc.GEN_AI_EVALUATION_RESULT_EVENT}'
"""


def observations_sql(
    source: str,
    traces: str,
    evaluations: str,
    calls: str,
    since: datetime | None = None,
    key: Sequence[str] = TEXT_KEY,
) -> str:
    """A ``SELECT cluster, value`` of one metric's observations; ``?`` stands for the policy or
    evaluation name when the source has one. ``since`` (the window's start) skips guardrail
    spans that started more than ``SKEW`` before it, as errors are (and older row groups).

    Sources: ``root_ms``, ``llm_ms``, ``error``, ``cost``, ``tokens``, ``block`` (a guardrail
    check of one policy), ``score`` and ``violation`` (evaluations of one name) and
    ``any_violation`` (per trace with any safety evaluation).
    """
    if source in PER_TRACE_VALUES:
        return f"SELECT cluster, {PER_TRACE_VALUES[source]} AS value FROM {traces}"
    if source == "llm_ms":
        return (
            f"SELECT t.cluster, c.duration_ms AS value FROM {calls} c "
            f"JOIN {traces} t ON {trace_key_on(key, 't', 'c')} WHERE c.kind = '{sc.KIND_LLM}'"
        )
    if source == "block":
        recent = f"AND s.start_time >= {timestamp_sql(since - SKEW)}" if since is not None else ""
        return (
            f"SELECT t.cluster, (s.guardrail_action = 'block')::DOUBLE AS value FROM spans s "
            f"JOIN {traces} t ON {trace_key_on(key, 't', 's')} "
            f"WHERE s.kind = '{sc.KIND_GUARDRAIL}' AND s.guardrail_policy = ? {recent}"
        )
    if source == "score":
        return (
            f"SELECT cluster, score AS value FROM {evaluations} "
            "WHERE name = ? AND score IS NOT NULL"
        )
    if source == "violation":
        return (
            f"SELECT cluster, (score >= 1.0)::DOUBLE AS value FROM {evaluations} "
            "WHERE name = ? AND score IS NOT NULL"
        )
    if source == "any_violation":
        return (
            f"SELECT cluster, max((score >= 1.0)::DOUBLE) AS value FROM {evaluations} "
            "WHERE kind = 'safety' AND score IS NOT NULL GROUP BY trace_id, cluster"
        )
    raise ValueError(f"unknown observation source {source!r}")
