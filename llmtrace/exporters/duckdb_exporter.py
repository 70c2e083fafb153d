"""``DuckDBSpanExporter``: finished spans into the embedded store, safely across processes.

Design. ``export()`` turns a batch into Arrow columns on the caller's thread (the batch
processor's, never the application's) and hands it to one writer thread per exporter, which
owns the DuckDB connection. DuckDB releases the GIL while it parses and stores, so the next
batch is converted while the previous one is written; when the writer falls behind, it takes
every batch waiting and inserts them with one statement (one transaction). The hand-off queue is
bounded, so a writer that cannot keep up slows ``export()`` down (and the batch processor's own
bounded queue then drops, counted) instead of growing memory.

DuckDB lets one process hold a file, and a reader cannot even open it read-only while a writer
holds it. Opening and closing costs 20-160 ms (the close checkpoints), too much to pay per
batch, so the writer holds the file on a *lease*: it keeps the connection while batches keep
coming and closes it once idle for ``idle_release_s`` or after holding it ``max_hold_s``. After
a release forced by ``max_hold_s`` it stays out for ``yield_s`` so that readers (``llmtrace
sql``, ``llmtrace.query``) and other processes get their turn. While it holds the file, the
write-ahead log is not checkpointed every 16 MB (DuckDB's default, which under load rewrites
the growing row group again and again: 37 us a span instead of 12); closing the lease
checkpoints once.

When the file is held elsewhere for longer than ``lock_timeout_s``, or during that yield, the
batch is written to a spool file beside the store instead, and merged exactly once by whichever
writer or reader opens the store next. Nothing is dropped and nothing waits on the application.

``force_flush()`` returns once every exported span is committed to the file (or safely
spooled) and the lease is released, so other processes can read it; ``shutdown()`` does the
same and stops the writer. A process that exits without either still loses nothing: the SDK
shuts its processors down at exit, and llmtrace's ``configure()`` flushes them.
"""

from __future__ import annotations

import atexit
import os
import queue
import threading
import time
import weakref
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import duckdb
import pyarrow as pa
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .._internal import logger, report_internal_error
from ..store.connection import StoreBusyError, connect_write
from ..store.rows import INSERT_BATCH_SQL, spans_to_batch
from ..store.spool import merge_spool, spool_dir, write_spool

__all__ = ["RECOMMENDED_BATCH", "DuckDBSpanExporter"]

# The batch processor settings that suit this exporter: big batches, a short delay.
RECOMMENDED_BATCH = {
    "max_queue_size": 65_536,
    "max_export_batch_size": 8_192,
    "schedule_delay_millis": 500,
}

# Batches converted but not yet written; export() waits when this many are pending.
_MAX_PENDING_BATCHES = 8
# The most rows the writer puts into one INSERT when batches have piled up.
_MAX_ROWS_PER_INSERT = 65_536
# While the lease is held, checkpoint only when the log grows past this (closing checkpoints).
_LEASE_WAL_CHECKPOINT = "1GB"


@dataclass
class _Flush:
    """A request to the writer: make everything before it durable and release the file."""

    timeout_s: float
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False


_STOP = object()

# Exporters with a live writer thread. At exit each is drained and its writer stopped (a thread
# frozen at interpreter teardown would hold its connection open); exports that arrive after
# that, such as the batch processor's final flush, are written on the caller's thread.
_live_exporters: weakref.WeakSet[DuckDBSpanExporter] = weakref.WeakSet()
_exiting = False


def _stop_writers_at_exit() -> None:
    global _exiting
    _exiting = True
    for exporter in list(_live_exporters):
        exporter._stop_writer()


atexit.register(_stop_writers_at_exit)


class DuckDBSpanExporter(SpanExporter):
    """Writes spans to the ``spans`` table of a DuckDB file (created and migrated as needed)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_timeout_s: float = 0.5,
        idle_release_s: float = 0.2,
        max_hold_s: float = 1.0,
        yield_s: float = 0.15,
    ) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self.idle_release_s = idle_release_s
        self.max_hold_s = max_hold_s
        self.yield_s = yield_s
        self.spooled_batches = 0
        self.exported_spans = 0
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._acquired_at = 0.0
        self._stay_out_until = 0.0
        self._shutdown = False
        self._queue: queue.Queue[object] = queue.Queue(maxsize=_MAX_PENDING_BATCHES)
        self._writer: threading.Thread | None = None
        self._writer_pid = 0
        self._start_lock = threading.Lock()
        self._inline_lock = threading.Lock()  # writes on the caller's thread, once exiting

    # --- SpanExporter -------------------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown:
            return SpanExportResult.FAILURE
        if not spans:
            return SpanExportResult.SUCCESS
        try:
            batch = spans_to_batch(spans)
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter conversion", exc)
            return SpanExportResult.FAILURE
        if not batch.num_rows:
            return SpanExportResult.SUCCESS
        if self._ensure_writer():
            self._queue.put(batch)
            if self._writer_alive():
                return SpanExportResult.SUCCESS
            batch = None  # the writer stopped meanwhile (exit): write what it left
        with self._inline_lock:
            if batch is not None:
                self._write(batch)
            self._drain()
            self._release()
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Make every exported span readable: write what is pending, merge spooled batches,
        checkpoint and release the file.

        Returns False when that did not finish within the timeout, for instance because another
        process held the file throughout (spooled batches are safe on disk either way and merge
        on the next open).
        """
        if not self._ensure_writer():
            with self._inline_lock:
                ok = self._flush(timeout_millis / 1000)
            return ok
        request = _Flush(timeout_s=timeout_millis / 1000)
        deadline = time.monotonic() + request.timeout_s
        try:
            self._queue.put(request, timeout=request.timeout_s)
        except queue.Full:
            return False
        request.done.wait(max(deadline - time.monotonic(), 0))
        return request.done.is_set() and request.ok

    def shutdown(self) -> None:
        if self._shutdown:
            return
        self._stop_writer()
        self._shutdown = True
        with self._inline_lock:
            self._flush(self.lock_timeout_s)

    def _stop_writer(self) -> None:
        """Write everything pending, release the file and end the writer thread."""
        writer = self._writer
        if writer is not None and self._writer_alive():
            self._queue.put(_STOP)
            writer.join(timeout=30)

    # --- the writer thread --------------------------------------------------------------------
    def _writer_alive(self) -> bool:
        return (
            self._writer is not None and self._writer.is_alive() and self._writer_pid == os.getpid()
        )

    def _ensure_writer(self) -> bool:
        """Start the writer thread if needed; False once the interpreter is exiting."""
        if self._writer_alive():
            return True
        if _exiting or self._shutdown:
            return False
        with self._start_lock:
            if self._writer_alive():
                return True
            if self._writer_pid != os.getpid():
                # A forked child inherits neither the thread nor the parent's connection.
                self._queue = queue.Queue(maxsize=_MAX_PENDING_BATCHES)
                self._conn = None
            self._writer_pid = os.getpid()
            self._writer = threading.Thread(
                target=self._run_writer, name="llmtrace-duckdb-writer", daemon=True
            )
            self._writer.start()
            _live_exporters.add(self)
            return True

    def _run_writer(self) -> None:
        while True:
            try:
                item = self._queue.get(timeout=self.idle_release_s if self._conn else None)
            except queue.Empty:
                self._release()  # idle: let readers and other processes in
                continue
            if isinstance(item, pa.Table):
                batches, item = self._gather(item)
                self._write(batches[0] if len(batches) == 1 else pa.concat_tables(batches))
            if isinstance(item, _Flush):
                item.ok = self._flush(item.timeout_s)
                item.done.set()
            elif item is _STOP:
                self._drain()
                self._release()
                return

    def _drain(self) -> None:
        """Write whatever is still queued (an export racing the stop request)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if isinstance(item, pa.Table):
                self._write(item)
            elif isinstance(item, _Flush):
                item.ok = self._flush(item.timeout_s)
                item.done.set()

    def _gather(self, first: pa.Table) -> tuple[list[pa.Table], object]:
        """``first`` and the batches queued behind it, up to one insert's worth; stops at a
        flush or stop request, which is returned to be handled after the write."""
        batches, rows = [first], first.num_rows
        while rows < _MAX_ROWS_PER_INSERT:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if not isinstance(item, pa.Table):
                return batches, item
            batches.append(item)
            rows += item.num_rows
        return batches, None

    def _flush(self, timeout_s: float) -> bool:
        ok = True
        try:
            if self._conn is None and spool_dir(self.path).is_dir():
                self._conn = connect_write(self.path, timeout_s=timeout_s)
            if self._conn is not None and spool_dir(self.path).is_dir():
                merge_spool(self._conn, self.path)
        except StoreBusyError:
            ok = False
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter flush", exc)
        self._release()
        return ok

    # --- the lease ----------------------------------------------------------------------------
    def _acquire(self) -> duckdb.DuckDBPyConnection | None:
        if self._conn is not None:
            return self._conn
        now = time.monotonic()
        if now < self._stay_out_until:
            return None
        try:
            conn = connect_write(self.path, timeout_s=self.lock_timeout_s)
        except StoreBusyError:
            return None
        conn.execute(f"SET wal_autocheckpoint = '{_LEASE_WAL_CHECKPOINT}'")
        self._conn = conn
        self._acquired_at = now
        return conn

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:
                report_internal_error("DuckDBSpanExporter close", exc)

    # --- writing ------------------------------------------------------------------------------
    def _write(self, batch: pa.Table) -> None:
        try:
            conn = self._acquire()
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter connect", exc)
            conn = None
        if conn is None:
            self._spool(batch)
            return
        try:
            if spool_dir(self.path).is_dir():
                merge_spool(conn, self.path)
            conn.register("span_batch", batch)
            conn.execute(INSERT_BATCH_SQL.format(source="span_batch"))
            conn.unregister("span_batch")
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter insert", exc)
            self._release()
            self._spool(batch)
            return
        self.exported_spans += batch.num_rows
        now = time.monotonic()
        if now - self._acquired_at >= self.max_hold_s:
            self._release()
            self._stay_out_until = now + self.yield_s

    def _spool(self, batch: pa.Table) -> None:
        try:
            write_spool(self.path, batch)
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter spool", exc)
            return
        self.spooled_batches += 1
        # Contention is normal operation, not a problem worth a warning.
        logger.debug("%s busy: batch spooled for the next writer or reader to merge", self.path)
