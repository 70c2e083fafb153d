"""An OTLP trace receiver (HTTP/protobuf and gRPC) that writes into the store: ``llmtrace serve``.

A Node or Go service, or an OpenTelemetry Collector, sends spans here as it would to any
collector; they are stored exactly as llmtrace's own exporter stores spans (normalised, priced,
one call one row). Loopback only unless a host is given, and then a token is required
(``Authorization: Bearer <token>``, the header OTLP exporters send with
``OTEL_EXPORTER_OTLP_HEADERS``). A payload that cannot be decoded gets the OTLP error response
(HTTP 400 with a ``google.rpc.Status``, or gRPC ``INVALID_ARGUMENT``) and is counted; spans with
ids of the wrong length are rejected one by one (OTLP partial success) and counted.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanKind, Status, StatusCode

from ._internal import report_internal_error
from .exporters.duckdb import DuckDBSpanExporter
from .exporters.duckdb.gathering import GATHER_S
from .exporters.duckdb.otlp_batch import attributes as _attributes
from .exporters.duckdb.otlp_batch import context as _context
from .exporters.duckdb.otlp_batch import events as _events
from .exporters.duckdb.otlp_batch import links as _links
from .exporters.duckdb.otlp_batch import request_batch, resource_on_rows
from .receiver_http import HTTPServer, http_handler
from .receiver_workers import ConversionPool, read_batch

__all__ = [
    "SERVE_IDLE_RELEASE_S",
    "ReceiverCounts",
    "TraceReceiver",
    "is_loopback",
    "spans_from_request",
    "store_exporter",
]

_KINDS = {0: SpanKind.INTERNAL, 1: SpanKind.INTERNAL, 2: SpanKind.SERVER, 3: SpanKind.CLIENT}
_KINDS.update({4: SpanKind.PRODUCER, 5: SpanKind.CONSUMER})
_STATUS = {0: StatusCode.UNSET, 1: StatusCode.OK, 2: StatusCode.ERROR}
_SUCCESS = SpanExportResult.SUCCESS


def is_loopback(host: str) -> bool:
    """Whether ``host`` only listens on this machine (``localhost``, 127.0.0.0/8, ``::1``)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def spans_from_request(request: Any) -> tuple[list[ReadableSpan], int]:
    """The SDK spans an ``ExportTraceServiceRequest`` carries, and how many were rejected."""
    spans: list[ReadableSpan] = []
    rejected = 0
    for resource_spans in request.resource_spans:
        resource = Resource(_attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            scope = InstrumentationScope(scope_spans.scope.name, scope_spans.scope.version or None)
            for span in scope_spans.spans:
                context = _context(span.trace_id, span.span_id)
                if context is None:
                    rejected += 1
                    continue
                parent = (
                    _context(span.trace_id, span.parent_span_id) if span.parent_span_id else None
                )
                spans.append(
                    ReadableSpan(
                        name=span.name,
                        context=context,
                        parent=parent,
                        resource=resource,
                        attributes=_attributes(span.attributes),
                        events=_events(span.events) if span.events else (),
                        links=_links(span.links) if span.links else (),
                        kind=_KINDS.get(span.kind, SpanKind.INTERNAL),
                        status=Status(
                            _STATUS.get(span.status.code, StatusCode.UNSET),
                            span.status.message or None,
                        ),
                        start_time=span.start_time_unix_nano,
                        end_time=span.end_time_unix_nano or span.start_time_unix_nano,
                        instrumentation_scope=scope,
                    )
                )
    return spans, rejected


# How long serve's merger keeps the store after a write when nothing else comes: longer than
# the writer's longest gathering (GATHER_S), so that under a steady trickle of requests it does
# not close (and checkpoint) and reopen the store between two hand-offs. A reader or another
# writer that signals it is waiting still gets the store at once.
SERVE_IDLE_RELEASE_S = 2 * GATHER_S


def store_exporter(path: str | os.PathLike[str]) -> DuckDBSpanExporter:
    """The exporter ``llmtrace serve`` stores received spans with."""
    return DuckDBSpanExporter(path, idle_release_s=SERVE_IDLE_RELEASE_S)


@dataclass
class ReceiverCounts:
    """What the receiver took in since it started."""

    requests: int = 0
    spans: int = 0
    rejected_spans: int = 0
    malformed_requests: int = 0
    unauthorized_requests: int = 0
    failed_exports: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def add(self, **counts: int) -> None:
        with self.lock:
            for name, count in counts.items():
                setattr(self, name, getattr(self, name) + count)


class TraceReceiver:
    """OTLP/HTTP on ``port`` (``/v1/traces``) and OTLP/gRPC on ``grpc_port`` (None: off), each
    request handed to ``exporter`` (a :class:`DuckDBSpanExporter` for the store), converted by
    ``workers`` processes when there are any (``receiver_workers``), else on its own thread."""

    def __init__(
        self,
        exporter: SpanExporter,
        *,
        host: str = "127.0.0.1",
        port: int = 4318,
        grpc_port: int | None = 4317,
        token: str | None = None,
        workers: int = 0,
    ) -> None:
        if not is_loopback(host) and not token:
            raise ValueError(
                f"serve --host {host!r} listens beyond this machine: give --token (or "
                "LLMTRACE_SERVE_TOKEN) so that only senders with it are accepted"
            )
        self.exporter = exporter
        self.token = token
        self.counts = ReceiverCounts()
        self._http = HTTPServer((host, port), http_handler(self))
        self.port = self._http.server_address[1]
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, name="llmtrace-serve-http", daemon=True
        )
        self._grpc: Any = None
        self.grpc_port: int | None = None
        if grpc_port is not None:
            self._grpc, self.grpc_port = _grpc_server(self, host, grpc_port)
        self._pool: ConversionPool | None = None
        if workers > 0 and isinstance(exporter, DuckDBSpanExporter):
            self._pool = ConversionPool(workers)

    # --- shared by both transports -----------------------------------------------------------
    def authorized(self, header: str | None) -> bool:
        if not self.token:
            return True
        expected = f"Bearer {self.token}"
        return header is not None and hmac.compare_digest(header.encode(), expected.encode())

    def ingest(self, body: bytes) -> tuple[Any, str | None]:
        """Decode and store one request; (response, None) or (None, why it is malformed)."""
        converted = self._pool.convert(body) if self._pool is not None else None
        if converted is not None and converted[0] == "malformed":
            self.counts.add(malformed_requests=1)
            return None, converted[1]
        if converted is not None and converted[0] == "ok":
            assert isinstance(self.exporter, DuckDBSpanExporter)  # the pool is only for it
            batch = read_batch(converted[1])
            n = batch.num_rows
            result = self.exporter.export_batch(batch) if n else _SUCCESS
            return self._respond(n, converted[2], result), None
        try:
            request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
        except DecodeError as exc:
            self.counts.add(malformed_requests=1)
            return None, f"not an OTLP ExportTraceServiceRequest: {exc}"
        return self.store(request, body), None

    def store(self, request: Any, body: bytes | None = None) -> Any:
        """Store a parsed request (``body``: the bytes it was parsed from, if at hand)."""
        return self._respond(*self._export(request, body))

    def _respond(self, stored: int, rejected: int, result: SpanExportResult) -> Any:
        """Count what became of a request's spans; the OTLP response that says so."""
        failed = result is not SpanExportResult.SUCCESS
        self.counts.add(
            requests=1,
            spans=0 if failed else stored,
            rejected_spans=rejected + (stored if failed else 0),
            failed_exports=int(failed),
        )
        response = trace_service_pb2.ExportTraceServiceResponse()
        if rejected or failed:
            response.partial_success.rejected_spans = rejected + (stored if failed else 0)
            response.partial_success.error_message = (
                "spans with a trace id of 16 bytes and a span id of 8 are required"
                if rejected
                else "the store did not take the spans"
            )
        return response

    def _export(self, request: Any, body: bytes | None) -> tuple[int, int, SpanExportResult]:
        """(spans handed on, spans rejected, the exporter's result). The store's exporter takes
        the request straight as Arrow columns, with the resource on every row so that requests
        from different services gather into one insert; should that fail (a value nothing
        anticipated), the request goes the SDK spans' way, which salvages span by span."""
        if isinstance(self.exporter, DuckDBSpanExporter):
            try:
                batch, rejected = request_batch(request, body)
            except Exception as exc:
                report_internal_error("llmtrace serve: OTLP to Arrow", exc)
            else:
                n = batch.num_rows
                return (
                    n,
                    rejected,
                    self.exporter.export_batch(resource_on_rows(batch)) if n else _SUCCESS,
                )
        spans, rejected = spans_from_request(request)
        return len(spans), rejected, self.exporter.export(spans) if spans else _SUCCESS

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> TraceReceiver:
        if self._pool is not None:
            self._pool.warm()
        self._http_thread.start()
        if self._grpc is not None:
            self._grpc.start()
        return self

    def stop(self) -> None:
        self._http.shutdown()
        self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(grace=1.0).wait()
        if self._pool is not None:
            self._pool.shutdown()
        self.exporter.force_flush()

    def __enter__(self) -> TraceReceiver:
        return self.start()

    def __exit__(self, *exc_info: Any) -> None:
        self.stop()


def _grpc_server(receiver: TraceReceiver, host: str, port: int) -> tuple[Any, int]:
    import grpc

    def export(raw: bytes, context: Any) -> Any:
        metadata = dict(context.invocation_metadata())
        if not receiver.authorized(metadata.get("authorization")):
            receiver.counts.add(unauthorized_requests=1)
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "a bearer token is required")
        response, problem = receiver.ingest(raw)
        if problem is not None:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, problem)
        return response

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=4, thread_name_prefix="llmtrace-grpc")
    )
    handler = grpc.method_handlers_generic_handler(
        "opentelemetry.proto.collector.trace.v1.TraceService",
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                export,
                request_deserializer=None,  # the raw bytes: a bad payload is ours to answer
                response_serializer=trace_service_pb2.ExportTraceServiceResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    bound = server.add_insecure_port(f"{host}:{port}")
    return server, bound
