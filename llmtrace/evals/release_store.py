"""Rows of the release registry: reading them, and changing them inside one transaction.

Every change is an append (a release record, an event, an approval, a gate record); a
release's stage is the latest ``done`` event (see :mod:`llmtrace.store.release_tables`).
Each change re-reads what it depends on inside its transaction, so a decision taken on stale
state is never committed: DuckDB lets one process hold the file at a time, and within a
process two transactions appending the same ``(name, seq)`` conflict and one rolls back.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from ..errors import UserError
from ..store.connection import connect_write
from ..store.query import open_store_for_read

__all__ = [
    "EventRecord",
    "append_event",
    "fetch",
    "now",
    "read",
    "reading",
    "resolve_release_id",
    "resolve_run_id",
    "transaction",
]

_LOCK_TIMEOUT_S = 30.0


def now() -> datetime:
    return datetime.now(timezone.utc)


def fetch(
    conn: duckdb.DuckDBPyConnection, sql: str, params: Sequence[Any] = ()
) -> list[dict[str, Any]]:
    """Rows of ``sql`` on an open connection, as dicts."""
    result = conn.execute(sql, list(params))
    columns = [d[0] for d in result.description or ()]
    return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]


_reader: contextvars.ContextVar[tuple[Path, duckdb.DuckDBPyConnection] | None] = (
    contextvars.ContextVar("llmtrace_release_reader", default=None)
)


def read(db: Path, sql: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
    """Rows of ``sql`` on a read-only connection (a missing store is a UserError); inside
    :func:`reading` the one connection it opened is used."""
    shared = _reader.get()
    if shared is not None and shared[0] == db:
        return fetch(shared[1], sql, params)
    if not db.exists():
        raise UserError(f"no llmtrace store at {db} (set db= or LLMTRACE_DB)")
    conn = open_store_for_read(db)
    try:
        return fetch(conn, sql, params)
    finally:
        conn.close()


@contextlib.contextmanager
def reading(db: Path) -> Iterator[None]:
    """Serve every :func:`read` of ``db`` in this block from one connection (opening one costs
    tens of milliseconds). Only for blocks that do not write: this process cannot open the
    store for writing while it holds a read-only connection to it."""
    if _reader.get() is not None:
        yield
        return
    if not db.exists():
        raise UserError(f"no llmtrace store at {db} (set db= or LLMTRACE_DB)")
    conn = open_store_for_read(db)
    token = _reader.set((db, conn))
    try:
        yield
    finally:
        _reader.reset(token)
        conn.close()


@contextlib.contextmanager
def transaction(db: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A write connection inside ``BEGIN``; committed on success, rolled back on any error."""
    conn = connect_write(db, timeout_s=_LOCK_TIMEOUT_S)
    try:
        conn.execute("BEGIN TRANSACTION")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    finally:
        conn.close()


@dataclass
class EventRecord:
    """One row of ``release_events`` before it is written."""

    release_id: str
    name: str
    action: str
    outcome: str
    from_stage: str | None
    to_stage: str | None
    actor: str | None
    role: str | None = None
    reason: str | None = None
    gate_run_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


def append_event(conn: duckdb.DuckDBPyConnection, event: EventRecord) -> int:
    """Append ``event`` as the next of its name's sequence; returns its sequence number."""
    seq = conn.execute(
        "SELECT coalesce(max(seq), 0) + 1 FROM release_events WHERE name = ?", [event.name]
    ).fetchall()[0][0]
    conn.execute(
        """INSERT INTO release_events (event_id, release_id, name, seq, action, outcome,
               from_stage, to_stage, actor, role, reason, occurred_at, gate_run_id, details)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            uuid.uuid4().hex[:16],
            event.release_id,
            event.name,
            seq,
            event.action,
            event.outcome,
            event.from_stage,
            event.to_stage,
            event.actor,
            event.role,
            event.reason,
            now(),
            event.gate_run_id,
            json.dumps(event.details, default=str, sort_keys=True),
        ],
    )
    return int(seq)


def _resolve(db: Path, table: str, column: str, prefix: str, what: str) -> str:
    cleaned = prefix.strip().lower()
    if not cleaned:
        raise UserError(f"empty {what} id")
    rows = read(
        db,
        f"SELECT DISTINCT {column} AS id FROM {table} WHERE starts_with({column}, ?) "
        "ORDER BY 1 LIMIT 6",
        [cleaned],
    )
    if not rows:
        raise UserError(f"no {what} with id starting {prefix!r} in {db}")
    if len(rows) > 1:
        shown = ", ".join(str(r["id"]) for r in rows[:5])
        raise UserError(f"{what} id {prefix!r} is ambiguous ({shown}); give more characters")
    return str(rows[0]["id"])


def resolve_release_id(db: Path, prefix: str) -> str:
    """The one release id starting with ``prefix``."""
    return _resolve(db, "release_records", "release_id", prefix, "release")


def resolve_run_id(db: Path, prefix: str) -> str:
    """The one run id starting with ``prefix``."""
    return _resolve(db, "eval_runs", "run_id", prefix, "run")
