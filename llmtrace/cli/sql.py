"""``llmtrace sql QUERY``: read-only SQL over the store."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import DbOption, OutputFormat, UserError, emit_rows, read_rows


def sql(
    query: Annotated[str, typer.Argument(help="SQL to run; the store is opened read-only.")],
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """Run read-only SQL over spans and eval records (tables spans, eval_runs...; views
    llm_calls, tool_calls, traces)."""
    try:
        columns, rows = read_rows(db, query)
    except UserError as exc:
        if "read-only" in str(exc):
            raise UserError(f"llmtrace sql only reads: {exc}") from None
        raise
    emit_rows(columns, rows, fmt)
