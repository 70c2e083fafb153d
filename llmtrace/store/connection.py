"""Opening the store while other processes write to it.

DuckDB lets one process hold a file, and even a read-only open fails while a writer holds it
(``Could not set lock on file``). So writers hold the file on a lease (see ``writer``), and
anyone who finds it locked retries with jittered exponential backoff until a deadline, and
says it is waiting by touching ``<db>.waiting``: a writer holding the lease checks that file
and lets go at once, so readers and other writers get in within a few tens of milliseconds
instead of waiting out the lease. Writers that still cannot get in spool their batch to disk
instead (see ``spool``).
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

from .schema import apply_migrations

T = TypeVar("T")

__all__ = [
    "StoreBusyError",
    "StoreMissingError",
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


class StoreBusyError(RuntimeError):
    """The store stayed locked by another process until the deadline."""


class StoreMissingError(FileNotFoundError):
    """A read was asked of a store file that does not exist (it is not created)."""


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
    _ensure_schema(path, timeout_s)
    return _open_with_retry(lambda: _attach(path, row_group_size), path, timeout_s)


def _ensure_schema(path: Path, timeout_s: float = 5.0) -> None:
    """Create or migrate the store unless this process already did; retries while locked."""
    if _needs_migration(path):
        _open_with_retry(lambda: _open_migrated(path), path, timeout_s).close()


_migrated: set[Path] = set()


def _needs_migration(path: Path) -> bool:
    return not path.exists() or path.resolve() not in _migrated


def _open_migrated(path: Path) -> duckdb.DuckDBPyConnection:
    path.parent.mkdir(parents=True, exist_ok=True)
    needs_migration = _needs_migration(path)
    conn = duckdb.connect(str(path))
    if not needs_migration:
        return conn
    try:
        apply_migrations(conn)
    except Exception:
        conn.close()
        raise
    _migrated.add(path.resolve())
    return conn


def _attach(path: Path, row_group_size: int) -> duckdb.DuckDBPyConnection:
    conn = duckdb.connect()
    try:
        conn.execute(f"ATTACH ? AS store (ROW_GROUP_SIZE {int(row_group_size)})", [str(path)])
        conn.execute("USE store")
    except Exception:
        conn.close()
        raise
    return conn


def connect_read(path: Path, timeout_s: float = 10.0) -> duckdb.DuckDBPyConnection:
    """A read-only connection; a missing file is an error, never created."""
    if not path.exists():
        raise StoreMissingError(f"no llmtrace store at {path}")
    return _open_with_retry(lambda: duckdb.connect(str(path), read_only=True), path, timeout_s)
