"""Batch processors that count what they drop and say so once.

The SDK's batch processor logs a warning for every span it drops when its queue is full: with a
dead collector that is a log line per span. llmtrace's processors drop the same way (the queue
stays bounded, the application never waits) but count the drops and warn once per exporter.
"""

from __future__ import annotations

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter

from ._internal import warn_once

__all__ = ["CountingBatchSpanProcessor"]


class CountingBatchSpanProcessor(BatchSpanProcessor):
    """A ``BatchSpanProcessor`` whose full queue drops new spans silently, counted."""

    def __init__(self, exporter: SpanExporter, **settings: int) -> None:
        super().__init__(exporter, **settings)  # type: ignore[arg-type]
        self.dropped_spans = 0
        self._label = type(exporter).__name__
        inner = getattr(self, "_batch_processor", None)
        self._queue = getattr(inner, "_queue", None)
        self._max_queue_size = getattr(inner, "_max_queue_size", None)

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
        super().on_end(span)

    def force_flush(self, timeout_millis: int | None = None) -> bool:
        """Export the queue, then flush the exporter too (the SDK's processor stops at handing
        batches over; the DuckDB exporter writes them on its own thread)."""
        exported = super().force_flush(timeout_millis)
        flush = getattr(self.span_exporter, "force_flush", None)
        if flush is None:
            return exported
        return bool(flush(30_000 if timeout_millis is None else timeout_millis)) and exported
