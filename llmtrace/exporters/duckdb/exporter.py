"""``DuckDBSpanExporter``: finished spans into the embedded store, safely across processes.

``export()`` reads a batch on the caller's thread (the batch processor's) into a hand-off
document (``reading``: JSON by orjson; rows, normalisation and prices are left to whoever
merges it, so the application loads neither pyarrow nor DuckDB nor prices) for one writer
thread per exporter, which gathers documents (``gathering``: whole row groups under load) into
hand-off files beside the store. The exporter's merger process (``merger``, started on first
use) inserts them into DuckDB under a lease on the file: the traced process never opens the
store for writing, so its GIL and file locks stay out of the way (``merger`` says why). The
queue and the files in flight are bounded: a merger that cannot keep up slows ``export()``
down (and the batch processor's bounded queue then drops, counted), never growing memory.

The merger lets go of the file when idle (``idle_release_s``), wanted, or after ``max_hold_s``.
A young process's files, and what is left at exit, go to the store's shared merger (``hub``).
``force_flush()`` returns once every exported span is committed and the lease released. Files
nobody could merge are spool files, for whoever opens the store next (README: "What happens to
spans when things go wrong")."""

from __future__ import annotations

import functools
import os
import queue
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from ..._internal import logger, report_internal_error, warn_once
from ...store.spool import (
    ROW_GROUP_ROWS,
    release_handoffs,
    spool_files,
    write_handoff,
    write_spool,
)
from .ending import (
    at_exit,
    end_session,
    exiting,
    fast_exit_asked,
    leave_for_next_reader,
    live_writers,
    say_what_is_left,
    store_at_end,
)
from .forksafe import arrow_work
from .gathering import Document, Gathered, is_batch
from .gc_pause import cyclic_gc_paused
from .hub_client import HubSession, hand_to_hub, sync_or_ask_again, warm_up
from .merger_client import MergerClient
from .reading import DOCUMENT_SPANS, encode_salvaging

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["RECOMMENDED_BATCH", "DuckDBSpanExporter"]

# A batch is one hand-off document (the writer gathers them into row groups). The spans the batch
# processor holds (its queue up to a batch, and the batch it reads) are most of a traced app's
# memory, ~3.5 KB each: 100k spans peaked at 69 MiB with batches of 7,680, 51 with 1,024 (raw 20).
RECOMMENDED_BATCH = {
    "max_queue_size": 65_536,
    "max_export_batch_size": DOCUMENT_SPANS,
    "schedule_delay_millis": 500,
}

# Batches converted but not yet written; export() waits when this many are pending.
_MAX_PENDING_BATCHES = 8
# With no merger running, the writer thread merges the spool itself once this many files wait.
_MERGE_HERE_AFTER_FILES = 8
# At the end, how long the merger may store before leaving the rest on disk (exit stays quick).
_STOP_MERGER_S = 5.0
# A process is young (its files go to the store's hub) for this long and this many spans.
_YOUNG_S, _YOUNG_SPANS = 5.0, 20_000


@dataclass
class _Flush:
    """A request to the writer: make everything before it durable and release the file."""

    timeout_s: float
    lost_before: int = 0
    done: threading.Event = field(default_factory=threading.Event)
    ok: bool = False


_STOP = object()


class DuckDBSpanExporter(SpanExporter):
    """Writes spans to the ``spans`` table of a DuckDB file (created and migrated as needed)."""

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        lock_timeout_s: float = 0.5,
        idle_release_s: float = 0.6,
        max_hold_s: float = 5.0,
        yield_s: float = 0.15,
        threads: int = 1,
        warm_merger: bool = False,
    ) -> None:
        self.path = Path(path)
        self.lock_timeout_s = lock_timeout_s
        self._new_merger = functools.partial(
            MergerClient,
            self.path,
            lock_timeout_s=lock_timeout_s,
            idle_release_s=idle_release_s,
            max_hold_s=max_hold_s,
            yield_s=yield_s,
            threads=threads,
        )
        self.spooled_batches = 0
        self.lost_spans = 0
        self._owner_pid = os.getpid()
        self._merger = self._new_merger()
        self._shutdown = False
        self._queue: queue.Queue[object] = queue.Queue(maxsize=_MAX_PENDING_BATCHES)
        self._writer: threading.Thread | None = None
        self._writer_pid = 0
        self._flushed_lost = 0  # lost_spans as of the last flush: a flush reports new losses
        self._start_lock = threading.Lock()
        self._inline_lock = threading.Lock()  # spools on the caller's thread, once exiting
        self._exit_problem = ""  # why this process's last files were not stored, if so
        # The store's shared merger (``hub``): started now, so it is ready by the time a short
        # process ends; it stores a young process's files too (``_young``).
        self._hub = HubSession(self.path)
        self._hub_spans = 0
        self._born = time.monotonic()
        self._warm = warm_merger and not fast_exit_asked()
        if self._warm:
            warm_up(self._hub)

    @property
    def exported_spans(self) -> int:
        """Spans this exporter's merger committed to the file."""
        return self._merger.committed_spans

    def _lose(self, count: int, why: str) -> None:
        """Count spans that could neither be stored nor kept on disk, and say so once."""
        if count <= 0:
            return
        self.lost_spans += count
        warn_once(
            f"lost:{id(self)}:{why}",
            f"llmtrace: {count} span(s) for {self.path} could not be stored or kept on disk "
            f"({why}); handle.dropped_spans counts every such span",
        )

    # --- SpanExporter -------------------------------------------------------------------------
    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._shutdown or not spans:
            return SpanExportResult.FAILURE if self._shutdown else SpanExportResult.SUCCESS
        with cyclic_gc_paused():
            document, unreadable = encode_salvaging(spans)
        self._lose(unreadable, "a span could not be read")
        return self.export_batch(document)

    def export_batch(self, batch: pa.Table | Document | None) -> SpanExportResult:
        """``export()`` after conversion: hand-off documents, or a batch in
        ``rows.BATCH_SCHEMA`` (``llmtrace serve``)."""
        if batch is None or self._shutdown:
            return SpanExportResult.FAILURE
        if not batch.num_rows:
            return SpanExportResult.SUCCESS
        if self._forked_child():
            self._spool(batch)  # the parent's merger, or the next reader, stores it
            return SpanExportResult.SUCCESS
        if self._ensure_writer():
            self._queue.put(batch)
            if self._writer_alive():
                return SpanExportResult.SUCCESS
            batch = None  # the writer stopped meanwhile (exit): spool what it left
        with self._inline_lock:  # exiting: no merger any more, so store it from here
            if batch is not None:
                self._spool(batch)
            self._drain()
            self._merge_spool_here(self.lock_timeout_s)
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Make every exported span readable: commit what is pending, merge spooled batches
        and release the file.

        Returns False when that did not finish within the timeout, for instance because another
        process held the file throughout (the batches are safe on disk either way and merge
        later).
        """
        if self._forked_child():  # everything it exported is on disk already
            return not self._lost_since(_Flush(0, lost_before=self._flushed_lost))
        if not self._ensure_writer():
            with self._inline_lock:
                return self._merge_spool_here(timeout_millis / 1000)
        request = _Flush(timeout_s=timeout_millis / 1000, lost_before=self._flushed_lost)
        deadline = time.monotonic() + request.timeout_s
        try:
            self._queue.put(request, timeout=request.timeout_s)
        except queue.Full:
            return False
        request.done.wait(max(deadline - time.monotonic(), 0))
        return request.done.is_set() and request.ok and not self._lost_since(request)

    def _lost_since(self, request: _Flush) -> bool:
        self._flushed_lost = lost = self.lost_spans
        return lost > request.lost_before

    def shutdown(self) -> None:
        if self._shutdown:
            return
        if self._forked_child():
            self._shutdown = True
            return
        self._stop_writer()
        self._shutdown = True
        with self._inline_lock:
            self._drain()
            self._merge_spool_here(self.lock_timeout_s)
        end_session(self._hub)  # (a writer that ran has ended it already)

    def _stop_writer(self) -> None:
        """Write everything pending, let the merger finish and end the writer thread."""
        writer = self._writer
        if writer is not None and self._writer_alive():
            self._queue.put(_STOP)
            writer.join(timeout=90)

    def _forked_child(self) -> bool:
        """Whether this process is a fork of the one that made the exporter. A forked worker
        spools its batches (durable, merged exactly once by the parent's merger or the next
        reader) instead of starting a merger process of its own per worker."""
        return os.getpid() != self._owner_pid

    # --- the writer thread --------------------------------------------------------------------
    def _writer_alive(self) -> bool:
        return (
            self._writer is not None and self._writer.is_alive() and self._writer_pid == os.getpid()
        )

    def _ensure_writer(self) -> bool:
        """Start the writer thread if needed; False once the interpreter is exiting."""
        if self._writer_alive():
            return True
        if exiting() or self._shutdown:
            return False
        with self._start_lock:
            if self._writer_alive():
                return True
            if self._writer_pid != os.getpid():
                # A forked child inherits neither the thread nor the parent's merger.
                self._queue = queue.Queue(maxsize=_MAX_PENDING_BATCHES)
                self._merger = self._new_merger()
            self._writer_pid = os.getpid()
            self._writer = threading.Thread(
                target=self._run_writer, name="llmtrace-duckdb-writer", daemon=True
            )
            self._writer.start()
            live_writers.add(self)
            return True

    def _run_writer(self) -> None:
        gathered = Gathered()
        while True:
            item = self._next(gathered)
            try:
                if self._handle(item, gathered):
                    return
            except Exception as exc:  # never let the thread die: keep what it held on disk
                report_internal_error("DuckDBSpanExporter writer", exc)
                if is_batch(item) and not any(b is item for b in gathered.batches):
                    self._spool(item)
                if gathered.rows:
                    self._spool(gathered.take())
                if isinstance(item, _Flush):
                    item.done.set()
                elif item is _STOP:
                    return

    def _handle(self, item: object | None, gathered: Gathered) -> bool:
        """Act on one queue item; True when the writer is to stop."""
        with arrow_work():
            if is_batch(item):
                if not gathered.accepts(item):
                    self._hand_over(gathered.take())
                gathered.add(item)
                while gathered.rows >= ROW_GROUP_ROWS:
                    self._hand_over(gathered.take(ROW_GROUP_ROWS))
            elif (item is not None or gathered.due()) and gathered.rows:  # flush, stop, time
                self._hand_over(gathered.take())
        if isinstance(item, _Flush):
            item.ok = self._flush(item.timeout_s)
            item.done.set()
        elif item is _STOP:
            self._drain()
            self._merger.stop(timeout_s=_STOP_MERGER_S, wait=not leave_for_next_reader())
            self._merge_spool_here(self.lock_timeout_s)  # what raced the stop, if any
            self._say_what_is_left()
            return True
        return False

    def _next(self, gathered: Gathered) -> object | None:
        """The next request, or None when what is gathered is due."""
        if not gathered.rows:
            return self._queue.get()
        try:
            return self._queue.get(timeout=max(gathered.deadline - time.monotonic(), 0.001))
        except queue.Empty:
            return None

    def _hand_over(self, batch: pa.Table | Document) -> None:
        try:
            handoff = write_handoff(self.path, batch)
        except OSError:  # no room or no permission: the spool (fsynced) may still work
            self._spool(batch)
            return
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter hand-off", exc)
            self._spool(batch)
            return
        if self._young(batch.num_rows) and hand_to_hub(self._hub, handoff):
            self._hub_spans += batch.num_rows
            return
        if not self._merger.hand_over(handoff, start=not at_exit()):
            # No merger: anyone merges it. The client may have released it already (a merger
            # that died while it was being handed over).
            release_handoffs([handoff])
            self.spooled_batches += 1
            if len(spool_files(self.path)) >= _MERGE_HERE_AFTER_FILES:
                self._merge_spool_here(self.lock_timeout_s)  # no merger for now: keep up

    def _young(self, rows: int) -> bool:
        """Young (its first seconds and spans, no merger of its own yet): its files go to the
        hub, so a process that lives a second or two starts no merger process of its own."""
        return (
            self._warm
            and not self._merger.running
            and not at_exit()
            and self._hub_spans + rows <= _YOUNG_SPANS
            and time.monotonic() - self._born < _YOUNG_S
        )

    def _flush(self, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        ok = self._merger.flush(timeout_s)
        if self._hub.connected:  # None: no hub answered; the files are merged here, below
            ok = sync_or_ask_again(self._hub, timeout_s) in ("ok", None) and ok
        if spool_files(self.path):  # the merger could not run, or gave up on some
            ok = self._merge_spool_here(max(deadline - time.monotonic(), 0.05)) and ok
        return ok

    def _drain(self) -> None:
        """Spool whatever is still queued (an export racing the stop request)."""
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if is_batch(item):
                self._spool(item)
            elif isinstance(item, _Flush):
                item.ok = self._merge_spool_here(item.timeout_s)
                item.done.set()

    # --- without a merger ---------------------------------------------------------------------
    def _spool(self, batch: pa.Table | Document) -> None:
        try:
            write_spool(self.path, batch)
        except OSError as exc:
            self._lose(batch.num_rows, f"spool folder not writable: {exc.strerror or exc}")
            return
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter spool", exc)
            self._lose(batch.num_rows, "spool write failed")
            return
        self.spooled_batches += 1
        logger.debug("%s: batch spooled for the next writer or reader to merge", self.path)

    def _merge_spool_here(self, timeout_s: float) -> bool:
        """Merge spool files from this process (at exit through the hub if it can; at a fast
        exit they are left for the next writer or reader: ``ending``)."""
        if leave_for_next_reader():
            return not spool_files(self.path)
        if at_exit():
            stored, self._exit_problem = store_at_end(self.path, timeout_s, self._hub)
            return stored
        if not spool_files(self.path):
            return True
        from .merge_here import merge_spool_here  # DuckDB loads only when there is a spool

        return merge_spool_here(self.path, timeout_s)

    def _say_what_is_left(self) -> None:
        say_what_is_left(self.path, self._exit_problem, self._hub, leave_for_next_reader())
