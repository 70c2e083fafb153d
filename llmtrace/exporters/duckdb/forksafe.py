"""Fork safety for the exporter's own threads.

A fork copies one thread and every lock as it was. If one of the exporter's threads was inside
pyarrow at that moment (its first ``pa.array`` imports pandas under a lock of pyarrow's own),
the child's first conversion waits forever on a lock nobody will release: a fork-pool worker
then hangs at exit, flushing. So pyarrow work on the exporter's threads runs under
:func:`arrow_work`, and a fork waits for it (milliseconds), then lets pyarrow finish importing
what it imports lazily, so the children inherit it done rather than half-done.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator

__all__ = ["arrow_work"]

_guard = threading.RLock()


@contextlib.contextmanager
def arrow_work() -> Iterator[None]:
    """Hold off forks while this thread uses pyarrow."""
    with _guard:
        yield


def _before_fork() -> None:
    _guard.acquire()
    if "pyarrow" in sys.modules:
        with contextlib.suppress(Exception):  # a private detail of pyarrow: best effort
            sys.modules["pyarrow"].lib._pandas_api._have_pandas_internal()


def _after_fork() -> None:
    _guard.release()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
