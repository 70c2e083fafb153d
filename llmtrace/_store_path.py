"""Which store a call means when it names none.

Outside ``store/`` on purpose: the store knows paths, never the tracing configuration, so the
choice that depends on ``configure()`` is made here, by the callers' side of the flow.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

__all__ = ["DB_ENV", "db_from_env", "default_db_path"]

DB_ENV = "LLMTRACE_DB"


def db_from_env() -> str | None:
    """The store LLMTRACE_DB names, if any (the one place outside ``configure()``'s settings
    table that reads it)."""
    return os.environ.get(DB_ENV) or None


def default_db_path(db: str | os.PathLike[str] | None = None) -> Path:
    """``db``, else the store ``configure()`` chose in this process, else LLMTRACE_DB, else
    ./llmtrace.duckdb."""
    if db:
        return Path(db)
    configured = None
    if "llmtrace._tracing.runtime" in sys.modules:  # not loaded: nothing was configured
        from ._tracing.runtime import runtime

        configured = runtime.db_path
    return Path(configured or db_from_env() or "llmtrace.duckdb")
