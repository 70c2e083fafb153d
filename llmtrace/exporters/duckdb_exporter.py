"""``DuckDBSpanExporter``: finished spans into the embedded store, safely across processes.

Design. DuckDB lets one process hold a file, and a reader cannot even open it read-only while a
writer holds it. Opening and closing costs 20-160 ms (the close checkpoints), too much to pay
per batch, so the exporter holds the file on a *lease*: it keeps the connection while batches
keep coming and closes it once idle for ``idle_release_s`` or after holding it
``max_hold_s``. After a release forced by ``max_hold_s`` it stays out for ``yield_s`` so that
readers (``llmtrace sql``, ``llmtrace.query``) and other processes get their turn.

When the file is held elsewhere for longer than ``lock_timeout_s``, or during that yield, the
batch is written to a spool file beside the store instead, and merged exactly once by
whichever writer or reader opens the store next. All of this runs on the batch processor's
thread, never the application's: nothing is dropped and nothing waits on the application.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
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
        self._lock = threading.Lock()
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._acquired_at = 0.0
        self._last_used = 0.0
        self._stay_out_until = 0.0
        self._shutdown = False
        self._releaser: threading.Thread | None = None
        self._wake = threading.Event()

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
        with self._lock:
            return self._write(batch)

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Make every exported span readable: merge spooled batches, checkpoint, release.

        Returns False when another process held the file for the whole timeout (the spooled
        batches are still safe on disk and merge on the next open).
        """
        with self._lock:
            if self._conn is None and spool_dir(self.path).is_dir():
                try:
                    self._conn = connect_write(self.path, timeout_s=timeout_millis / 1000)
                except StoreBusyError:
                    return False
            try:
                if self._conn is not None and spool_dir(self.path).is_dir():
                    merge_spool(self._conn, self.path)
            except Exception as exc:
                report_internal_error("DuckDBSpanExporter flush", exc)
            self._release()
        return True

    def shutdown(self) -> None:
        with self._lock:
            self._shutdown = True
            self._release()
        self._wake.set()

    # --- the lease ----------------------------------------------------------------------------
    def _acquire(self) -> duckdb.DuckDBPyConnection | None:
        if self._conn is not None:
            return self._conn
        now = time.monotonic()
        if now < self._stay_out_until:
            return None
        try:
            self._conn = connect_write(self.path, timeout_s=self.lock_timeout_s)
        except StoreBusyError:
            return None
        self._acquired_at = now
        self._start_releaser()
        return self._conn

    def _release(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:
                report_internal_error("DuckDBSpanExporter close", exc)

    def _start_releaser(self) -> None:
        if self._releaser is None or not self._releaser.is_alive():
            self._releaser = threading.Thread(
                target=self._release_when_idle, name="llmtrace-duckdb-lease", daemon=True
            )
            self._releaser.start()

    def _release_when_idle(self) -> None:
        while not self._shutdown:
            self._wake.wait(self.idle_release_s / 2)
            with self._lock:
                if self._conn is None:
                    return
                if time.monotonic() - self._last_used >= self.idle_release_s:
                    self._release()
                    return

    # --- writing ------------------------------------------------------------------------------
    def _write(self, batch: pa.Table) -> SpanExportResult:
        try:
            conn = self._acquire()
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter connect", exc)
            conn = None
        if conn is None:
            return self._spool(batch)
        try:
            if spool_dir(self.path).is_dir():
                merge_spool(conn, self.path)
            conn.register("span_batch", batch)
            conn.execute(INSERT_BATCH_SQL.format(source="span_batch"))
            conn.unregister("span_batch")
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter insert", exc)
            self._release()
            return self._spool(batch)
        self.exported_spans += batch.num_rows
        now = time.monotonic()
        self._last_used = now
        if now - self._acquired_at >= self.max_hold_s:
            self._release()
            self._stay_out_until = now + self.yield_s
        return SpanExportResult.SUCCESS

    def _spool(self, batch: pa.Table) -> SpanExportResult:
        try:
            write_spool(self.path, batch)
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter spool", exc)
            return SpanExportResult.FAILURE
        self.spooled_batches += 1
        # Contention is normal operation, not a problem worth a warning.
        logger.debug("%s busy: batch spooled for the next writer or reader to merge", self.path)
        return SpanExportResult.SUCCESS
