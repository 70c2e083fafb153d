"""``DuckDBSpanExporter``: finished spans into the embedded store, safely across processes.

Design. DuckDB allows one process to hold a file, and a reader cannot even open it read-only
while a writer holds it. So the exporter holds the file only for the length of one batch:
connect, merge any spooled batches, insert, close. It runs on the batch processor's thread,
never the application's, and batches are large (up to 8,192 spans) so the open/close cost is
paid rarely. When another process holds the file for longer than ``lock_timeout_s``, the batch
is written to a spool file instead and merged by whichever writer or reader opens the store
next. Nothing is dropped and nothing waits on the application's thread.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Sequence
from pathlib import Path

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .._internal import logger, report_internal_error
from ..store.connection import StoreBusyError, connect_write
from ..store.rows import INSERT_BATCH_SQL, spans_to_batch
from ..store.spool import merge_spool, spool_files, write_spool

__all__ = ["DuckDBSpanExporter"]

# The batch processor settings that suit this exporter: big batches, a short delay.
RECOMMENDED_BATCH = {
    "max_queue_size": 65_536,
    "max_export_batch_size": 8_192,
    "schedule_delay_millis": 1_000,
}


class DuckDBSpanExporter(SpanExporter):
    """Writes spans to the ``spans`` table of a DuckDB file (created and migrated as needed)."""

    def __init__(self, path: str | os.PathLike[str], lock_timeout_s: float = 0.5) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._lock = threading.Lock()
        self._shutdown = False
        self.spooled_batches = 0
        self.exported_spans = 0

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

    def _write(self, batch: object) -> SpanExportResult:
        try:
            conn = connect_write(self.path, timeout_s=self.lock_timeout_s)
        except StoreBusyError:
            return self._spool(batch)
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter connect", exc)
            return self._spool(batch)
        try:
            if spool_files(self.path):
                merge_spool(conn, self.path)
            conn.register("span_batch", batch)
            conn.execute(INSERT_BATCH_SQL.format(source="span_batch"))
            conn.unregister("span_batch")
            self.exported_spans += batch.num_rows  # type: ignore[attr-defined]
            return SpanExportResult.SUCCESS
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter insert", exc)
            return self._spool(batch)
        finally:
            conn.close()

    def _spool(self, batch: object) -> SpanExportResult:
        try:
            write_spool(self.path, batch)  # type: ignore[arg-type]
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter spool", exc)
            return SpanExportResult.FAILURE
        self.spooled_batches += 1
        # Contention is normal operation, not a problem worth a warning.
        logger.debug("%s busy: batch spooled for the next writer or reader to merge", self.path)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True

    def shutdown(self) -> None:
        self._shutdown = True
