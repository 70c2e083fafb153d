"""``llmtrace stats``: count, error rate, latency percentiles, tokens and cost by group."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Annotated

import typer

from ..semconv import PROMOTED_COLUMNS, SPAN_KINDS, context_attribute
from ._common import DbOption, FormatOption, OutputFormat, UserError, emit_rows, read_rows
from ._table import Column

# Promoted text columns that identify one span or call: a group each, nothing to compare.
IDENTIFIERS = ("prompt_hash", "tool_call_id", "eval_example_id", "response_id")
# The span's own text columns and every other promoted text column (semconv.PROMOTED_COLUMNS).
COLUMNS = (
    "kind",
    "name",
    "service_name",
    *(
        column
        for column, (_, sql_type) in PROMOTED_COLUMNS.items()
        if sql_type == "VARCHAR" and column not in IDENTIFIERS
    ),
    "status",
)
# Context keys kept as attributes rather than columns; `user` is short for `user_id`.
CONTEXT_KEYS = ("user_id", "session_id", "conversation_id")
_ALIASES = {"user": "user_id", "session": "session_id", "conversation": "conversation_id"}
KINDS = ("all", *SPAN_KINDS)
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.\-]*")


def parse_since(since: str) -> datetime:
    """``30m``, ``1h``, ``7d``, ``2w`` ago, or an ISO timestamp (UTC unless it says)."""
    text = since.strip()
    match = re.fullmatch(r"(\d+)\s*([smhdw])", text)
    if match:
        seconds = int(match.group(1)) * _UNITS[match.group(2)]
        return datetime.now(timezone.utc) - timedelta(seconds=seconds)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise UserError(
            f"--since {since!r}: use a duration (30m, 1h, 7d, 2w) or a timestamp "
            "(2026-11-01 or 2026-11-01T09:30)"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def group_expression(name: str) -> str:
    """The SQL for one ``--by`` name: a column, a context key, or ``context.KEY``."""
    if name in COLUMNS:
        return name
    key = _ALIASES.get(name, name)
    if key.startswith("context."):
        key = key.removeprefix("context.")
    elif key not in CONTEXT_KEYS:
        raise UserError(
            f"--by: unknown name {name!r}; choose from {', '.join(COLUMNS)}, user, session, "
            "conversation, or context.KEY for a key given to llmtrace.context()"
        )
    if not _NAME.fullmatch(key):
        raise UserError(f"--by {name!r}: not a context key")
    attribute = context_attribute(key).replace("'", "''")
    return f"attributes['{attribute}']::VARCHAR AS \"{key}\""


def parse_by(by: str) -> list[str]:
    names = [c.strip() for c in by.split(",") if c.strip()]
    if not names:
        raise UserError(f"--by {by!r}: name at least one column, like model or prompt_version")
    return [group_expression(n) for n in names]


# Model calls are counted once (the store's one-call-one-row rule, store/calls.py): a wrapper
# span around a provider's own span is not a second call.
_SOURCES = {
    "llm": "llm_calls",
    "judge": "(SELECT * FROM model_calls WHERE kind = 'judge' AND first_in_store)",
}


def stats_sql(groups: list[str], kind: str, since: datetime | None) -> tuple[str, list[object]]:
    where: list[str] = []
    params: list[object] = []
    source = _SOURCES.get(kind, "spans")
    if kind != "all" and source == "spans":
        where.append("kind = ?")
        params.append(kind)
    if since is not None:
        where.append("start_time >= ?")
        params.append(since)
    select = ", ".join(groups)
    group = ", ".join(str(i) for i in range(1, len(groups) + 1))
    names = ", ".join(g.rsplit(" AS ", 1)[-1] for g in groups)
    # Both percentiles from one aggregate state (the list form is 25% faster over 10M spans
    # than two quantile_cont calls); count_if is ~10% faster than avg(CASE ...).
    sql = f"""
SELECT {names}, count, error_rate, round(percentiles[1], 2) AS p50_ms,
       round(percentiles[2], 2) AS p95_ms, input_tokens, output_tokens, cost_usd
FROM (
    SELECT {select}, count(*) AS count,
           round(count_if(status = 'ERROR') / count(*), 4) AS error_rate,
           quantile_cont(duration_ms, [0.5, 0.95]) AS percentiles,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           sum(cost_usd) AS cost_usd
    FROM {source} {"WHERE " + " AND ".join(where) if where else ""}
    GROUP BY {group}
) ORDER BY count DESC
"""
    return sql, params


_DISPLAY = {
    "count": Column("n", numeric=True),
    "error_rate": Column("err%", numeric=True, text=lambda v: f"{v * 100:.1f}" if v else "0"),
    "p50_ms": Column("p50ms", numeric=True),
    "p95_ms": Column("p95ms", numeric=True),
    "input_tokens": Column("in", numeric=True),
    "output_tokens": Column("out", numeric=True),
    "cost_usd": Column("cost$", numeric=True),
}


def stats(
    by: Annotated[
        str,
        typer.Option(
            help="Comma-separated: span columns (model, prompt_version...), user, session, "
            "conversation, or context.KEY.",
            metavar="NAMES",
        ),
    ] = "model",
    since: Annotated[
        str | None,
        typer.Option(
            help="Only spans started since: 30m, 1h, 7d, 2w, or a timestamp.", metavar="WHEN"
        ),
    ] = None,
    kind: Annotated[
        str, typer.Option(help=f"Span kind: {', '.join(KINDS)}.", metavar="KIND")
    ] = "llm",
    fmt: FormatOption = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """Count, error rate, p50/p95 latency, tokens and cost, grouped (LLM calls by default)."""
    if kind not in KINDS:
        raise UserError(f"--kind {kind!r}: choose from {', '.join(KINDS)}")
    sql, params = stats_sql(parse_by(by), kind, parse_since(since) if since else None)
    columns, rows = read_rows(db, sql, params)
    emit_rows(columns, rows, fmt, display=_DISPLAY)
