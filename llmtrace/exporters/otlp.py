"""``otlp_exporter()``: the OpenTelemetry OTLP span exporter for gRPC or http/protobuf.

Arguments win; otherwise the exporters read the standard variables themselves
(``OTEL_EXPORTER_OTLP_TRACES_*`` before ``OTEL_EXPORTER_OTLP_*``, as the specification says).
llmtrace's llm spans get their token estimates and cost here, on the export thread (``_late``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Literal

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from .._tracing.late import with_late_attributes

__all__ = ["otlp_exporter"]

Protocol = Literal["grpc", "http/protobuf"]


def _default_protocol() -> str:
    return (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    )


def _http_traces_url(endpoint: str) -> str:
    """A base endpoint gets ``/v1/traces`` appended, as the spec says for the generic variable."""
    trimmed = endpoint.rstrip("/")
    return trimmed if trimmed.endswith("/v1/traces") else trimmed + "/v1/traces"


def _with_late_attributes(exporter: SpanExporter) -> SpanExporter:
    """``exporter``, adding what llmtrace left to export time (token estimates, cost) to each
    batch first. The exporter keeps its own type, so its drops are counted under its name."""
    export = exporter.export

    def export_late(spans: Sequence[ReadableSpan]) -> SpanExportResult:
        return export(with_late_attributes(spans))

    exporter.export = export_late  # type: ignore[method-assign]
    return exporter


def otlp_exporter(
    endpoint: str | None = None,
    protocol: Protocol | None = None,
    headers: dict[str, str] | None = None,
    timeout_s: float | None = None,
    compression: Literal["gzip", "none"] | None = None,
) -> SpanExporter:
    """An OTLP span exporter; unset arguments fall back to the OTEL_EXPORTER_OTLP_* variables."""
    return _with_late_attributes(
        _protocol_exporter(endpoint, protocol, headers, timeout_s, compression)
    )


def _protocol_exporter(
    endpoint: str | None,
    protocol: Protocol | None,
    headers: dict[str, str] | None,
    timeout_s: float | None,
    compression: Literal["gzip", "none"] | None,
) -> SpanExporter:
    chosen = protocol or _default_protocol()
    if chosen == "grpc":
        from grpc import Compression as GrpcCompression
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
            OTLPSpanExporter as GrpcExporter,
        )

        return GrpcExporter(
            endpoint=endpoint,
            insecure=endpoint.startswith("http://") if endpoint else None,
            headers=headers,
            timeout=timeout_s,
            compression=GrpcCompression.Gzip if compression == "gzip" else None,
        )
    if chosen == "http/protobuf":
        from opentelemetry.exporter.otlp.proto.http import Compression as HttpCompression
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HttpExporter,
        )

        explicit_traces = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        url = endpoint
        if url is not None and url != explicit_traces:
            url = _http_traces_url(url)
        return HttpExporter(
            endpoint=url,
            headers=headers,
            timeout=timeout_s,
            compression=HttpCompression.Gzip if compression == "gzip" else None,
        )
    raise ValueError(f"OTLP protocol must be 'grpc' or 'http/protobuf', got {chosen!r}")
