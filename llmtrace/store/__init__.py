"""The embedded DuckDB store: schema and migrations, safe connections, and read-only queries."""

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
