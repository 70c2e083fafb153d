"""``llmtrace.query()``: flush what this process traced, then read the store.

The store's read (``store.query.read_query``) knows nothing of tracing; the flush is asked of
the tracing configuration (``_config.flush_store``), which exports finished spans to the
DuckDB store only (a reader must not wait on a collector).
"""

from __future__ import annotations

import os
from typing import Any, Literal

from ._store_path import default_db_path
from .store.query import read_query

__all__ = ["query"]


def query(
    sql: str,
    params: list[Any] | dict[str, Any] | None = None,
    db: str | os.PathLike[str] | None = None,
    *,
    format: Literal["records", "arrow", "pandas"] = "records",
) -> Any:
    """Run read-only ``sql`` against the store and return its rows.

    Spans this process has finished are flushed first, so a query right after traced code
    sees them. ``params`` are bound (``?`` or ``$name``), never interpolated.

    Example:
        >>> llmtrace.query("SELECT model, count(*) AS n FROM llm_calls GROUP BY 1")
        [{'model': 'gpt-4o-mini', 'n': 42}]
    """
    from ._config import flush_store  # the OpenTelemetry SDK loads on the first query, not import

    flush_store()
    return read_query(sql, params, default_db_path(db), format)
