"""The merger: a process of its own that stores a traced process's span batches.

The traced process reads finished spans' fields and writes them as JSON hand-off documents
beside the store (``spool``, ``store.handoff``); this process normalises and prices them
(``store.json_batch``, on a preparer thread, a chunk ahead) and inserts them (DuckDB parsing
attributes into VARIANT, compressing, writing: about 9 us a span) under the lease of
``writer.StoreWriter``.

Why a process. In a thread of the traced process that work fought the application for the GIL:
the duckdb module takes the GIL again between execution steps and on every return, waiting each
time up to the switch interval (5 ms) while the application's thread is busy in Python, and the
writer fell behind (measured: a 30,720-span insert took 600-700 ms beside a busy thread against
350 ms alone). A second DuckDB instance in the traced process that runs without the GIL (DuckDB's
ADBC driver) is not safe: DuckDB's file locks belong to the process, so when anything else in
the application opened and closed the file, the lock was gone and another process could write
at the same time (reproduced). A process of its own has neither problem, and the other core.

Protocol, one line each way over stdin and stdout:

- ``file <path>``: merge this hand-off file; answered ``done <committed spans>``;
- ``flush <id>``: merge everything given so far and let go of the file; answered
  ``flushed <id> ok|busy <committed spans>`` (busy: another process held the file throughout;
  the files stay on disk and merge later);
- ``stop`` or the end of stdin (the traced process is gone): merge everything, let go, exit.

Ctrl-C in a terminal reaches the whole process group; the merger ignores it and finishes what
it was given when its process goes.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import itertools
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import IO, Any

from ...store.handoff import is_handoff_json
from ...store.json_batch import CHUNK_ROWS, LEAN_CHUNK_ROWS, Prepared
from ...store.spool import release_handoffs
from ...store.writer import StoreWriter
from .allocator import LEAN_THRESHOLD, QUICK_THRESHOLD, set_threshold

__all__ = ["main"]

# While it holds the file or has files waiting, the merger looks at the lease this often.
_POLL_S = 0.05
# With nothing to do it still checks this often that its traced process is alive.
_PARENT_CHECK_S = 1.0
# After the store stayed busy this long at the end, the files are left as spool files: exit
# stays quick, and the next writer or reader merges them.
_FINAL_TRY_S = 1.0

_END = "end"
# Files given to the preparer ahead of the one being stored (it prepares a chunk of the next
# one while DuckDB stores the last chunk of this one, then waits for room).
_PREPARED_AHEAD = 2
# While DuckDB stores a chunk (without the GIL) the preparer thread builds the next one (with
# it), and DuckDB's thread takes the GIL back a few times a chunk (to return, and to release
# each Arrow batch it scanned, which Python objects own). Python hands the GIL over only every
# switch interval, 5 ms by default: measured with the interval at 200 ms and a busy thread, a
# row group of 1,024-row batches waited ~9 s, one 30,720-row batch ~2 s. At 0.5 ms a wait costs
# DuckDB little, and the preparer, the only other busy thread here, nothing worth measuring.
_SWITCH_INTERVAL_S = 0.0005
# How long taking a file waits for its preparation to start (it waits only for the files
# before it, which are stored or dropped by then): past that, merging prepares it itself.
_START_WAIT_S = 5.0


def _read_commands(
    fd: int, commands: queue.Queue[str], on_file: Callable[[Path], None] | None = None
) -> None:
    """Lines from ``fd`` into ``commands``, then the end; ``on_file`` hears of each file as it
    comes, while the main thread may be busy storing another. Raw reads: a thread blocked in
    a buffered read of stdin would hold its lock when the interpreter exits."""
    buffered = b""
    while chunk := os.read(fd, 65_536):
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            command = line.decode().strip()
            if on_file is not None and command.startswith("file "):
                on_file(Path(command[5:]))
            commands.put(command)
    commands.put(_END)


class _Preparer:
    """Hand-off files prepared in order on a thread of its own as soon as they are given
    (DuckDB lets go of the GIL while it stores one; preparing is Python), so storing takes the
    longer of the two instead of both. A file's chunks are prepared as the insert takes them
    (``json_batch.Prepared``): a chunk or two wait in memory, never whole files. Smaller
    chunks while the merger keeps up (its memory), bigger ones once files wait (``behind``,
    or more than one file given and not taken: its speed)."""

    def __init__(self, behind: Callable[[], bool] = lambda: False) -> None:
        self._behind = behind
        self._lock = threading.Lock()
        self._entries: dict[Path, _Entry] = {}
        self._todo: queue.SimpleQueue[_Entry] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, path: Path, most: int | None = None) -> None:
        """Start preparing ``path`` (once: a path already given is left as it is), unless
        ``most`` files are being prepared or wait, prepared, already."""
        with self._lock:
            if self._closed or path in self._entries:
                return
            if most is not None and len(self._entries) >= most:
                return
            entry = self._entries[path] = _Entry(path)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="llmtrace-prepare", daemon=True
                )
                self._thread.start()
        self._todo.put(entry)

    def take(self, path: Path) -> Any:
        """``path`` being prepared (None: not given, not a JSON hand-off file, or its
        preparation did not start in time; merging then prepares it itself); the caller
        discards it."""
        with self._lock:
            entry = self._entries.pop(path, None)
        if entry is None:
            return None
        if not entry.started.wait(_START_WAIT_S):
            entry.cancel()  # the preparer skips it when it gets there
            return None
        return entry.prepared

    def discard(self, paths: Iterable[Path] | None = None) -> None:
        """Drop the preparation of ``paths`` (stopped, what waits in memory let go); by
        default all of them, for good (the merger is finishing: a file given later is not
        prepared)."""
        with self._lock:
            self._closed = self._closed or paths is None
            chosen = list(self._entries) if paths is None else list(paths)
            entries = [self._entries.pop(p) for p in chosen if p in self._entries]
        for entry in entries:
            entry.cancel()

    def _run(self) -> None:
        while True:
            entry = self._todo.get()
            prepared = None
            if not entry.cancelled:
                with contextlib.suppress(Exception):
                    prepared = _prepare(entry.path, self._chunk_rows())
            with entry.lock:
                if entry.cancelled:
                    prepared = None
                entry.prepared = prepared
            entry.started.set()
            if prepared is not None:
                prepared.produce()  # returns once taken whole, or discarded

    def _chunk_rows(self) -> int:
        with self._lock:
            waiting = len(self._entries)
        return CHUNK_ROWS if waiting > 1 or self._behind() else LEAN_CHUNK_ROWS


class _Entry:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.prepared: Any = None
        self.cancelled = False
        self.lock = threading.Lock()
        self.started = threading.Event()

    def cancel(self) -> None:
        """Drop it: not prepared if it has not started, its preparation stopped if it has."""
        with self.lock:
            self.cancelled = True
            prepared = self.prepared
        if prepared is not None:
            prepared.discard()


def _prepare(path: Path, chunk_rows: int | None = None) -> Prepared | None:
    with open(path, "rb") as handle:
        if not is_handoff_json(handle.read(64)):
            return None
    return Prepared(path, None, chunk_rows)


class Merger:
    """Merges the hand-off files it is told about, in order, and tends the lease."""

    def __init__(
        self,
        writer: StoreWriter,
        idle_release_s: float,
        out: IO[str],
        *,
        tune_allocator: bool = False,
    ) -> None:
        """``tune_allocator``: set the C library's allocator as the pace changes (see
        allocator); only the merger process's own ``main`` does, as it owns the process."""
        self.writer = writer
        self.idle_release_s = idle_release_s
        self.out = out
        self.pending: collections.deque[Path] = collections.deque()
        self.last_write_at = time.monotonic()
        self.refused = False
        self.preparer = _Preparer(self.behind)
        self.tune_allocator = tune_allocator
        self._lean: bool | None = None

    def behind(self) -> bool:
        """Whether files wait behind the one being stored (this lease): then speed counts
        more than memory (DuckDB's cap, the chunks' size, the allocator)."""
        return self.writer.backlog or len(self.pending) > 1

    def _pace(self) -> None:
        lean = not self.behind()
        if self.tune_allocator and lean != self._lean:
            self._lean = lean
            set_threshold(LEAN_THRESHOLD if lean else QUICK_THRESHOLD)

    def reply(self, line: str) -> None:
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except (BrokenPipeError, ValueError):  # the traced process is gone: nobody to tell
            pass

    def heard_of(self, path: Path) -> None:
        """A file was given (the command reader's thread): start preparing it now, while the
        main thread stores another or opens the store (a busy store drops what was prepared,
        so it waits beside the store as it came)."""
        self.preparer.submit(path, most=_PREPARED_AHEAD + 1)

    def merge_pending(self) -> bool:
        """Merge waiting files until done or the store is busy; True if all were merged."""
        while self.pending:
            if not self.writer.acquire():  # busy: nothing prepared waits beside the store
                self.preparer.discard(self.pending)
                if self.writer.unusable is not None:
                    self.refuse()
                return False
            # The next files get ready on the preparer's thread while DuckDB stores the head
            # (which, when nobody prepared it, merging prepares itself, first).
            for path in itertools.islice(self.pending, 1, _PREPARED_AHEAD + 1):
                self.preparer.submit(path)
            head = self.pending[0]
            if len(self.pending) > 1:  # behind: more memory until the lease ends
                self.writer.set_behind(True)
            self._pace()
            prepared = self.preparer.take(head)
            try:
                merged = self.writer.merge(head, prepared)
            finally:
                if prepared is not None:
                    prepared.discard()
            if not merged:  # the lease was lost meanwhile: the head waits for the next try
                self.preparer.discard(self.pending)
                return False
            self.pending.popleft()
            self.last_write_at = time.monotonic()
            self.reply(f"done {self.writer.committed_spans}")
        return True

    def refuse(self) -> None:
        """The store can never be written (not a DuckDB file, another application's): say why
        once, and leave what was given as spool files, kept beside the store."""
        if not self.refused:
            self.refused = True
            self.reply(f"unusable {self.writer.unusable}")
        self.preparer.discard(self.pending)
        release_handoffs(list(self.pending))
        self.pending.clear()

    def tend_lease(self) -> None:
        if not self.writer.holding or self.pending:
            return
        if time.monotonic() - self.last_write_at >= self.idle_release_s:
            self.writer.release()
        elif self.writer.wanted():
            self.writer.release(stay_out=True)

    def finish(self) -> None:
        """Merge everything given (trying for a while if the store is busy), then let go."""
        deadline = time.monotonic() + _FINAL_TRY_S
        while not self.merge_pending() and time.monotonic() < deadline and not self.refused:
            time.sleep(_POLL_S)
        self.preparer.discard()
        release_handoffs(list(self.pending))  # still busy: anyone may merge them now
        self.writer.release()

    def handle(self, command: str) -> bool:
        """Act on one command; False when it is time to exit."""
        verb, _, argument = command.partition(" ")
        if verb == "file":
            self.pending.append(Path(argument))
        elif verb == "flush":
            done = self.merge_pending()
            ok = self.writer.flush(self.writer.lock_timeout_s) and done
            self.reply(f"flushed {argument} {'ok' if ok else 'busy'} {self.writer.committed_spans}")
        elif verb in ("stop", _END):
            self.finish()
            self.reply(f"stopped {self.writer.committed_spans}")
            return False
        return True

    def take_waiting(self, commands: queue.Queue[str]) -> bool:
        """Act on every command already waiting, in order, before merging, so the files given
        meanwhile are all ``pending`` and the next ones get prepared while DuckDB stores the
        head. False when it is time to exit."""
        while True:
            try:
                command = commands.get_nowait()
            except queue.Empty:
                return True
            if command and not self.handle(command):
                return False

    def run(self, commands: queue.Queue[str], parent_pid: int) -> None:
        while True:
            busy = self.writer.holding or bool(self.pending)
            try:
                command = commands.get(timeout=_POLL_S if busy else _PARENT_CHECK_S)
            except queue.Empty:
                command = _END if os.getppid() != parent_pid else ""
            if command and not self.handle(command):
                return
            if not self.take_waiting(commands):
                return
            self.merge_pending()
            self.tend_lease()


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="llmtrace-merger", description=__doc__)
    parser.add_argument("db", type=Path)
    parser.add_argument("--parent", type=int, required=True)
    parser.add_argument("--lock-timeout", type=float, default=0.5)
    parser.add_argument("--idle-release", type=float, default=0.6)
    parser.add_argument("--max-hold", type=float, default=5.0)
    parser.add_argument("--yield-s", type=float, default=0.15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    sys.setswitchinterval(_SWITCH_INTERVAL_S)
    writer = StoreWriter(
        args.db,
        lock_timeout_s=args.lock_timeout,
        max_hold_s=args.max_hold,
        yield_s=args.yield_s,
        threads=args.threads,
    )
    commands: queue.Queue[str] = queue.Queue()
    merger = Merger(writer, args.idle_release, sys.stdout, tune_allocator=True)
    reader = threading.Thread(
        target=_read_commands, args=(sys.stdin.fileno(), commands, merger.heard_of)
    )
    reader.daemon = True
    reader.start()
    merger.run(commands, args.parent)
    _quiet_stdout()
    return 0


def _quiet_stdout() -> None:
    """If the traced process is gone, the flush of stdout at exit would print a BrokenPipeError
    into its terminal: point stdout at /dev/null instead (the recipe in Python's signal docs)."""
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


if __name__ == "__main__":
    sys.exit(main())
