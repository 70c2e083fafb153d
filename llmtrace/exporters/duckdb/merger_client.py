"""The traced process's side of its merger process (``llmtrace.exporters.duckdb.merger``).

Starts the merger on first use, hands it hand-off files, waits for flushes and stops it at the
end. It bounds the files in flight, so a merger that falls behind slows the exporter's writer
thread down (and the batch processor then drops, counted) instead of filling the disk.

If the merger cannot start or dies, the files it had not merged become spool files (anyone who
opens the store merges them, and so does the exporter when flushed) and
:meth:`MergerClient.hand_over` says no, so the caller spools meanwhile: nothing is lost, the
store only fills later. A merger that dies is started again, after a pause that doubles with
each death in a row (up to ``_MAX_RESTART_PAUSE_S``), so a merger that keeps dying costs little
and one that died once is back within a moment. A merger that finds the store unusable (not a
DuckDB file, another application's database) says why; that is final for this process.
"""

from __future__ import annotations

import collections
import contextlib
import itertools
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO

from ..._internal import report_internal_error, warn_once
from ...store.spool import release_handoffs

__all__ = ["MergerClient"]

# Hand-off files given to the merger and not yet merged; more waits.
_MAX_IN_FLIGHT = 16
_FIRST_RESTART_PAUSE_S = 0.05
_MAX_RESTART_PAUSE_S = 30.0


def _python_executable() -> str | None:
    """The interpreter to start the merger with. In an embedded or frozen application
    ``sys.executable`` is the application itself (uWSGI, a PyInstaller binary), which must not
    be started again: then only LLMTRACE_MERGER_PYTHON names one."""
    configured = os.environ.get("LLMTRACE_MERGER_PYTHON")
    if configured:
        return configured
    if getattr(sys, "frozen", False) or "python" not in Path(sys.executable).name.lower():
        return None
    return sys.executable


class MergerClient:
    """One merger process for one store file, for this process."""

    def __init__(
        self,
        db_path: Path,
        *,
        lock_timeout_s: float,
        idle_release_s: float,
        max_hold_s: float,
        yield_s: float,
        threads: int,
    ) -> None:
        self.db_path = db_path
        self._arguments = [
            f"--lock-timeout={lock_timeout_s}",
            f"--idle-release={idle_release_s}",
            f"--max-hold={max_hold_s}",
            f"--yield-s={yield_s}",
            f"--threads={threads}",
        ]
        self.committed_spans = 0
        self._process: subprocess.Popen[bytes] | None = None
        self._starts = 0
        self._restart_pause_s = 0.0
        self._next_start_at = 0.0
        self.unusable: str | None = None  # why the store can never be written, once known
        self._changed = threading.Condition()
        self._in_flight: collections.deque[Path] = collections.deque()
        self._flushes: dict[str, str] = {}
        self._flush_ids = itertools.count()

    @property
    def running(self) -> bool:
        """Whether a merger process runs for this process now."""
        process = self._process
        return process is not None and process.poll() is None

    # --- use ----------------------------------------------------------------------------------
    def hand_over(self, path: Path, *, start: bool = True) -> bool:
        """Give the merger a hand-off file; False when no merger runs (spool the file). With
        ``start=False`` (at exit) only a merger already running with room to spare takes it:
        starting one, or waiting for one, would hold the process's exit up."""
        if self.unusable is not None:
            return False
        process = self._running() if start else self._process
        if process is None or process.poll() is not None:
            return False
        with self._changed:
            while len(self._in_flight) >= _MAX_IN_FLIGHT and self._process is process:
                if not start:
                    return False
                self._changed.wait(0.1)
            if self._process is not process:
                return False
            self._in_flight.append(path)
        return self._send(process, f"file {path}")

    def flush(self, timeout_s: float) -> bool:
        """Wait until everything handed over is merged and the file let go of. False when that
        did not happen in time, or another process held the file throughout. True as well when
        the merger died: what it had not merged is spool files then, which the caller merges
        (and whose own success it reports)."""
        process = self._process
        if process is not None and process.poll() is not None:
            self._gone(process)  # what it had becomes spool files, which the caller merges
            return True
        if process is None:
            return not self._in_flight
        flush_id = str(next(self._flush_ids))
        if not self._send(process, f"flush {flush_id}"):
            return True  # it died: the same, what it had is spool files now
        deadline = time.monotonic() + timeout_s
        with self._changed:
            while flush_id not in self._flushes and self._process is process:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._changed.wait(left)
            if flush_id not in self._flushes:  # it died while we waited: the same again
                return True
            return self._flushes.pop(flush_id) == "ok"

    def stop(self, timeout_s: float = 60.0, *, wait: bool = True) -> None:
        """Let the merger merge everything handed over, then wait for it to exit. Without
        ``wait`` (at exit) it finishes on its own after this process is gone: what it holds
        is its own until then, and anyone's once it ends (see ``spool``)."""
        process, self._process = self._process, None
        if process is None:
            return
        self._send(process, "stop")
        if not wait:
            with contextlib.suppress(OSError):
                process.stdin.close()  # type: ignore[union-attr]
            return
        try:
            process.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        self._gone(process)

    # --- the process --------------------------------------------------------------------------
    def _running(self) -> subprocess.Popen[bytes] | None:
        process = self._process
        if process is not None and process.poll() is None:
            return process
        if process is not None:
            self._gone(process)
        if self.unusable is not None or time.monotonic() < self._next_start_at:
            return None
        if self._starts:  # it died before: wait longer each time before the next start
            self._restart_pause_s = min(
                max(self._restart_pause_s * 2, _FIRST_RESTART_PAUSE_S), _MAX_RESTART_PAUSE_S
            )
            self._next_start_at = time.monotonic() + self._restart_pause_s
        self._starts += 1
        try:
            process = self._start()
        except OSError as exc:
            report_internal_error("DuckDB merger start", exc)
            self._next_start_at = time.monotonic() + _MAX_RESTART_PAUSE_S
            return None
        self._process = process
        threading.Thread(
            target=self._read_replies,
            args=(process,),
            name="llmtrace-merger-replies",
            daemon=True,
        ).start()
        return process

    def _start(self) -> subprocess.Popen[bytes]:
        python = _python_executable()
        if python is None:
            raise OSError(
                f"no Python interpreter to run the merger with ({sys.executable!r} is not one); "
                "set LLMTRACE_MERGER_PYTHON, or batches are merged when flushed"
            )
        # A script of its own, not ``-m``: the package's __init__ modules (the tracing API, the
        # OpenTelemetry SDK) stay out of the merger (see merger_boot).
        return subprocess.Popen(
            [
                python,
                str(Path(__file__).with_name("merger_boot.py")),
                str(self.db_path),
                f"--parent={os.getpid()}",
                *self._arguments,
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # a terminal's Ctrl-C is for the application
        )

    def _send(self, process: subprocess.Popen[bytes], line: str) -> bool:
        stdin: IO[bytes] | None = process.stdin
        try:
            assert stdin is not None
            stdin.write(line.encode() + b"\n")
            stdin.flush()
        except (OSError, ValueError):  # a merger that died: what it had becomes spool files
            self._gone(process)
            return False
        return True

    def _read_replies(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        with process.stdout:
            self._dispatch(process)
        unexpected = self._process is process  # not stopped by this side
        self._gone(process)
        try:
            code = process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            return
        if unexpected:
            warn_once(
                f"merger-exit:{id(self)}",
                f"llmtrace: the merger for {self.db_path} exited (code {code}); its batches "
                "are kept beside the store and merged by the next writer or reader",
            )

    def _dispatch(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        for raw in process.stdout:
            verb, *words = raw.decode().split()
            if verb == "unusable":
                self.unusable = " ".join(words)
                warn_once(
                    f"unusable:{self.db_path}", f"llmtrace: spans not stored: {self.unusable}"
                )
            with self._changed:
                if verb == "unusable":  # it released what it had: those are spool files now
                    self._in_flight.clear()
                elif verb == "done" and self._in_flight:
                    self._in_flight.popleft()
                    self._restart_pause_s = 0.0  # it works: a later death restarts at once
                elif verb == "flushed" and len(words) >= 2:
                    self._flushes[words[0]] = words[1]
                if words and words[-1].isdigit():
                    self.committed_spans = int(words[-1])
                self._changed.notify_all()

    def _gone(self, process: subprocess.Popen[bytes]) -> None:
        """The merger ended: hand what it had not merged to anyone, and wake the waiters."""
        with self._changed:
            if self._process is process:
                self._process = None
            unmerged = list(self._in_flight)
            self._in_flight.clear()
            self._changed.notify_all()
        if unmerged:
            release_handoffs(unmerged)
        if process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
