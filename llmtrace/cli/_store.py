"""Which store a command uses, checked before any work starts.

A bad ``--db`` is the commonest first-hour mistake, and DuckDB reports it late (after an eval
has run its examples) and as a traceback. Each case gets one line here instead: a folder, an
empty or non-DuckDB file, another application's DuckDB, a place that cannot be written.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from .._store_path import db_from_env, default_db_path
from ..errors import StoreUnusable, UserError

if TYPE_CHECKING:
    import duckdb

# DuckDB and the store's modules are imported by the functions that use them, so that a
# command's module (and its --help) loads without them (~90 ms).

__all__ = ["check_tables", "readable_store", "resolve_db", "writable_store"]


def resolve_db(db: Path | None) -> Path:
    """``--db``, else LLMTRACE_DB, else the store ``configure()`` chose in this process (when
    the CLI runs inside one, as tests do), else ./llmtrace.duckdb."""
    chosen = db or db_from_env()
    if chosen or "llmtrace._tracing.runtime" not in sys.modules:  # not loaded: not configured
        return Path(chosen or "llmtrace.duckdb")  # and no OpenTelemetry import to find that out
    return default_db_path(None)


def readable_store(db: Path | None, *, check_schema: bool = True) -> Path:
    """The store to read: it must exist and be an llmtrace DuckDB file (it is never created).
    ``check_schema=False``: the caller checks the tables itself with :func:`check_tables` on
    the connection it reads with, instead of a connection opened here for that alone."""
    path = resolve_db(db)
    if not path.exists() and not path.is_symlink():
        from ..store.spool import spool_files

        if spool_files(path, include_live=True):
            return path  # spans wait beside a store not created yet: reading merges them
        raise UserError(f"no llmtrace store at {path} (set --db or LLMTRACE_DB)")
    _check_file(path, check_schema)
    return path


def writable_store(db: Path | None) -> Path:
    """The store to write: an llmtrace DuckDB file, or a path where one can be created."""
    path = resolve_db(db)
    if path.exists():
        _check_file(path)
        for place in (path, path.parent):
            if not os.access(place, os.W_OK):
                raise StoreUnusable(f"--db {path}: {place} is not writable")
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=path.parent, prefix=f".{path.name}.probe"):
            pass
    except OSError as exc:
        raise StoreUnusable(f"--db {path}: cannot create it: {exc.strerror or exc}") from None
    return path


def _check_file(path: Path, check_schema: bool = True) -> None:
    from ..store.connection import StoreUnusableError, check_store_file

    if path.is_dir():
        raise StoreUnusable(
            f"--db {path} is a folder; give a file path, like {path / 'llmtrace.duckdb'}"
        )
    try:
        check_store_file(path, for_write=False)
    except StoreUnusableError as exc:
        raise StoreUnusable(f"--db {exc}") from None
    if check_schema:
        _check_schema(path)


def _check_schema(path: Path) -> None:
    """A DuckDB file with tables but no llmtrace schema belongs to someone else: refuse to
    read it as spans or to add llmtrace tables to it."""
    import duckdb

    from ..store.connection import StoreBusyError, connect_read

    try:
        conn = connect_read(path)
    except StoreBusyError as exc:
        raise UserError(str(exc)) from None
    except duckdb.Error as exc:
        raise StoreUnusable(f"--db {path}: {_first_line(exc)}") from None
    try:
        check_tables(conn, path)
    finally:
        conn.close()


def check_tables(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a DuckDB file whose tables are not llmtrace's (see :func:`_check_schema`)."""
    import duckdb

    try:  # llmtrace's store, the common case, found without a catalog query (~6 ms of a read)
        conn.table("schema_migrations")
        return
    except duckdb.Error:
        pass  # an empty file, or someone else's: which one, the full list says
    tables = {
        name
        for (name,) in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()
    }
    if tables and "schema_migrations" not in tables:
        raise StoreUnusable(
            f"--db {path} is another application's DuckDB file (no llmtrace tables); "
            "give llmtrace a file of its own"
        )


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
