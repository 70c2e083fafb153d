"""The folder llmtrace keeps derived, rebuildable files in (rates looked up, the migrated
empty store a new store is copied from): ``LLMTRACE_CACHE_DIR``, else the user's cache folder
(``XDG_CACHE_HOME`` or ``~/.cache``) under ``llmtrace``; ``off`` keeps nothing on disk."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "cache_folder"]

CACHE_DIR_ENV = "LLMTRACE_CACHE_DIR"


def cache_folder() -> Path | None:
    """The cache folder (not created here), or None when the user turned caching off."""
    folder = os.environ.get(CACHE_DIR_ENV, "").strip()
    if folder == "off":
        return None
    if not folder:
        base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        folder = os.path.join(base, "llmtrace")
    return Path(folder)
