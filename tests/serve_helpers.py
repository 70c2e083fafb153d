"""Helpers for the ``llmtrace serve`` tests: a service that sends GenAI spans over OTLP, a raw
OTLP/HTTP POST, a free port, and an OTLP request with every field the receiver reads."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

OPENINFERENCE_CHAT = {
    "openinference.span.kind": "LLM",
    "llm.provider": "openai",
    "llm.model_name": "gpt-4o-mini",
    "llm.token_count.prompt": 12,
    "llm.token_count.completion": 5,
}
GENAI_EMBEDDINGS = {
    "gen_ai.operation.name": "embeddings",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "text-embedding-3-small",
    "gen_ai.usage.input_tokens": 8,
}


def send(exporter: SpanExporter, service: str) -> None:
    """A Node-or-Go-like service: a request span with two GenAI calls, sent over OTLP."""
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("some.other.sdk")
    with tracer.start_as_current_span("POST /answer"):
        tracer.start_span("ChatCompletion", attributes=OPENINFERENCE_CHAT).end()
        tracer.start_span("embeddings", attributes=GENAI_EMBEDDINGS).end()
    provider.shutdown()


def post(port: int, body: bytes, headers: dict[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/v1/traces",
        data=body,
        headers={"Content-Type": "application/x-protobuf", **(headers or {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


T0 = 1_764_400_000_000_000_000


def set_value(attributes, key, value):
    v = attributes.add(key=key).value
    if isinstance(value, bool):
        v.bool_value = value
    elif isinstance(value, int):
        v.int_value = value
    elif isinstance(value, float):
        v.double_value = value
    elif isinstance(value, bytes):
        v.bytes_value = value
    elif isinstance(value, list):
        for item in value:
            v.array_value.values.add().string_value = item
    elif isinstance(value, dict):
        for k, item in value.items():
            v.kvlist_value.values.add(key=k).value.string_value = item
    else:
        v.string_value = value


def add_span(spans, name, trace, span, **fields):
    out = spans.add(name=name, trace_id=trace, span_id=span, kind=fields.pop("kind", 0))
    out.start_time_unix_nano = fields.pop("start", T0)
    out.end_time_unix_nano = fields.pop("end", T0 + 5_000)
    out.parent_span_id = fields.pop("parent", b"")
    if "status" in fields:
        out.status.code, out.status.message = fields.pop("status")
    for key, value in fields.pop("attributes", {}).items():
        set_value(out.attributes, key, value)
    return out


def varied_request(second_service: str = "other") -> trace_service_pb2.ExportTraceServiceRequest:
    """Every field the receiver reads, and the odd values it must keep as the SDK path does."""
    request = trace_service_pb2.ExportTraceServiceRequest()
    first = request.resource_spans.add()
    set_value(first.resource.attributes, "service.name", "node-app")
    set_value(first.resource.attributes, "host.cores", 8)
    scope = first.scope_spans.add()
    scope.scope.name, scope.scope.version = "some.sdk", "1.2"
    trace = bytes(range(1, 17))
    add_span(scope.spans, "POST /answer", trace, b"\x00" * 7 + b"\x01", kind=2)
    chat = {
        "openinference.span.kind": "LLM",
        "llm.provider": "openai",
        "llm.model_name": "gpt-4o-mini",
        "llm.token_count.prompt": 12,
        "llm.token_count.completion": 5,
    }
    add_span(
        scope.spans,
        "ChatCompletion",
        trace,
        b"\x02" * 8,
        parent=b"\x00" * 7 + b"\x01",
        kind=3,
        attributes=chat,
    )
    odd = {
        "flag": True,
        "ratio": 0.25,
        "blob": b"\xff\x00ab",
        "tags": ["a", "b"],
        "map": {"k": "v"},
        "empty": "",
        "big": 2**62,
    }
    errored = add_span(
        scope.spans,
        "tool lookup",
        trace,
        b"\x03" * 8,
        parent=b"\x02" * 3,
        status=(2, "it broke"),
        attributes={"llmtrace.kind": "tool", **odd},
        end=0,
    )
    event = errored.events.add(name="exception", time_unix_nano=T0 + 10)
    set_value(event.attributes, "exception.type", "ValueError")
    errored.links.add(trace_id=b"\x09" * 16, span_id=b"\x08" * 8)
    errored.links.add(trace_id=b"\x09" * 4, span_id=b"\x08" * 8)  # dropped: bad ids
    add_span(scope.spans, "ok with message", trace, b"\x04" * 8, status=(1, "dropped"), kind=9)
    add_span(scope.spans, "short id", trace[:4], b"\x05" * 8)  # rejected
    add_span(scope.spans, "long span id", trace, b"\x06" * 9)  # rejected
    second = request.resource_spans.add()
    set_value(second.resource.attributes, "service.name", second_service)
    if second_service == "node-app":  # the same resource as the first: carried once
        set_value(second.resource.attributes, "host.cores", 8)
    embed = {
        "gen_ai.operation.name": "embeddings",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "text-embedding-3-small",
        "gen_ai.usage.input_tokens": 8,
    }
    for i, kind in enumerate((1, 3, 4, 5)):
        add_span(
            second.scope_spans.add().spans,
            f"embeddings {i}",
            b"\x07" * 16,
            bytes([i + 1]) * 8,
            kind=kind,
            attributes=embed,
            status=(2, ""),
        )
    second.scope_spans.add()  # an empty scope
    request.resource_spans.add()  # an empty resource
    return request
