"""`llmtrace serve` ingest: spans/s from 4 concurrent OTLP/HTTP senders, end to end into the
store (target >= 50,000), and the first traced call of a fresh process against the second
(target: < 5 ms added).

Run alone: ``.venv/bin/python -m bench.serve_ingest``.
"""

from __future__ import annotations

import http.client
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.receiver import TraceReceiver

SENDERS = 4
SPANS_PER_REQUEST = 512


def _request(sender: int, number: int) -> bytes:
    request = trace_service_pb2.ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    attribute = resource_spans.resource.attributes.add(key="service.name")
    attribute.value.string_value = f"sender-{sender}"
    spans = resource_spans.scope_spans.add().spans
    for i in range(SPANS_PER_REQUEST):
        span = spans.add(
            name="chat gpt-4o-mini",
            trace_id=(sender * 1_000_000 + number).to_bytes(16, "big"),
            span_id=(i + 1).to_bytes(8, "big"),
            kind=3,
        )
        span.start_time_unix_nano = 1_764_400_000_000_000_000 + i
        span.end_time_unix_nano = span.start_time_unix_nano + 1_000_000
        for key, value in (
            ("gen_ai.operation.name", "chat"),
            ("gen_ai.provider.name", "openai"),
            ("gen_ai.request.model", "gpt-4o-mini"),
        ):
            span.attributes.add(key=key).value.string_value = value
        for key, count in (("gen_ai.usage.input_tokens", 100), ("gen_ai.usage.output_tokens", 20)):
            span.attributes.add(key=key).value.int_value = count
    return request.SerializeToString()


def ingest(seconds: float = 10.0) -> float:
    with tempfile.TemporaryDirectory() as folder:
        exporter = DuckDBSpanExporter(Path(folder) / "serve.duckdb")
        receiver = TraceReceiver(exporter, port=0, grpc_port=None).start()
        bodies = [[_request(s, n) for n in range(4)] for s in range(SENDERS)]
        sent = [0] * SENDERS
        stop = time.monotonic() + seconds

        def send(sender: int) -> None:
            connection = http.client.HTTPConnection("127.0.0.1", receiver.port, timeout=60)
            n = 0
            while time.monotonic() < stop:
                connection.request(
                    "POST",
                    "/v1/traces",
                    body=bodies[sender][n % 4],
                    headers={"Content-Type": "application/x-protobuf"},
                )
                connection.getresponse().read()
                sent[sender] += SPANS_PER_REQUEST
                n += 1
            connection.close()

        start = time.perf_counter()
        threads = [threading.Thread(target=send, args=(s,)) for s in range(SENDERS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        receiver.stop()  # flushes: every span is in the file
        elapsed = time.perf_counter() - start
        exporter.shutdown()
        return sum(sent) / elapsed


FIRST_CALL = """
import time, llmtrace
llmtrace.configure(db=None)
@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(messages):
    return "an answer"  # no usage: tokens are estimated (tiktoken) and priced
def timed():
    start = time.perf_counter(); call("a question"); return (time.perf_counter() - start) * 1e3
first, second = timed(), timed()
print(first, second)
"""


def first_call() -> tuple[float, float]:
    done = subprocess.run(
        [sys.executable, "-c", FIRST_CALL], capture_output=True, text=True, check=True
    )
    first, second = map(float, done.stdout.split())
    return first, second


def run() -> None:
    rate = ingest()
    print(f"llmtrace serve ingest, {SENDERS} OTLP/HTTP senders: {rate:,.0f} spans/s (>= 50,000)")
    first, second = first_call()
    print(
        f"first traced call in a fresh process: {first:.2f} ms, second {second:.2f} ms "
        f"(added {first - second:.2f} ms; < 5 ms)"
    )


if __name__ == "__main__":
    run()
