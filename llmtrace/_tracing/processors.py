"""The processors between a span and the exporters, all three:

- :class:`Pipeline` is the one processor llmtrace adds to a provider; ``configure()`` swaps its
  children, so calling it again never duplicates spans;
- :class:`ContextStampingProcessor` stamps the active ``llmtrace.context`` on each span as it
  starts;
- :class:`CountingBatchSpanProcessor` batches for one exporter. The SDK's batch processor logs
  a warning for every span it drops when its queue is full (a log line per span with a dead
  collector); this one drops the same way (the queue stays bounded, the application never
  waits) but counts the drops and warns once per exporter.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import Any

from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from .._internal import warn_once
from .context import current_context_attributes

__all__ = [
    "SHUTDOWN_TIMEOUT_MS",
    "ContextStampingProcessor",
    "CountingBatchSpanProcessor",
    "Pipeline",
]


# How long shutdown waits for the batch processor's last export. The SDK waits 30 s, then
# returns while the export still runs on a daemon thread that the interpreter ends at exit: the
# batch is lost, uncounted. A short process's first export at exit (its first pyarrow and
# price-table use) took longer than that on a starved machine (50 processes on 2 cores).
SHUTDOWN_TIMEOUT_MS = 300_000


# This process's id, kept by a fork hook. The SDK's batch processor asks os.getpid() for every
# span it queues, to notice a fork (a system call: 0.2-0.4 us on this machine), though its own
# fork hook already re-initialises it in the child.
_pid: int | None = None
if hasattr(os, "register_at_fork"):

    def _note_pid() -> None:
        global _pid
        _pid = os.getpid()

    _note_pid()
    os.register_at_fork(after_in_child=_note_pid)

# What queueing a span directly needs of the SDK's batch processor (opentelemetry-sdk 1.3x).
_QUEUE_FIELDS = ("_queue", "_max_queue_size", "_shutdown", "_pid", "_max_export_batch_size")


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` whose full queue drops new spans silently, counted."""

    def __init__(self, exporter: SpanExporter, **settings: int) -> None:
        super().__init__(exporter, **settings)  # type: ignore[arg-type]
        self.dropped_spans = 0
        self._dropped_at_flush = 0  # a flush reports the drops since the one before
        self._label = type(exporter).__name__
        inner = getattr(self, "_batch_processor", None)
        self._queue = getattr(inner, "_queue", None)
        self._max_queue_size = getattr(inner, "_max_queue_size", None)
        # The SDK processor whose queue on_end fills itself, when its layout is the known one
        # and this process keeps its id; otherwise every span goes through the SDK's on_end.
        fields = (*_QUEUE_FIELDS, "_worker_awaken")
        known = _pid is not None and all(hasattr(inner, field) for field in fields)
        self._direct: Any = inner if known else None

    def on_end(self, span: ReadableSpan) -> None:
        queue, limit = self._queue, self._max_queue_size
        if queue is not None and limit is not None and len(queue) >= limit:
            self.dropped_spans += 1
            warn_once(
                f"dropped:{self._label}:{id(self)}",
                f"llmtrace: the {self._label} queue is full ({limit} spans): spans are being "
                "dropped for this exporter only (other exporters are unaffected); "
                "see .dropped_spans for the count",
            )
            return
        inner = self._direct
        if inner is None or queue is None or inner._shutdown or inner._pid != _pid:
            super().on_end(span)  # the SDK's own path: its shutdown warning, its fork reset
            return
        context = span.context
        if not (context and context.trace_flags.sampled):
            return
        # What the SDK's emit() does, less its os.getpid() and two calls.
        queue.appendleft(span)
        if len(queue) >= inner._max_export_batch_size and not inner._worker_awaken.is_set():
            inner._worker_awaken.set()

    def shutdown(self) -> None:
        inner = getattr(self, "_batch_processor", None)
        if inner is None:  # another SDK version's layout: its own limit applies
            super().shutdown()  # type: ignore[no-untyped-call]
            return
        inner.shutdown(timeout_millis=SHUTDOWN_TIMEOUT_MS)  # type: ignore[no-untyped-call]

    def force_flush(self, timeout_millis: int | None = None) -> bool:
        """Export the queue, then flush the exporter too (the SDK's processor stops at handing
        batches over; the DuckDB exporter writes them on its own thread). False when that did
        not finish, or when the full queue dropped spans since the last flush: they did not
        land."""
        exported = super().force_flush(timeout_millis)
        before, self._dropped_at_flush = self._dropped_at_flush, self.dropped_spans
        exported = exported and self.dropped_spans == before
        flush = getattr(self.span_exporter, "force_flush", None)
        if flush is None:
            return exported
        return bool(flush(30_000 if timeout_millis is None else timeout_millis)) and exported


class ContextStampingProcessor(SpanProcessor):
    """Adds the active ``llmtrace.context`` attributes to each span as it starts."""

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        stamped = current_context_attributes()
        if not stamped:
            return
        # The SDK's own dict when it exposes one: membership tests at C speed.
        own = getattr(getattr(span, "_attributes", None), "_dict", None)
        if own is None:
            own = span.attributes or {}
        missing = {key: value for key, value in stamped.items() if key not in own}
        if missing:
            span.set_attributes(missing)

    def on_end(self, span: ReadableSpan) -> None:
        pass

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


def _empty() -> None:
    pass


def _empty_documented() -> None:
    """A docstring, then nothing."""


# The bytecode of a body that does nothing, as this interpreter compiles it, and where its
# constants hold None (what it returns). Compared instead of disassembled: ``dis`` took ~4 ms
# the first time, in every process that configures.
_EMPTY_BODIES = tuple(
    (f.__code__.co_code, tuple(c is None for c in f.__code__.co_consts))
    for f in (_empty, _empty_documented)
)


def _does_nothing(method: Any) -> bool:
    """True for a method whose body is only ``pass`` (or a docstring, or ``return None``), as
    the SDK batch processor's ``on_start`` and our stamping processor's ``on_end`` are: not
    worth a call on every span."""
    code = getattr(getattr(method, "__func__", method), "__code__", None)
    if code is None or code.co_names:
        return False
    body = (code.co_code, tuple(c is None for c in code.co_consts))
    return body in _EMPTY_BODIES


class Pipeline(SpanProcessor):
    """The one processor llmtrace adds to a provider; its children can be swapped safely."""

    def __init__(self) -> None:
        self._children: tuple[SpanProcessor, ...] = ()
        self._retired: tuple[SpanProcessor, ...] = ()  # shut down, still counted
        # The children's on_start / on_end that do something (called for every span).
        self._on_start: tuple[Callable[[Span, Context | None], None], ...] = ()
        self._on_end: tuple[Callable[[ReadableSpan], None], ...] = ()
        self._lock = threading.Lock()

    def replace(self, children: tuple[SpanProcessor, ...]) -> tuple[SpanProcessor, ...]:
        on_start = tuple(c.on_start for c in children if not _does_nothing(c.on_start))
        on_end = tuple(c.on_end for c in children if not _does_nothing(c.on_end))
        with self._lock:
            old, self._children = self._children, children
            self._on_start, self._on_end = on_start, on_end
        return old

    @property
    def children(self) -> tuple[SpanProcessor, ...]:
        return self._children

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        for on_start in self._on_start:
            on_start(span, parent_context)

    def on_end(self, span: ReadableSpan) -> None:
        for on_end in self._on_end:
            on_end(span)

    @property
    def counted(self) -> tuple[SpanProcessor, ...]:
        """The children, and those shut down since: their drop counts still matter."""
        return self._children + self._retired

    def shutdown(self) -> None:
        old = self.replace(())
        self._retired = old
        for child in old:
            child.shutdown()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return all(child.force_flush(timeout_millis) for child in self._children)
