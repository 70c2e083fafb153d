"""The senders of ``bench/serve_ingest.py``: real OTLP exporters, each in its own process, and a
collector that drops what it gets (what the exporters can send at all on this machine).

- Python: the ``opentelemetry-exporter-otlp`` HTTP exporter exporting batches of 512 finished
  SDK spans (it encodes every span in Python), or bodies it encoded once (``encoded_once``:
  the senders' encoding out of the way, so what is measured is the receiver and the store).
- Node: the OpenTelemetry JS SDK making GenAI chat spans and its OTLP exporter (HTTP/protobuf,
  or gRPC) sending them, 512 an export (``bench/node/otlp_sender.cjs``): the same finished
  spans each time, as the Python senders, or new ones made before each export; from
  ``.bench-node/`` (installed by ``make bench``; without it, :func:`node_missing` says why).

Each sender says how many spans it exported with success and the CPU seconds it used doing so,
so that the bench can say what CPU a span costs the senders beside what it costs the receiver.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
import subprocess
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
NODE_MODULES = ROOT / ".bench-node" / "node_modules"
NODE_SENDER = ROOT / "bench" / "node" / "otlp_sender.cjs"
SPANS_PER_REQUEST = 512
_CHAT: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}


@dataclass
class Sent:
    """What the senders did: spans exported with success, when the clock started, and the
    CPU seconds the senders used between their start and their last export."""

    spans: int
    start: float
    cpu_s: float


Senders = Callable[[str, Callable[[], object] | None], Sent]


def finished_spans(sender: int) -> list[Any]:
    """A batch of finished SDK spans, as a service's batch processor hands its exporter."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    kept = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": f"sender-{sender}"}))
    provider.add_span_processor(SimpleSpanProcessor(kept))
    tracer = provider.get_tracer("bench.serve_ingest")
    for i in range(SPANS_PER_REQUEST):
        tracer.start_span("chat gpt-4o-mini", attributes={**_CHAT, "n": i}).end()
    return list(kept.get_finished_spans())


def _send(sender: int, endpoint: str, encoded_once: bool, go: Any, until: Any, out: Any) -> None:
    """One Python sender process: the real OTLP/HTTP exporter, exporting until told to stop."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    spans = finished_spans(sender)
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=60)
    body = encode_spans(spans).SerializePartialToString()
    sent = 0
    out.put((0, 0.0))  # ready
    go.wait()
    cpu = time.process_time()
    while time.time() < until.value:
        if encoded_once:  # the exporter's own HTTP client, without encoding again
            ok = exporter._client.export(body).success
        else:
            ok = exporter.export(spans).name == "SUCCESS"
        sent += SPANS_PER_REQUEST if ok else 0
    cpu = time.process_time() - cpu
    exporter.shutdown()  # type: ignore[no-untyped-call]
    out.put((sent, cpu))


def python_senders(count: int, seconds: float, encoded_once: bool = False) -> Senders:
    """``count`` Python sender processes, sending for ``seconds`` once all are ready."""

    def run(endpoint: str, at_start: Callable[[], object] | None) -> Sent:
        context = multiprocessing.get_context("spawn")
        go, out = context.Event(), context.Queue()
        until = context.Value("d", 0.0)
        processes = [
            context.Process(target=_send, args=(s, endpoint, encoded_once, go, until, out))
            for s in range(count)
        ]
        for process in processes:
            process.start()
        for _ in processes:  # each sender imports and builds its spans before the clock
            out.get(timeout=120)
        if at_start is not None:
            at_start()
        start = time.perf_counter()
        until.value = time.time() + seconds
        go.set()
        results = [out.get(timeout=seconds + 120) for _ in processes]
        for process in processes:
            process.join()
        return Sent(sum(r[0] for r in results), start, sum(r[1] for r in results))

    return run


def node_missing() -> str | None:
    """Why the Node senders cannot run here; None when they can."""
    if shutil.which("node") is None:
        return "node is not installed"
    if not NODE_MODULES.is_dir():
        return f"the OpenTelemetry JS SDK is not in {NODE_MODULES.parent} (make bench installs it)"
    return None


def node_senders(
    count: int, seconds: float, protocol: str = "http", fresh: bool = False
) -> Senders:
    """``count`` Node sender processes (``protocol``: http or grpc), for ``seconds``, each
    exporting the same finished spans over and over (as the Python senders do), or with
    ``fresh`` new spans it makes before each export (the JS SDK's span creation on top)."""

    def run(endpoint: str, at_start: Callable[[], object] | None) -> Sent:
        env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
        processes = [
            subprocess.Popen(
                [
                    "node",
                    str(NODE_SENDER),
                    protocol,
                    endpoint,
                    f"node-sender-{s}",
                    "fresh" if fresh else "same",
                ],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
                env=env,
            )
            for s in range(count)
        ]
        try:
            for process in processes:
                assert process.stdout is not None
                if process.stdout.readline().strip() != "ready":
                    raise RuntimeError("a Node sender did not start (see its stderr)")
            if at_start is not None:
                at_start()
            start = time.perf_counter()
            deadline = f"{time.time() + seconds}\n"
            for process in processes:
                assert process.stdin is not None
                process.stdin.write(deadline)
                process.stdin.flush()
            results = [json.loads(p.stdout.readline()) for p in processes if p.stdout]
        finally:
            for process in processes:
                process.wait(timeout=120)
        if any(r["failed"] for r in results):
            raise RuntimeError(f"Node exports failed: {results}")
        return Sent(sum(r["sent"] for r in results), start, sum(r["cpu_s"] for r in results))

    return run


def _drop_forever(port: Any, grpc_port: Any) -> None:
    """A collector that reads each request whole and answers success, storing nothing."""
    import grpc

    from llmtrace.receiver_http import read_chunked

    class Drop(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            if "chunked" in (self.headers.get("Transfer-Encoding") or ""):
                read_chunked(self.rfile)  # the Node exporter's way
            else:
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    export = grpc.unary_unary_rpc_method_handler(
        lambda raw, context: b"", request_deserializer=None, response_serializer=None
    )
    service = "opentelemetry.proto.collector.trace.v1.TraceService"
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler(service, {"Export": export}),)
    )
    grpc_port.value = server.add_insecure_port("127.0.0.1:0")
    server.start()
    http = ThreadingHTTPServer(("127.0.0.1", 0), Drop)
    port.value = http.server_address[1]
    http.serve_forever()


@contextmanager
def dropping_collector() -> Iterator[tuple[int, int]]:
    """A dropping collector in its own process: its (HTTP port, gRPC port)."""
    context = multiprocessing.get_context("spawn")
    port, grpc_port = context.Value("i", 0), context.Value("i", 0)
    collector = context.Process(target=_drop_forever, args=(port, grpc_port), daemon=True)
    collector.start()
    while not port.value:
        time.sleep(0.05)
    try:
        yield port.value, grpc_port.value
    finally:
        collector.terminate()
        collector.join()
