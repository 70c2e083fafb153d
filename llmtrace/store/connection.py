"""Opening the store while other processes write to it.

DuckDB lets one process hold a file, and even a read-only open fails while a writer holds it
(``Could not set lock on file``). So writers hold the file on a lease (see ``writer``), and
anyone who finds it locked retries with jittered exponential backoff until a deadline, and
says it is waiting by touching ``<db>.waiting``: a writer holding the lease checks that file
and lets go at once, so readers and other writers get in within a few tens of milliseconds
instead of waiting out the lease. Writers that still cannot get in spool their batch to disk
instead (see ``spool``).

Every connection llmtrace opens is prepared the same way (:func:`_prepare`): no extension is
ever installed or loaded behind the user's back (no network from a file path), no progress bar
is drawn on the application's stdout, and VARIANT columns are shredded in every row group. That
last one is a correctness setting, not a speed one: DuckDB 2.0.1 leaves row groups under 30,000
rows unshredded, and then filters on ``attributes[...]`` keep or drop the rows of those groups by
the statistics of the shredded ones (``tests/upstream/duckdb_variant_shredding.py`` reproduces
it in plain DuckDB). A store whose row groups are all shredded answers every reader correctly,
including users' own connections.

A file that is not a DuckDB database (a SQLite file, a text file, an empty file, a directory)
or that holds another application's tables is refused with :class:`StoreUnusableError`, before
DuckDB is asked to open it.
"""

from __future__ import annotations

import contextlib
import os
import random
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import duckdb

from ..errors import StoreUnusable, UserError
from .schema import MIGRATIONS, applied_version, apply_migrations
from .template import create_from_template

T = TypeVar("T")

__all__ = [
    "ALLOW_FOREIGN_DB_ENV",
    "StoreBusyError",
    "StoreMissingError",
    "StoreUnusableError",
    "check_store_file",
    "connect_read",
    "connect_write",
    "is_lock_error",
    "signal_waiting",
    "waiting_since",
]

_LOCK_MARKERS = (
    "could not set lock",
    "conflicting lock",
    "different configuration",
    "database is locked",
    "unique file handle conflict",
)


class StoreBusyError(UserError, RuntimeError):
    """The store stayed locked by another process until the deadline."""


class StoreMissingError(UserError, FileNotFoundError):
    """A read was asked of a store file that does not exist (it is not created)."""


class StoreUnusableError(StoreUnusable):
    """The path cannot hold an llmtrace store: not a DuckDB file, or another application's
    database. Retrying does not help; the message says what the path holds."""


# Set to 1 to let llmtrace add its tables to a DuckDB file that already holds other tables.
ALLOW_FOREIGN_DB_ENV = "LLMTRACE_ALLOW_FOREIGN_DB"

_DUCKDB_MAGIC = b"DUCK"  # bytes 8-11 of every DuckDB database file
_SQLITE_MAGIC = b"SQLite format 3\x00"

# Applied to every connection llmtrace opens (see the module docstring for why).
_PREPARE = (
    "SET enable_progress_bar = false",
    "SET autoinstall_known_extensions = false",
    "SET autoload_known_extensions = false",
    "SET variant_minimum_shredding_size = 0",
)


def _prepare(conn: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    try:
        for statement in _PREPARE:
            conn.execute(statement)
    except Exception:
        conn.close()
        raise
    return conn


def check_store_file(path: Path, *, for_write: bool) -> None:
    """Refuse, with a message that says what is there, a path that cannot be a DuckDB store.

    A zero-byte file with no write-ahead log holds nothing (a process killed while creating the
    store leaves one): a writer removes it and starts afresh; a reader is told it is empty.
    """
    if path.is_dir():
        raise StoreUnusableError(f"{path} is a directory, not a DuckDB file")
    try:
        with open(path, "rb") as handle:
            header = handle.read(16)
    except FileNotFoundError:
        return
    except OSError as exc:
        raise StoreUnusableError(f"{path} cannot be read: {exc.strerror or exc}") from None
    if not header:
        wal = path.with_name(path.name + ".wal")
        if for_write and not wal.exists():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            return
        raise StoreUnusableError(f"{path} is an empty file, not an llmtrace store")
    if header.startswith(_SQLITE_MAGIC):
        raise StoreUnusableError(f"{path} is a SQLite database, not a DuckDB file")
    if header[8:12] != _DUCKDB_MAGIC:
        raise StoreUnusableError(f"{path} is not a DuckDB file")


def is_lock_error(exc: BaseException) -> bool:
    """Whether ``exc`` says that another process holds the file."""
    return isinstance(exc, duckdb.Error) and any(m in str(exc).lower() for m in _LOCK_MARKERS)


def _waiting_file(path: Path) -> Path:
    return path.with_name(path.name + ".waiting")


def signal_waiting(path: Path) -> None:
    """Tell whoever holds the store that someone is waiting for it."""
    with contextlib.suppress(OSError):  # a read-only folder: the lease ends on its own
        _waiting_file(path).touch()


def waiting_since(path: Path, since_ns: int) -> bool:
    """Whether anyone signalled :func:`signal_waiting` after ``since_ns`` (``time.time_ns``)."""
    try:
        return os.stat(_waiting_file(path)).st_mtime_ns > since_ns
    except OSError:
        return False


def _open_with_retry(open_once: Callable[[], T], path: Path, timeout_s: float) -> T:
    """``open_once()``, retried with jittered backoff while another process holds the file,
    saying each time that someone is waiting (see :func:`signal_waiting`)."""
    deadline = time.monotonic() + timeout_s
    delay = 0.002
    while True:
        try:
            return open_once()
        except duckdb.Error as exc:
            if not is_lock_error(exc):
                raise
            signal_waiting(path)
            now = time.monotonic()
            if now >= deadline:
                raise StoreBusyError(
                    f"{path}: held by another process for more than {timeout_s:g}s"
                ) from exc
            time.sleep(min(delay * (0.5 + random.random()), deadline - now))
            # Capped below the writers' yield window, so a waiting reader gets its turn.
            delay = min(delay * 2, 0.05)


def connect_write(
    path: Path, timeout_s: float = 5.0, *, row_group_size: int | None = None
) -> duckdb.DuckDBPyConnection:
    """A read-write connection with the schema up to date; retries while the file is locked.

    The schema is checked on this process's first open of each file (a check costs ~12 ms).
    With ``row_group_size`` the file is attached to a private in-memory instance instead of the
    duckdb module's shared one (the row group size belongs to an attached database). DuckDB
    does not guard a file against two instances of one process (its locks are per process), so
    only a process that opens the file no other way may ask for that: the merger process.
    """
    if row_group_size is None:
        return _open_with_retry(lambda: _open_migrated(path), path, timeout_s)
    if path.exists() and _needs_migration(path):  # a store this process has not checked yet
        conn = _open_with_retry(lambda: _attach(path, row_group_size), path, timeout_s)
        if _up_to_date(conn):  # checked through the writer's own connection: one open
            _migrated.add(path.resolve())
            return conn
        conn.close()
    _ensure_schema(path, timeout_s)
    return _open_with_retry(lambda: _attach(path, row_group_size), path, timeout_s)


def _up_to_date(conn: duckdb.DuckDBPyConnection) -> bool:
    """Whether the open store has every migration applied and none newer (what
    ``apply_migrations`` would leave as it is; anything else is opened and migrated)."""
    try:
        applied = {
            row[0] for row in conn.execute("SELECT version FROM schema_migrations").fetchall()
        }
    except duckdb.Error:  # no ledger: blank, or another application's file
        return False
    newest = MIGRATIONS[-1][0]
    return all(version in applied for version, _, _ in MIGRATIONS) and max(applied) <= newest


def _ensure_schema(path: Path, timeout_s: float = 5.0) -> None:
    """Create or migrate the store unless this process already did; retries while locked. A
    store made here from the template is migrated already: it is not opened to be checked
    (the caller's open is then the only one: ~30 ms less for the first write of a new store,
    which a short process's exit waits for)."""
    if not _needs_migration(path):
        return
    check_store_file(path, for_write=True)  # (a zero-byte leftover goes, as when opened)
    if create_from_template(path, _prepare):
        _migrated.add(path.resolve())
        return
    _open_with_retry(lambda: _open_migrated(path), path, timeout_s).close()


_migrated: set[Path] = set()


def _needs_migration(path: Path) -> bool:
    return not path.exists() or path.resolve() not in _migrated


def _open_migrated(path: Path) -> duckdb.DuckDBPyConnection:
    check_store_file(path, for_write=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    create_from_template(path, _prepare)  # a new store: migrated already (~0.2 s less)
    needs_migration = _needs_migration(path)
    conn = _prepare(duckdb.connect(str(path)))
    if not needs_migration:
        return conn
    try:
        _refuse_foreign(conn, path)
        apply_migrations(conn)
    except Exception:
        conn.close()
        raise
    _migrated.add(path.resolve())
    return conn


def _refuse_foreign(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse to add llmtrace's tables to a file that holds someone else's, unless allowed."""
    if applied_version(conn) or os.environ.get(ALLOW_FOREIGN_DB_ENV, "") not in ("", "0"):
        return
    tables = [
        row[0]
        for row in conn.execute(
            "SELECT table_name FROM information_schema.tables "
            "WHERE table_catalog = current_database() ORDER BY 1"
        ).fetchall()
        # An empty ledger alone is ours: an older llmtrace killed while creating the store.
        if row[0] != "schema_migrations"
    ]
    if tables:
        shown = ", ".join(tables[:3]) + (", ..." if len(tables) > 3 else "")
        raise StoreUnusableError(
            f"{path} is another application's DuckDB database (tables: {shown}); "
            f"choose another path, or set {ALLOW_FOREIGN_DB_ENV}=1 to add llmtrace's tables to it"
        )


def _attach(path: Path, row_group_size: int) -> duckdb.DuckDBPyConnection:
    check_store_file(path, for_write=True)
    conn = _prepare(duckdb.connect())
    try:
        # Spilled buffers go beside the store, as a file connection's do: an in-memory
        # instance's default is ``.tmp`` in the working directory (the traced application's).
        conn.execute("SET temp_directory = ?", [f"{path}.tmp"])
        conn.execute(f"ATTACH ? AS store (ROW_GROUP_SIZE {int(row_group_size)})", [str(path)])
        conn.execute("USE store")
    except Exception:
        conn.close()
        raise
    return conn


def connect_read(
    path: Path, timeout_s: float = 10.0, *, sandboxed: bool = False
) -> duckdb.DuckDBPyConnection:
    """A read-only connection; a missing file is an error, never created. ``sandboxed`` also
    keeps the connection away from every other file and the network (no ``COPY ... TO``,
    ``read_csv('/etc/passwd')``, ``ATTACH`` or ``INSTALL``), for good: the configuration is
    locked, so the SQL it runs cannot turn that back on."""
    if not path.exists():
        raise StoreMissingError(f"no llmtrace store at {path}")
    check_store_file(path, for_write=False)
    conn = _open_with_retry(
        lambda: _prepare(duckdb.connect(str(path), read_only=True)), path, timeout_s
    )
    if sandboxed:
        try:
            conn.execute("SET enable_external_access = false")
            conn.execute("SET lock_configuration = true")
        except Exception:
            conn.close()
            raise
    return conn
