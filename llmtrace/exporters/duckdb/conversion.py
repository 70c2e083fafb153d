"""A batch of finished spans to Arrow, as ``export()`` does it: salvaging what it can when one
span cannot be converted, and with the cyclic garbage collector paused if the application asks
for that (``LLMTRACE_EXPORT_PAUSES_GC=1``)."""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from opentelemetry.sdk.trace import ReadableSpan

from ..._internal import report_internal_error
from .gc_pause import PAUSE_GC_ENV, cyclic_gc_paused
from .rows import spans_to_batch

__all__ = ["PAUSE_GC_ENV", "convert", "convert_salvaging"]

_cyclic_gc_paused = cyclic_gc_paused  # llmtrace serve's conversion (otlp_batch) pauses it too


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
