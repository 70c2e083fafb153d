"""What every command shares: the --db option, user errors, and table/json/csv output."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import duckdb
import typer
from rich.console import Console
from rich.table import Table

from ..store.connection import StoreBusyError, StoreMissingError
from ..store.query import default_db_path, open_store_for_read

__all__ = ["DbOption", "OutputFormat", "UserError", "console", "emit_rows", "read_rows"]

console = Console()


class UserError(Exception):
    """A mistake in the command's input: printed as one line, exit code 2, no traceback."""


class OutputFormat(str, Enum):
    table = "table"
    json = "json"
    csv = "csv"


DbOption = Annotated[
    Path | None,
    typer.Option(
        "--db",
        help="The DuckDB store (default: $LLMTRACE_DB, else ./llmtrace.duckdb).",
        show_default=False,
    ),
]


def resolve_db(db: Path | None) -> Path:
    return default_db_path(db or os.environ.get("LLMTRACE_DB") or None)


def read_rows(
    db: Path | None, sql: str, params: Sequence[Any] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run read-only SQL; store and SQL problems become :class:`UserError`."""
    path = resolve_db(db)
    try:
        conn = open_store_for_read(path)
    except StoreMissingError:
        raise UserError(f"no llmtrace store at {path} (set --db or LLMTRACE_DB)") from None
    except StoreBusyError as exc:
        raise UserError(str(exc)) from None
    except duckdb.Error as exc:
        raise UserError(f"{path}: {_first_line(exc)}") from None
    try:
        result = conn.execute(sql, list(params)) if params else conn.execute(sql)
        if result.description is None:
            return [], []
        columns = [d[0] for d in result.description]
        return columns, result.fetchall()
    except duckdb.Error as exc:
        raise UserError(_first_line(exc)) from None
    finally:
        conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, (dict, list)):
        return json.dumps(value, default=str)
    return str(value)


def emit_rows(
    columns: list[str], rows: list[tuple[Any, ...]], fmt: OutputFormat, title: str | None = None
) -> None:
    """Print rows as a rich table, JSON (a list of objects) or CSV with a header."""
    if fmt == OutputFormat.json:
        records = [{c: _plain(v) for c, v in zip(columns, row, strict=False)} for row in rows]
        typer.echo(json.dumps(records, default=str, indent=2))
    elif fmt == OutputFormat.csv:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_plain(v) for v in row] for row in rows])
        typer.echo(buffer.getvalue(), nl=False)
    else:
        table = Table(title=title, show_lines=False)
        for column in columns:
            table.add_column(column, overflow="fold")
        for row in rows:
            table.add_row(*[_cell(v) for v in row])
        console.print(table)
