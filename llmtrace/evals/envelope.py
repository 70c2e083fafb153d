"""The reproducibility envelope stored with every run: what it would take to run it again."""

from __future__ import annotations

import platform
import socket
import subprocess
import sys
from datetime import datetime, timezone
from importlib.metadata import PackageNotFoundError, version
from typing import Any

__all__ = ["build_envelope"]

_PACKAGES = ("llmtrace", "opentelemetry-sdk", "duckdb", "genai-prices", "tiktoken", "pydantic")


def _git(*args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], capture_output=True, text=True, timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _package_versions() -> dict[str, str]:
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def build_envelope(seed: int | None, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Git commit and dirty flag, Python and package versions, seed, host and command line."""
    commit = _git("rev-parse", "HEAD")
    status = _git("status", "--porcelain") if commit else None
    return {
        "git": {"commit": commit, "dirty": bool(status) if status is not None else None},
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "host": socket.gethostname(),
        "packages": _package_versions(),
        "seed": seed,
        "argv": sys.argv,
        "created_at": datetime.now(timezone.utc).isoformat(),
        **(extra or {}),
    }
