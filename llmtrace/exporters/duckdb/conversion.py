"""A batch of finished spans to Arrow, as ``export()`` does it: salvaging what it can when one
span cannot be converted, and with the cyclic garbage collector paused if the application asks
for that (``LLMTRACE_EXPORT_PAUSES_GC=1``)."""

from __future__ import annotations

import contextlib
import gc
import os
from collections.abc import Iterator, Sequence

import pyarrow as pa
from opentelemetry.sdk.trace import ReadableSpan

from ..._internal import report_internal_error
from .rows import spans_to_batch

__all__ = ["convert", "convert_salvaging"]


def convert(spans: Sequence[ReadableSpan]) -> pa.Table:
    """A batch of finished spans as Arrow columns, as ``export()`` converts it."""
    with _cyclic_gc_paused():
        return spans_to_batch(spans)


def convert_salvaging(spans: Sequence[ReadableSpan]) -> tuple[pa.Table | None, int]:
    """The batch converted, and how many spans could not be. When the batch as a whole cannot
    be converted (a value nothing anticipated), each span is tried on its own, so one bad span
    costs only itself, never the batch."""
    try:
        return convert(spans), 0
    except Exception as exc:
        report_internal_error("DuckDBSpanExporter conversion", exc)
    good = []
    for span in spans:
        try:
            convert([span])
        except Exception:
            continue
        good.append(span)
    if not good:
        return None, len(spans)
    try:
        return convert(good), len(spans) - len(good)
    except Exception:
        return None, len(spans)


# Set to 1 to pause the cyclic garbage collector while a batch converts (see below).
PAUSE_GC_ENV = "LLMTRACE_EXPORT_PAUSES_GC"


@contextlib.contextmanager
def _cyclic_gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector around a batch's conversion, only when the
    application asked for it (``LLMTRACE_EXPORT_PAUSES_GC=1``): the collector belongs to the
    application, and tracing does not turn it off behind its back.

    Why one might: the conversion's column lists (8,192 references each) live while the
    application's thread keeps allocating, so every collection the application triggers
    meanwhile traverses them. Measured here over 200,000 spans: the collector's time went from
    1.4 s (an exporter that drops) to 1.8-2.2 s with conversion, and to 1.0 s with it paused
    during conversion (``make bench`` prints the tight loop both ways).
    """
    was_enabled = gc.isenabled()
    pause = was_enabled and os.environ.get(PAUSE_GC_ENV, "") not in ("", "0")
    if pause:
        gc.disable()
    try:
        yield
    finally:
        if pause:
            gc.enable()
