"""``llmtrace traces``: recent traces one per line, or one trace as a span tree."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.tree import Tree

from ._common import DbOption, OutputFormat, UserError, console, emit_rows, read_rows

_RECENT = """
SELECT left(trace_id, 16) AS trace_id, root_name, start_time,
       round(duration_ms, 1) AS duration_ms, span_count,
       input_tokens, output_tokens, cost_usd, has_error
FROM traces ORDER BY start_time DESC LIMIT ?
"""
_SPANS = """
SELECT span_id, parent_span_id, name, kind, status, status_message, duration_ms,
       input_tokens, output_tokens, cost_usd, model, tool_name, guardrail_action
FROM spans WHERE trace_id LIKE ? || '%' ORDER BY start_time
"""


def _label(span: dict[str, Any]) -> str:
    parts = [f"[bold]{span['name']}[/bold]", f"{span['duration_ms']:.1f} ms"]
    if span["input_tokens"] is not None or span["output_tokens"] is not None:
        parts.append(f"tokens {span['input_tokens'] or 0}->{span['output_tokens'] or 0}")
    if span["cost_usd"] is not None:
        parts.append(f"${span['cost_usd']:.6f}")
    if span["guardrail_action"]:
        parts.append(f"action={span['guardrail_action']}")
    if span["status"] == "ERROR":
        parts.append(f"[red]ERROR {span['status_message'] or ''}[/red]")
    return "  ".join(parts)


def traces(
    trace_id: Annotated[str | None, typer.Argument(help="A trace id (or unique prefix).")] = None,
    limit: Annotated[int, typer.Option(help="How many recent traces.")] = 20,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """List recent traces, or show one trace's span tree with durations, tokens and cost."""
    if trace_id is None:
        columns, rows = read_rows(db, _RECENT, [limit])
        emit_rows(columns, rows, fmt, title="recent traces")
        return
    columns, rows = read_rows(db, _SPANS, [trace_id.lower()])
    spans = [dict(zip(columns, row, strict=False)) for row in rows]
    if not spans:
        raise UserError(f"no trace with id starting {trace_id!r}")
    if fmt != OutputFormat.table:
        emit_rows(columns, rows, fmt)
        return
    ids = {s["span_id"] for s in spans}
    nodes: dict[str, Tree] = {}
    root = Tree(f"trace {trace_id}")
    for span in spans:  # ordered by start time, so parents come first
        parent = nodes.get(span["parent_span_id"]) if span["parent_span_id"] in ids else None
        nodes[span["span_id"]] = (parent or root).add(_label(span))
    console.print(root)
