"""A public test kit: capture llmtrace spans in memory with fixed ids and a fake clock.

Example:
    >>> from llmtrace.testing import capture_spans
    >>> with capture_spans() as spans:
    ...     my_traced_function()
    >>> spans.records()[0]["name"]
    'chat gpt-4o-mini'
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

__all__ = ["CapturedSpans", "IncrementalIdGenerator", "capture_spans", "make_spans"]


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

    def __init__(self, exporter: InMemorySpanExporter) -> None:
        self._exporter = exporter

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
        """Each span as a plain dict without timestamps, in finishing order."""
        out = []
        for span in self.spans():
            out.append(
                {
                    "name": span.name,
                    "trace_id": span.context.trace_id,
                    "span_id": span.context.span_id,
                    "parent_span_id": span.parent.span_id if span.parent else None,
                    "status": span.status.status_code.name,
                    "attributes": dict(span.attributes or {}),
                    "events": [(e.name, dict(e.attributes or {})) for e in span.events],
                }
            )
        return out

    def clear(self) -> None:
        self._exporter.clear()


@contextmanager
def capture_spans(*, capture_content: bool | None = None) -> Iterator[CapturedSpans]:
    """Route llmtrace spans to memory for the block (deterministic ids), then restore."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(
        resource=Resource.create({"service.name": "llmtrace-test"}),
        id_generator=IncrementalIdGenerator(),
    )
    provider.add_span_processor(ContextStampingProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = (runtime.tracer, runtime.enabled, runtime.capture_content)
    runtime.tracer = provider.get_tracer(TRACER_NAME)
    runtime.enabled = True
    if capture_content is not None:
        runtime.capture_content = capture_content
    try:
        yield CapturedSpans(exporter)
    finally:
        runtime.tracer, runtime.enabled, runtime.capture_content = saved
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
