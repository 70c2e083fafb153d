"""``llmtrace traces``: recent traces one per line, or one trace as a span tree."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ._common import (
    DbOption,
    FormatOption,
    OutputFormat,
    emit_rows,
    id_column,
    limit_option,
    read_rows,
    resolve_prefix,
)
from ._table import Column, compact_number

if TYPE_CHECKING:
    from rich.text import Text

# rich draws one trace's tree and is imported for that alone: a listing loads no rich (#19).

_RECENT = """
SELECT trace_id, root_name, start_time, round(duration_ms, 1) AS duration_ms, span_count,
       input_tokens, output_tokens, cost_usd, has_error
FROM traces ORDER BY start_time DESC LIMIT ?
"""
_SPANS = """
SELECT span_id, parent_span_id, name, kind, status, status_message, duration_ms,
       input_tokens, output_tokens, cost_usd, model, tool_name, guardrail_action
FROM spans WHERE trace_id = ? ORDER BY start_time
"""


def started_column(times: list[Any]) -> Column:
    """Start times as ``HH:MM:SS`` when every one is today, else ``MM-DD HH:MM``."""
    today = datetime.now().astimezone().date()
    local = [t.astimezone() if isinstance(t, datetime) else t for t in times]
    same_day = all(isinstance(t, datetime) and t.date() == today for t in local)
    pattern = "%H:%M:%S" if same_day else "%m-%d %H:%M"

    def text(value: Any) -> str:
        return value.astimezone().strftime(pattern) if isinstance(value, datetime) else ""

    return Column("started", text=text, shrink=False)


def _list(limit: int, fmt: OutputFormat, db: Any) -> None:
    columns, rows = read_rows(db, _RECENT, [limit])
    emit_rows(
        columns,
        rows,
        fmt,
        display={
            "trace_id": id_column("trace", [r[0] for r in rows]),
            "root_name": Column("root"),
            "start_time": started_column([r[2] for r in rows]),
            "duration_ms": Column("ms", numeric=True),
            "span_count": Column("spans", numeric=True),
            "input_tokens": Column("in", numeric=True),
            "output_tokens": Column("out", numeric=True),
            "cost_usd": Column("cost", numeric=True),
            "has_error": Column("err", text=lambda v: "yes" if v else ""),
        },
    )


def _label(span: dict[str, Any]) -> Text:
    """One line per span, cut with an ellipsis at the terminal's edge (never wrapped)."""
    from rich.text import Text

    text = Text.from_markup(_markup(span), overflow="ellipsis")
    text.no_wrap = True
    return text


def _markup(span: dict[str, Any]) -> str:
    from rich.markup import escape

    failed = span["status"] == "ERROR"
    parts = [f"[bold]{escape(span['name'])}[/bold]", f"{compact_number(span['duration_ms'])} ms"]
    if failed:  # before the details, so a cut line still says it
        parts.append("[red]ERROR[/red]")
    if span["input_tokens"] is not None or span["output_tokens"] is not None:
        parts.append(f"tokens {span['input_tokens'] or 0}->{span['output_tokens'] or 0}")
    if span["cost_usd"] is not None:
        parts.append(f"${compact_number(span['cost_usd'])}")
    if span["guardrail_action"]:
        parts.append(f"action={escape(span['guardrail_action'])}")
    if failed and span["status_message"]:
        parts.append(f"[red]{escape(span['status_message'])}[/red]")
    return "  ".join(parts)


def traces(
    trace_id: Annotated[
        str | None,
        typer.Argument(
            metavar="TRACE_ID",
            help="Show this trace as a span tree; a unique prefix is enough.",
            show_default=False,
        ),
    ] = None,
    limit: Annotated[int, limit_option("traces")] = 20,
    fmt: FormatOption = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """List recent traces, or show one trace's span tree with durations, tokens and cost."""
    if trace_id is None:
        _list(limit, fmt, db)
        return
    full_id = resolve_prefix(db, "spans", "trace_id", trace_id, "trace")
    columns, rows = read_rows(db, _SPANS, [full_id])
    if fmt != OutputFormat.table:
        emit_rows(columns, rows, fmt)
        return
    spans = [dict(zip(columns, row, strict=False)) for row in rows]
    _draw(full_id, spans)


def _draw(full_id: str, spans: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.tree import Tree

    ids = {s["span_id"] for s in spans}
    nodes: dict[str, Tree] = {}
    root = Tree(f"trace {full_id}")
    for span in spans:  # ordered by start time, so parents come first
        parent = nodes.get(span["parent_span_id"]) if span["parent_span_id"] in ids else None
        nodes[span["span_id"]] = (parent or root).add(_label(span))
    Console().print(root)
