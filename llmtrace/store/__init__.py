"""The embedded DuckDB store: schema and migrations, safe connections, and read-only queries.

Its names load on first use: a traced application imports ``store.spool`` and
``store.handoff`` to hand its spans over, and must not load DuckDB for that."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .connection import StoreBusyError, StoreMissingError, connect_read, connect_write
    from .query import ReadOnlyQueryError, read_query
    from .schema import SCHEMA_VERSION, apply_migrations

__all__ = [
    "SCHEMA_VERSION",
    "ReadOnlyQueryError",
    "StoreBusyError",
    "StoreMissingError",
    "apply_migrations",
    "connect_read",
    "connect_write",
    "read_query",
]

_HOMES = {
    "SCHEMA_VERSION": "schema",
    "ReadOnlyQueryError": "query",
    "StoreBusyError": "connection",
    "StoreMissingError": "connection",
    "apply_migrations": "schema",
    "connect_read": "connection",
    "connect_write": "connection",
    "read_query": "query",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
