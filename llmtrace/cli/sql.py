"""``llmtrace sql QUERY``: read-only SQL over the store."""

from __future__ import annotations

from typing import Annotated

import typer

from ._common import DbOption, FormatOption, OutputFormat, UserError, emit_rows, read_rows


def sql(
    query: Annotated[
        str,
        typer.Argument(metavar="QUERY", help='SQL to run, like "SELECT * FROM traces LIMIT 5".'),
    ],
    fmt: FormatOption = OutputFormat.table,
    db: DbOption = None,
    allow_files: Annotated[
        bool,
        typer.Option(
            "--allow-files",
            help="Let the SQL read and write other files (COPY, read_csv, ATTACH...). "
            "Off by default: the query sees only the store.",
        ),
    ] = False,
) -> None:
    """Run read-only SQL over spans and eval records (tables spans, eval_runs...; views
    llm_calls, tool_calls, traces). The store is never changed, and unless --allow-files no
    other file is read or written and nothing is installed."""
    if not query.strip():
        raise UserError('empty SQL: give a query, like "SELECT * FROM traces LIMIT 5"')
    try:
        columns, rows = read_rows(db, query, sandboxed=not allow_files)
    except UserError as exc:
        if "read-only" in str(exc):
            raise UserError(f"llmtrace sql only reads: {exc}") from None
        raise
    emit_rows(columns, rows, fmt)
