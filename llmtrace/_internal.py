"""The SDK boundary: llmtrace's own failures are counted and logged once, never raised.

Tracing must never break the traced application. Every piece of llmtrace logic that runs on the
application's thread goes through :func:`guard` or :func:`report_internal_error`; the user's own
return values and exceptions pass through untouched. Set ``LLMTRACE_RAISE_INTERNAL_ERRORS=1``
(llmtrace's own test suite does) to re-raise instead, so bugs are seen.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["guard", "internal_error_counts", "report_internal_error", "warn_once"]

logger = logging.getLogger("llmtrace")

_lock = threading.Lock()
_counts: Counter[str] = Counter()
_warned: set[str] = set()


def _raise_internal() -> bool:
    return os.environ.get("LLMTRACE_RAISE_INTERNAL_ERRORS", "") not in ("", "0", "false")


def report_internal_error(where: str, exc: BaseException) -> None:
    """Count an llmtrace failure at ``where`` and log it the first time it happens."""
    with _lock:
        _counts[where] += 1
        first = _counts[where] == 1
    if first:
        logger.warning(
            "llmtrace internal error in %s (your code still ran, with less telemetry): %r",
            where,
            exc,
            exc_info=exc,
        )
    if _raise_internal():
        raise exc


def warn_once(key: str, message: str) -> None:
    """Log ``message`` as a warning the first time ``key`` is seen in this process."""
    with _lock:
        if key in _warned:
            return
        _warned.add(key)
    logger.warning(message)


@contextmanager
def guard(where: str) -> Iterator[None]:
    """Run llmtrace's own logic; a failure inside is reported, not propagated."""
    try:
        yield
    except Exception as exc:
        report_internal_error(where, exc)


def internal_error_counts() -> dict[str, int]:
    """How many internal errors each place has had in this process (for tests and diagnostics)."""
    with _lock:
        return dict(_counts)
