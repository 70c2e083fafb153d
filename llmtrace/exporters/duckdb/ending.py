"""What a traced process does with the spans it still has when it ends (the exporter's side).

By default they are stored before the process is gone: handed to the store's shared merger
(``hub_client``), which loads DuckDB once for every short process of the store, or, when there
is none, merged from this process (``merge_here``). With ``LLMTRACE_FAST_EXIT=1`` they are left
in the spool for the next llmtrace writer or reader. Whatever of this process's is still beside
the store after that is said once, with why.
"""

from __future__ import annotations

import atexit
import os
import threading
import weakref
from pathlib import Path
from typing import Protocol

from ..._internal import warn_once
from ...store.spool import spool_dir, spool_files
from .hub_client import HubSession, store_at_exit

__all__ = [
    "FAST_EXIT_ENV",
    "at_exit",
    "end_session",
    "exiting",
    "fast_exit_asked",
    "leave_for_next_reader",
    "live_writers",
    "own_files",
    "say_what_is_left",
    "store_at_end",
]

FAST_EXIT_ENV = "LLMTRACE_FAST_EXIT"
# How long the shared merger may take (starting, if none ran) to store what is left.
_HUB_WAIT_S = 5.0
_WHY = {
    "busy": "the store was held by another process",
    "unusable": "the store cannot be written",
}


class _Writer(Protocol):
    def _stop_writer(self) -> None: ...


# Exporters with a live writer thread, drained at exit (a thread frozen at interpreter teardown
# never finishes); later exports (the batch processor's last) spool on the caller's thread.
live_writers: weakref.WeakSet[_Writer] = weakref.WeakSet()
_exiting = False


def _stop_writers_at_exit() -> None:
    global _exiting
    _exiting = True
    for exporter in list(live_writers):
        exporter._stop_writer()


atexit.register(_stop_writers_at_exit)


def exiting() -> bool:
    """Whether the exit handlers have stopped the writer threads."""
    return _exiting


def at_exit() -> bool:
    """Whether the process is on its way out: the main thread has finished (Python marks it so
    before the atexit handlers run, among them the batch processors' last export). From then
    on no merger process of its own is started: what is left goes to a merger already running,
    or as spool files to the store's hub, or is merged here."""
    return _exiting or not threading.main_thread().is_alive()


def leave_for_next_reader() -> bool:
    """At exit, with ``LLMTRACE_FAST_EXIT=1`` (opt-in): leave the spool to the next llmtrace
    writer or reader and wait for no merger."""
    return at_exit() and fast_exit_asked()


def fast_exit_asked() -> bool:
    """Whether ``LLMTRACE_FAST_EXIT=1``: leave the spool at exit to the next llmtrace writer
    or reader and wait for no merger (opt-in). The price: a plain DuckDB client sees those
    spans only after llmtrace has opened the store once."""
    return os.environ.get(FAST_EXIT_ENV, "").strip() == "1"


def own_files(files: list[Path]) -> list[Path]:
    """The files among ``files`` that this process wrote (named after its pid)."""
    prefix = f"{os.getpid()}-"
    return [p for p in files if p.name.startswith(prefix)]


def store_at_end(
    path: Path, timeout_s: float, session: HubSession | None = None
) -> tuple[bool, str]:
    """Store the spool files beside ``path`` as a process ends: through the shared merger
    (over ``session``, this process's connection to it, if it has one) when one answers, else
    from here (waiting up to ``timeout_s`` for the file). Returns
    whether this process's files are stored, and if not, why."""
    mine = own_files(spool_files(path))
    if not mine and not (session is not None and session.connected):
        return True, ""  # everything of this process's is stored: others' files are theirs
    answer = store_at_exit(path, mine, _HUB_WAIT_S, session)
    if answer is not None:  # stored; or the store is held, or unusable
        return answer == "ok", _WHY.get(answer, "")
    from .merge_here import merge_spool_here  # DuckDB loads only when there is no hub

    stored = merge_spool_here(path, timeout_s)
    return stored, "" if stored else _WHY["busy"]


def end_session(session: HubSession) -> None:
    """Close this process's connection to the hub (made in the background at ``configure()``:
    waited for first) with a ``stop``, which the hub answers once it has let go of the file
    unless another traced process of the store is connected."""
    session.settle(_HUB_WAIT_S)
    if session.connected:
        session.sync(_HUB_WAIT_S, stop=True)


def say_what_is_left(path: Path, why: str, session: HubSession, fast: bool) -> None:
    """At the end: close this process's connection to the hub (which lets go of the file
    before it answers), then say once when some of this process's spans are still beside the
    store: how many files, why and where (not at a ``fast`` exit: leaving them is the plan).
    Other processes' files are theirs to speak of (and are often being stored right then)."""
    end_session(session)
    files = [] if fast else own_files(spool_files(path))
    if files:
        warn_once(
            f"left:{path}",
            f"llmtrace: {len(files)} batch file(s) of this process's spans were not stored "
            f"before it ended ({why or _WHY['busy']}); they are waiting in {spool_dir(path)}, "
            f"and the next writer or reader of {path} stores them",
        )
