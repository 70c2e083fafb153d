"""Opening the store while other processes write to it.

DuckDB lets one process hold a file, and even a read-only open fails while a writer holds it
(``Could not set lock on file``). So every writer holds the file briefly, one batch at a time,
and anyone who finds it locked retries with jittered exponential backoff until a deadline.
Writers that still cannot get in spool their batch to disk instead (see ``spool``).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import duckdb

from .schema import apply_migrations

__all__ = ["StoreBusyError", "StoreMissingError", "connect_read", "connect_write", "is_lock_error"]

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
    return isinstance(exc, duckdb.Error) and any(m in str(exc).lower() for m in _LOCK_MARKERS)


def _retry(open_once: Any, path: Path, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    delay = 0.002
    while True:
        try:
            return open_once()
        except duckdb.Error as exc:
            if not is_lock_error(exc):
                raise
            now = time.monotonic()
            if now >= deadline:
                raise StoreBusyError(
                    f"{path}: held by another process for more than {timeout_s:g}s"
                ) from exc
            time.sleep(min(delay * (0.5 + random.random()), deadline - now))
            # Capped below the writers' yield window, so a waiting reader gets its turn.
            delay = min(delay * 2, 0.05)


_migrated: set[Path] = set()


def connect_write(path: Path, timeout_s: float = 5.0) -> duckdb.DuckDBPyConnection:
    """A read-write connection with the schema up to date; retries while the file is locked.

    The schema is checked on this process's first open of each file (a check costs ~12 ms).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    key = path.resolve()

    def open_once() -> duckdb.DuckDBPyConnection:
        existed = path.exists()
        conn = duckdb.connect(str(path))
        if key in _migrated and existed:
            return conn
        try:
            apply_migrations(conn)
        except Exception:
            conn.close()
            raise
        _migrated.add(key)
        return conn

    return _retry(open_once, path, timeout_s)  # type: ignore[no-any-return]


def connect_read(path: Path, timeout_s: float = 10.0) -> duckdb.DuckDBPyConnection:
    """A read-only connection; a missing file is an error, never created."""
    if not path.exists():
        raise StoreMissingError(f"no llmtrace store at {path}")
    return _retry(  # type: ignore[no-any-return]
        lambda: duckdb.connect(str(path), read_only=True), path, timeout_s
    )
