"""The merger: a process of its own that stores a traced process's span batches.

The traced process converts finished spans to Arrow and writes them as hand-off files beside the
store (``spool``); this process inserts them (DuckDB parsing attributes into VARIANT,
compressing, writing: about 8 us a span) under the lease of ``writer.StoreWriter``.

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
import os
import queue
import signal
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO, Any

from ...store.handoff import is_handoff_json
from ...store.json_batch import prepare
from ...store.spool import release_handoffs
from ...store.writer import StoreWriter

__all__ = ["main"]

# While it holds the file or has files waiting, the merger looks at the lease this often.
_POLL_S = 0.05
# With nothing to do it still checks this often that its traced process is alive.
_PARENT_CHECK_S = 1.0
# After the store stayed busy this long at the end, the files are left as spool files: exit
# stays quick, and the next writer or reader merges them.
_FINAL_TRY_S = 1.0

_END = "end"


def _read_commands(fd: int, commands: queue.Queue[str]) -> None:
    """Lines from ``fd`` into ``commands``, then the end. Raw reads: a thread blocked in a
    buffered read of stdin would hold its lock when the interpreter exits."""
    buffered = b""
    while chunk := os.read(fd, 65_536):
        buffered += chunk
        *lines, buffered = buffered.split(b"\n")
        for line in lines:
            commands.put(line.decode().strip())
    commands.put(_END)


class _Ahead:
    """The next hand-off file, prepared on a thread of its own while DuckDB stores the one
    before it (DuckDB lets go of the GIL while it works; preparing is Python): storing takes
    the longer of the two a file instead of both."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.prepared: Any = None
        self._thread = threading.Thread(target=self._run, name="llmtrace-prepare", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        with contextlib.suppress(Exception):  # merging the file itself then says what is wrong
            with open(self.path, "rb") as handle:
                if not is_handoff_json(handle.read(64)):
                    return
            self.prepared = prepare(self.path, None)

    def result(self) -> Any:
        self._thread.join()
        return self.prepared

    def discard(self) -> None:
        prepared = self.result()
        if prepared is not None:
            prepared.discard()


class Merger:
    """Merges the hand-off files it is told about, in order, and tends the lease."""

    def __init__(self, writer: StoreWriter, idle_release_s: float, out: IO[str]) -> None:
        self.writer = writer
        self.idle_release_s = idle_release_s
        self.out = out
        self.pending: collections.deque[Path] = collections.deque()
        self.last_write_at = time.monotonic()
        self.refused = False
        self.ahead: _Ahead | None = None

    def reply(self, line: str) -> None:
        try:
            self.out.write(line + "\n")
            self.out.flush()
        except (BrokenPipeError, ValueError):  # the traced process is gone: nobody to tell
            pass

    def merge_pending(self) -> bool:
        """Merge waiting files until done or the store is busy; True if all were merged."""
        while self.pending:
            head = self.pending[0]
            ahead, self.ahead = self.ahead, None
            if ahead is not None and ahead.path != head:
                ahead.discard()
                ahead = None
            prepared = ahead.result() if ahead is not None else None
            if len(self.pending) > 1:
                self.ahead = _Ahead(self.pending[1])  # prepared while DuckDB stores the head
            try:
                merged = self.writer.merge(head, prepared)
            except BaseException:
                if ahead is not None:
                    ahead.discard()
                raise
            if not merged:  # busy: the head waits, prepared, for the next try
                self.drop_ahead()
                self.ahead = ahead
                if self.writer.unusable is not None:
                    self.refuse()
                return False
            if ahead is not None:
                ahead.discard()
            self.pending.popleft()
            self.last_write_at = time.monotonic()
            self.reply(f"done {self.writer.committed_spans}")
        return True

    def drop_ahead(self) -> None:
        if self.ahead is not None:
            self.ahead.discard()
            self.ahead = None

    def refuse(self) -> None:
        """The store can never be written (not a DuckDB file, another application's): say why
        once, and leave what was given as spool files, kept beside the store."""
        if not self.refused:
            self.refused = True
            self.reply(f"unusable {self.writer.unusable}")
        self.drop_ahead()
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
        self.drop_ahead()
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

    def run(self, commands: queue.Queue[str], parent_pid: int) -> None:
        while True:
            busy = self.writer.holding or bool(self.pending)
            try:
                command = commands.get(timeout=_POLL_S if busy else _PARENT_CHECK_S)
            except queue.Empty:
                command = _END if os.getppid() != parent_pid else ""
            if command and not self.handle(command):
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
    writer = StoreWriter(
        args.db,
        lock_timeout_s=args.lock_timeout,
        max_hold_s=args.max_hold,
        yield_s=args.yield_s,
        threads=args.threads,
    )
    commands: queue.Queue[str] = queue.Queue()
    reader = threading.Thread(target=_read_commands, args=(sys.stdin.fileno(), commands))
    reader.daemon = True
    reader.start()
    Merger(writer, args.idle_release, sys.stdout).run(commands, args.parent)
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
