"""Read-only SQL over the store, as a list of dicts (or Arrow/pandas): ``read_query``.

This module reads files and knows nothing of tracing: ``llmtrace.query()`` (``llmtrace._query``)
flushes the spans this process traced and then calls ``read_query``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import duckdb

from ..errors import UserError
from .connection import StoreBusyError, connect_read, connect_write
from .spool import merge_spool, spool_files

__all__ = ["ReadOnlyQueryError", "open_store_for_read", "read_query"]


class ReadOnlyQueryError(UserError):
    """A query tried to change the store; ``query`` and ``llmtrace sql`` only read."""


def open_store_for_read(
    path: Path, timeout_s: float = 10.0, *, sandboxed: bool = False
) -> duckdb.DuckDBPyConnection:
    """A read-only connection that sees every finished span: batches still waiting beside the
    store (hand-off and spool files, even before the store file exists) are merged first, and
    a write-ahead log left by a killed writer is checkpointed by llmtrace's own settings (so a
    user's plain connection never checkpoints it with DuckDB's defaults). ``sandboxed``: the
    connection cannot read or write other files or load extensions (``llmtrace sql``)."""
    if spool_files(path, include_live=True) or path.with_name(path.name + ".wal").exists():
        try:
            conn = connect_write(path, timeout_s=1.0)
        except StoreBusyError:
            pass  # a writer holds it and will merge the spool itself
        else:
            try:
                merge_spool(conn, path, include_live=True)
            finally:
                conn.close()
    conn = connect_read(path, timeout_s=timeout_s, sandboxed=sandboxed)
    if _has_schema(conn):
        return conn
    # A file with no schema yet: a writer is creating it, or one was stopped before its first
    # migration committed. Create it here (waiting for that writer, if any) so that the query
    # sees the schema and every span waiting beside it, not "table spans does not exist".
    conn.close()
    writer = connect_write(path, timeout_s=timeout_s)
    try:
        merge_spool(writer, path, include_live=True)
    finally:
        writer.close()
    return connect_read(path, timeout_s=timeout_s, sandboxed=sandboxed)


def _has_schema(conn: duckdb.DuckDBPyConnection) -> bool:
    """llmtrace's schema, or someone else's tables (theirs to query): anything but a blank file."""
    try:
        conn.table("schema_migrations")
    except duckdb.CatalogException:
        return bool(conn.execute("SELECT count(*) FROM duckdb_tables()").fetchall()[0][0])
    return True


def read_query(
    sql: str,
    params: list[Any] | dict[str, Any] | None,
    path: Path,
    format: Literal["records", "arrow", "pandas"] = "records",
) -> Any:
    """Run read-only ``sql`` against the store at ``path`` and return its rows (what is stored
    or waiting beside it; spans still in this process's exporters are the caller's to flush).
    ``params`` are bound (``?`` or ``$name``), never interpolated."""
    conn = open_store_for_read(path)
    try:
        try:
            if format != "records":
                relation = conn.sql(sql, params=params)
                return relation.to_arrow_table() if format == "arrow" else relation.df()
            result = conn.execute(sql, params) if params is not None else conn.execute(sql)
        except duckdb.Error as exc:
            if "read-only" in str(exc).lower():
                raise ReadOnlyQueryError(str(exc)) from None
            raise
        if result.description is None:
            return []
        columns = [d[0] for d in result.description]
        return [dict(zip(columns, row, strict=False)) for row in result.fetchall()]
    finally:
        conn.close()
