"""What every command shares: the --db option, reading rows, and table/json/csv output."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UserError
from ._store import check_tables, readable_store, resolve_db
from ._table import Column, render, short_ids

__all__ = [
    "DbOption",
    "FormatOption",
    "LimitOption",
    "OutputFormat",
    "UserError",
    "emit_rows",
    "read_rows",
    "resolve_db",
    "resolve_prefix",
]


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
        metavar="PATH",
    ),
]
FormatOption = Annotated[
    OutputFormat,
    typer.Option(
        "--format", "-f", help="table fits the terminal; json and csv are complete.", metavar="FMT"
    ),
]


def limit_option(what: str) -> Any:
    return typer.Option(min=1, help=f"How many recent {what} to show.", metavar="N")


LimitOption = Annotated[int, limit_option("rows")]


def read_rows(
    db: Path | None,
    sql: str,
    params: Sequence[Any] | None = None,
    *,
    sandboxed: bool = False,
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Run read-only SQL; store and SQL problems become :class:`UserError`. ``sandboxed``: the
    SQL can reach no other file and no network (see ``connect_read``)."""
    import duckdb  # here, not at the top: a command's --help needs no DuckDB (~90 ms)

    from ..store.connection import StoreMissingError
    from ..store.query import open_store_for_read

    path = readable_store(db, check_schema=False)  # checked on the connection that reads
    try:  # a busy or unusable store is mapped to exit 2 by main(), with its own message
        conn = open_store_for_read(path, sandboxed=sandboxed)
    except StoreMissingError:
        raise UserError(f"no llmtrace store at {path} (set --db or LLMTRACE_DB)") from None
    except duckdb.Error as exc:
        raise UserError(f"{path}: {first_line(exc)}") from None
    try:
        check_tables(conn, path)
        result = conn.execute(sql, list(params)) if params else conn.execute(sql)
        if result is None:  # only comments or semicolons
            raise UserError(f"no SQL statement in {sql!r}")
        if result.description is None:
            return [], []
        columns = [d[0] for d in result.description]
        return columns, result.fetchall()
    except duckdb.Error as exc:
        raise UserError(first_line(exc)) from None
    finally:
        conn.close()


def resolve_prefix(db: Path | None, table: str, column: str, prefix: str, what: str) -> str:
    """The one ``column`` value of ``table`` starting with ``prefix``, or a UserError saying
    none or several match."""
    cleaned = prefix.strip().lower()
    if not cleaned:
        raise UserError(f"empty {what} id")
    _, rows = read_rows(
        db,
        f"SELECT DISTINCT {column} FROM {table} WHERE starts_with({column}, ?) LIMIT 6",
        [cleaned],
    )
    matches = sorted(row[0] for row in rows)
    if not matches:
        raise UserError(f"no {what} with id starting {prefix!r}")
    if len(matches) > 1:
        shown = (
            f"{len(matches)} {what}s start with it ({', '.join(short_ids(matches).values())})"
            if len(matches) <= 5
            else f"more than 5 {what}s start with it"
        )
        raise UserError(f"{what} id {prefix!r} is ambiguous: {shown}; give more characters")
    return str(matches[0])


def first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def _plain(value: Any) -> Any:
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return value


def emit_rows(
    columns: list[str],
    rows: Sequence[Sequence[Any]],
    fmt: OutputFormat,
    display: Mapping[str, Column | None] | None = None,
) -> None:
    """Print rows as a table that fits the terminal, JSON (a list of objects) or CSV.

    ``display`` says how named columns show in the table (header, id shortening, numbers;
    None leaves a column out of the table); JSON and CSV always carry every column in full.
    """
    if fmt == OutputFormat.json:
        import json

        records = [{c: _plain(v) for c, v in zip(columns, row, strict=False)} for row in rows]
        typer.echo(json.dumps(records, default=str, indent=2))
    elif fmt == OutputFormat.csv:
        import csv
        import io

        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_plain(v) for v in row] for row in rows])
        typer.echo(buffer.getvalue(), nl=False)
    else:
        display = display or {}
        keep = [i for i, c in enumerate(columns) if display.get(c, True) is not None]
        shown = [display.get(columns[i]) or _default_column(columns[i], rows, i) for i in keep]
        for line in render(shown, [[row[i] for i in keep] for row in rows]):
            typer.echo(line)
        if not rows:
            typer.echo("(no rows)")


def _default_column(name: str, rows: Sequence[Sequence[Any]], index: int) -> Column:
    values = [row[index] for row in rows if row[index] is not None]
    numeric = bool(values) and all(
        isinstance(v, (int, float, Decimal)) and not isinstance(v, bool) for v in values
    )
    return Column(name, numeric=numeric)


def id_column(header: str, ids: Sequence[str | None]) -> Column:
    """A column of ids shown as unique prefixes that commands accept back."""
    prefixes = short_ids(ids)
    return Column(header, text=lambda v: "" if v is None else prefixes.get(v, str(v)), shrink=False)
