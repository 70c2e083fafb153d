"""New stores made by copying an empty store that is already migrated (a template), instead of
applying every migration to a blank file: ~5 ms instead of ~0.2 s, which a short process's
exit (or its merger) would otherwise pay the first time it writes a store.

The template is built once per schema (a digest of every migration's SQL) and DuckDB version
in the cache folder (``LLMTRACE_CACHE_DIR``, by default ``~/.cache/llmtrace``; ``off``: no
template), under a temporary name and renamed into place whole, so that concurrent builders
each rename a complete file and a killed builder leaves only a temporary file, removed once it
is stale. A store is made from it the same way: a copy under a temporary name beside the
store, then a hard link to the store's name, which fails when anyone made the store meanwhile
(the copy is then dropped). Anything that goes wrong leaves the store to be created as before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._cache_dir import cache_folder

__all__ = ["create_from_template", "template_path"]

# A temporary file older than this is a killed builder's: nobody takes this long to build one.
_STALE_S = 600.0


def template_path() -> Path | None:
    """Where this schema's and DuckDB version's template lives (None: no cache folder)."""
    # hashlib only here: it loads OpenSSL (3 MiB of RSS), which a merger opening a store that
    # exists never needs.
    import hashlib

    import duckdb

    from .schema import MIGRATIONS

    folder = cache_folder()
    if folder is None:
        return None
    digest = hashlib.sha256(repr(MIGRATIONS).encode()).hexdigest()[:16]
    return folder / f"store-template-duckdb{duckdb.__version__}-{digest}.duckdb"


def _temporary(beside: Path) -> Path:
    return beside.with_name(f"{beside.name}.{os.getpid()}-{uuid.uuid4().hex}.tmp")


def _remove(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal")):
        with contextlib.suppress(OSError):
            leftover.unlink()


def _build(template: Path, prepare: Callable[[Any], Any]) -> None:
    """Build the template under a temporary name and rename it into place."""
    import duckdb

    from .schema import apply_migrations

    template.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale(template.parent)
    temporary = _temporary(template)
    try:
        conn = prepare(duckdb.connect(str(temporary)))
        try:
            apply_migrations(conn)
            conn.execute("CHECKPOINT")
        finally:
            conn.close()
        if temporary.with_name(temporary.name + ".wal").exists():
            raise OSError("the template kept a write-ahead log")  # never copied half-written
        os.replace(temporary, template)
    finally:
        _remove(temporary)


def _remove_stale(folder: Path) -> None:
    now = time.time()
    for path in folder.glob("store-template-*.tmp*"):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > _STALE_S:
                path.unlink()


def create_from_template(path: Path, prepare: Callable[[Any], Any]) -> bool:
    """Make ``path`` a new, fully migrated empty store, if it does not exist; True when this
    call made it. False (nothing done) when it exists, when no template can be had, or when
    anything fails: the caller then creates the store itself. ``prepare`` readies a
    connection the way every llmtrace connection is (used to build the template)."""
    if path.exists() or path.with_name(path.name + ".wal").exists():
        return False
    try:
        template = template_path()
        if template is None:
            return False
        if not template.exists():
            _build(template, prepare)
        with open(template, "rb") as handle:
            if handle.read(16)[8:12] != b"DUCK":  # damaged from outside: never copy that
                return False
        path.parent.mkdir(parents=True, exist_ok=True)
        copy = _temporary(path)
        try:
            shutil.copyfile(template, copy)
            os.link(copy, path)  # fails when the store appeared meanwhile: theirs stands
        finally:
            with contextlib.suppress(OSError):
                copy.unlink()
    except Exception:  # no cache folder, no hard links, a full disk: create it as before
        return False
    return True
