"""Spool files merged from the traced process itself, when its merger cannot (it could not
start, it died, or the exporter is flushed in a process that has none)."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ..._internal import warn_once
from ...store.connection import StoreBusyError, StoreUnusableError, connect_write
from ...store.spool import merge_spool, spool_files

__all__ = ["merge_spool_here"]


def merge_spool_here(path: Path, timeout_s: float) -> bool:
    """Merge the spool files beside ``path`` through the duckdb module's shared instance (the
    one every other connection of this process to the file shares too); True when none is
    left."""
    if not spool_files(path):
        return True
    try:
        conn = connect_write(path, timeout_s=timeout_s)
    except StoreBusyError:
        return False
    except StoreUnusableError as exc:
        warn_once(f"unusable:{path}", f"llmtrace: spans not stored: {exc}")
        return False
    except Exception as exc:  # a full disk, a damaged file: the spool files stay
        warn_once(f"unopenable:{path}", f"llmtrace: spans not stored in {path}: {exc}")
        return False
    try:
        merge_spool(conn, path)
    except Exception as exc:
        warn_once(f"merge:{path}", f"llmtrace: spooled spans not merged: {exc}")
    finally:
        with contextlib.suppress(Exception):
            conn.close()
    return not spool_files(path)
