"""A public test kit: capture llmtrace spans in memory with fixed ids and a fake clock.

Example:
    >>> from llmtrace.testing import FakeClock, capture_spans
    >>> clock = FakeClock()
    >>> with capture_spans(clock=clock) as spans:
    ...     with llmtrace.workflow("answer"):
    ...         clock.advance(0.25)
    >>> spans.records()[0]["name"], spans.records()[0]["end_ns"]
    ('answer', 250000000)

With a :class:`FakeClock`, every span starts and ends when the clock says, so durations and
latency attributes (``llmtrace.stream.ttft_ms``) are exact and whole records compare equal.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.sdk.trace.id_generator import IdGenerator

from . import semconv as sc
from ._tracing.late import with_late_attributes
from ._tracing.processors import ContextStampingProcessor
from ._tracing.runtime import TRACER_NAME, runtime

__all__ = ["CapturedSpans", "FakeClock", "IncrementalIdGenerator", "capture_spans", "make_spans"]

_CLOCK_ORIGIN_NS = 1_767_225_600 * 10**9  # 2026-01-01T00:00:00Z


class FakeClock:
    """A clock that moves only when a test says so. Spans take their start and end times,
    and latencies within a span (time to first chunk), from it while ``capture_spans(clock=)``
    is active; it starts at ``origin_ns`` (2026-01-01 UTC unless given)."""

    def __init__(self, origin_ns: int = _CLOCK_ORIGIN_NS) -> None:
        self.origin_ns = origin_ns
        self.now_ns = origin_ns
        self._lock = threading.Lock()

    def advance(self, seconds: float) -> None:
        """Move the clock forward by ``seconds`` (rounded to the nanosecond)."""
        if seconds < 0:
            raise ValueError(f"a clock does not go back: advance({seconds})")
        with self._lock:
            self.now_ns += round(seconds * 1e9)

    def time_ns(self) -> int:
        """The clock's time, as ``time.time_ns`` gives it (nanoseconds since the epoch)."""
        return self.now_ns

    def perf_counter_ns(self) -> int:
        """The same time, for what spans measure with ``time.perf_counter_ns``."""
        return self.now_ns


class IncrementalIdGenerator(IdGenerator):
    """Trace and span ids 1, 2, 3, ... so span records compare equal across runs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._trace = 0
        self._span = 0

    def generate_span_id(self) -> int:
        with self._lock:
            self._span += 1
            return self._span

    def generate_trace_id(self) -> int:
        with self._lock:
            self._trace += 1
            return self._trace


class CapturedSpans:
    """The finished spans of a :func:`capture_spans` block."""

    def __init__(self, exporter: InMemorySpanExporter, clock: FakeClock | None = None) -> None:
        self._exporter = exporter
        self._clock = clock

    def spans(self) -> list[ReadableSpan]:
        """The finished spans as an exporter sends them (token estimates and cost added)."""
        return list(with_late_attributes(self._exporter.get_finished_spans()))

    def by_name(self, name: str) -> ReadableSpan:
        matches = [s for s in self.spans() if s.name == name]
        if len(matches) != 1:
            raise AssertionError(
                f"expected one span named {name!r}, found {len(matches)}: "
                f"{[s.name for s in self.spans()]}"
            )
        return matches[0]

    def records(self) -> list[dict[str, Any]]:
        """Each span as a plain dict, in finishing order: whole records a test can compare with
        ``==``. Without a clock they carry no times; with a :class:`FakeClock` they carry
        ``start_ns`` and ``end_ns``, nanoseconds since the clock's origin."""
        out = []
        for span in self.spans():
            record: dict[str, Any] = {
                "name": span.name,
                "trace_id": span.context.trace_id,
                "span_id": span.context.span_id,
                "parent_span_id": span.parent.span_id if span.parent else None,
                "status": span.status.status_code.name,
                "attributes": dict(span.attributes or {}),
                "events": [(e.name, dict(e.attributes or {})) for e in span.events],
            }
            if self._clock is not None:
                record["start_ns"] = (span.start_time or 0) - self._clock.origin_ns
                record["end_ns"] = (span.end_time or 0) - self._clock.origin_ns
            out.append(record)
        return out

    def clear(self) -> None:
        self._exporter.clear()


@contextmanager
def capture_spans(
    *, capture_content: bool | None = None, clock: FakeClock | None = None
) -> Iterator[CapturedSpans]:
    """Route llmtrace spans to memory for the block (deterministic ids), then restore.
    ``clock``: spans read their times from it for the block (see :class:`FakeClock`)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "llmtrace-test"}),
        id_generator=IncrementalIdGenerator(),
    )
    provider.add_span_processor(ContextStampingProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = (runtime.tracer, runtime.enabled, runtime.capture_content)
    saved_clock = (runtime.time_ns, runtime.perf_counter_ns)
    runtime.tracer = provider.get_tracer(TRACER_NAME)
    runtime.enabled = True
    if capture_content is not None:
        runtime.capture_content = capture_content
    if clock is not None:
        runtime.time_ns, runtime.perf_counter_ns = clock.time_ns, clock.perf_counter_ns
    try:
        yield CapturedSpans(exporter, clock)
    finally:
        runtime.tracer, runtime.enabled, runtime.capture_content = saved
        runtime.time_ns, runtime.perf_counter_ns = saved_clock
        provider.shutdown()


_MODELS = ("gpt-4o-mini", "gpt-4o", "claude-sonnet-4-5")


def make_spans(count: int, attributes_per_span: int = 10) -> list[ReadableSpan]:
    """``count`` finished LLM-shaped spans from a real SDK provider, for exporter tests and
    benchmarks: three models, four prompt versions, ``attributes_per_span`` attributes each
    (the ones past the GenAI set are ``app.extra_N`` with 100 distinct values)."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "llmtrace-testing"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("llmtrace-testing")
    for i in range(count):
        attributes: dict[str, Any] = {
            sc.SPAN_KIND: sc.KIND_LLM,
            sc.GEN_AI_OPERATION_NAME: sc.OP_CHAT,
            sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.GEN_AI_REQUEST_MODEL: _MODELS[i % 3],
            sc.GEN_AI_PROMPT_VERSION: f"v{i % 4}",
            sc.GEN_AI_USAGE_INPUT_TOKENS: 100 + i % 50,
            sc.GEN_AI_USAGE_OUTPUT_TOKENS: 20 + i % 10,
            sc.COST_USD: 0.000036,
        }
        for extra in range(max(attributes_per_span - len(attributes), 0)):
            attributes[f"app.extra_{extra}"] = f"value-{i % 100}"
        tracer.start_span(f"chat {_MODELS[i % 3]}", attributes=attributes).end()
    provider.shutdown()
    return list(exporter.get_finished_spans())
