"""Real OTLP receivers on 127.0.0.1 for tests: http/protobuf and gRPC, decoding what arrives
with the OpenTelemetry protobuf definitions. They speak the wire protocol; nothing is mocked."""

from __future__ import annotations

import gzip
import threading
import time
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc

# The traced application both OTLP tests send: a workflow with a tool, an LLM call and a failing
# tool. argv: DB path ('' for no store), configure() keywords as JSON, a label stamped on spans.
TRACED_APP = """
import json, sys
import llmtrace
db, kwargs, label = sys.argv[1] or None, json.loads(sys.argv[2]), sys.argv[3]
handle = llmtrace.configure(service_name="otlp-app", db=db, **kwargs)

@llmtrace.tool("lookup")
def lookup(x):
    return x

@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(messages):
    return {"usage": {"prompt_tokens": 10, "completion_tokens": 2}}

@llmtrace.workflow("flow")
def flow():
    lookup(1)
    call("hi")
    try:
        with llmtrace.tool("broken"):
            raise ValueError("bad input")
    except ValueError:
        pass

with llmtrace.context(user_id="u-7", transport=label):
    flow()
handle.flush()
"""


def _value(any_value: Any) -> Any:
    kind = any_value.WhichOneof("value")
    if kind == "array_value":
        return tuple(_value(v) for v in any_value.array_value.values)
    return getattr(any_value, kind) if kind else None


def decode(request: trace_service_pb2.ExportTraceServiceRequest) -> list[dict[str, Any]]:
    spans = []
    for resource_spans in request.resource_spans:
        resource = {a.key: _value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append(
                    {
                        "name": span.name,
                        "trace_id": span.trace_id.hex(),
                        "span_id": span.span_id.hex(),
                        "parent_span_id": span.parent_span_id.hex() or None,
                        "status": span.status.code,
                        "attributes": {a.key: _value(a.value) for a in span.attributes},
                        "events": [e.name for e in span.events],
                        "resource": resource,
                    }
                )
    return spans


class _Collected:
    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.lock = threading.Lock()

    def add(self, spans: list[dict[str, Any]], headers: dict[str, str]) -> None:
        with self.lock:
            self.spans.extend(spans)
            self.headers.append(headers)

    def wait_for(self, count: int, timeout_s: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.spans) >= count:
                    return list(self.spans)
            time.sleep(0.05)
        return list(self.spans)


class HttpReceiver(_Collected):
    """POST /v1/traces with a protobuf body (optionally gzip), like any OTLP/HTTP collector."""

    def __init__(self, delay_s: float = 0.0) -> None:
        super().__init__()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if delay_s:
                    time.sleep(delay_s)
                request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
                receiver.add(decode(request), {k.lower(): v for k, v in self.headers.items()})
                payload = trace_service_pb2.ExportTraceServiceResponse().SerializeToString()
                self.send_response(200 if self.path == "/v1/traces" else 404)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> HttpReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.shutdown()
        self.server.server_close()


class GrpcReceiver(_Collected):
    """The OTLP gRPC TraceService on 127.0.0.1."""

    def __init__(self) -> None:
        super().__init__()
        receiver = self

        class Service(trace_service_pb2_grpc.TraceServiceServicer):
            def Export(self, request: Any, context: Any) -> Any:
                headers = {k: v for k, v in context.invocation_metadata()}
                receiver.add(decode(request), headers)
                return trace_service_pb2.ExportTraceServiceResponse()

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(Service(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")

    def __enter__(self) -> GrpcReceiver:
        self.server.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.server.stop(grace=None)
