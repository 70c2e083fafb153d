"""Helpers shared by tests: real finished spans made by a real SDK provider."""

from __future__ import annotations

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmtrace import semconv as sc


def make_spans(count: int, attributes_per_span: int = 10) -> list[ReadableSpan]:
    """``count`` finished LLM-shaped spans with ``attributes_per_span`` attributes each."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "helper"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("helper")
    base = {
        sc.SPAN_KIND: "llm",
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.GEN_AI_PROMPT_NAME: "answer",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 120,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 30,
        sc.COST_USD: 0.0000360,
    }
    for i in range(count):
        attributes = dict(base)
        attributes[sc.GEN_AI_PROMPT_VERSION] = f"v{i % 4}"
        for extra in range(max(attributes_per_span - len(attributes), 0)):
            attributes[f"app.extra_{extra}"] = f"value-{i % 100}"
        tracer.start_span("chat gpt-4o-mini", attributes=attributes).end()
    provider.shutdown()
    return list(exporter.get_finished_spans())
