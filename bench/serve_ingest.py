"""`llmtrace serve` ingest: spans/s from OTLP exporters, end to end into the store (target
>= 50,000 from 4), and the first traced call of a fresh process against the second (target:
< 5 ms added).

Each sender is its own process with the real ``opentelemetry-exporter-otlp`` HTTP exporter,
exporting batches of 512 finished SDK spans (GenAI chat calls) for a few seconds. The clock
stops when every span sent is committed in DuckDB (``force_flush``), and the stored count is
checked against the sent one. Printed, all in one run:

- the raw exporters into a collector that drops what it gets: what the exporters themselves can
  send on this machine (they encode every span in Python), the ceiling for the rest;
- the same exporters into ``llmtrace serve``'s receiver, with 1 and with 4 senders;
- 4 senders posting bodies the exporter encoded once, through its own HTTP client: what the
  receiver and the store take when the senders' encoding is out of the way (on a machine with
  few cores the senders' encoding otherwise competes with the receiver for them).

Run alone: ``.venv/bin/python -m bench.serve_ingest [seconds]``.
"""

from __future__ import annotations

import http.client
import multiprocessing
import os
import statistics
import subprocess
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import duckdb

from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.receiver import TraceReceiver, store_exporter

SENDERS = 4
SPANS_PER_REQUEST = 512
SECONDS = 4.0
_CHAT: dict[str, Any] = {
    "gen_ai.operation.name": "chat",
    "gen_ai.provider.name": "openai",
    "gen_ai.request.model": "gpt-4o-mini",
    "gen_ai.usage.input_tokens": 100,
    "gen_ai.usage.output_tokens": 20,
}


def _finished_spans(sender: int) -> list[Any]:
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
    """One sender process: the real OTLP/HTTP exporter, exporting until told to stop."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    spans = _finished_spans(sender)
    exporter = OTLPSpanExporter(endpoint=endpoint, timeout=60)
    body = encode_spans(spans).SerializePartialToString()
    sent = 0
    out.put(0)  # ready
    go.wait()
    while time.time() < until.value:
        if encoded_once:  # the exporter's own HTTP client, without encoding again
            ok = exporter._client.export(body).success
        else:
            ok = exporter.export(spans).name == "SUCCESS"
        sent += SPANS_PER_REQUEST if ok else 0
    exporter.shutdown()  # type: ignore[no-untyped-call]
    out.put(sent)


def _senders(
    endpoint: str, count: int, encoded_once: bool, seconds: float, at_start: Any = None
) -> tuple[int, float]:
    """Start ``count`` sender processes, let them send for ``seconds``; (spans sent, start)."""
    context = multiprocessing.get_context("spawn")
    go, out = context.Event(), context.Queue()
    until = context.Value("d", 0.0)
    processes = [
        context.Process(target=_send, args=(s, endpoint, encoded_once, go, until, out))
        for s in range(count)
    ]
    for process in processes:
        process.start()
    for _ in processes:  # each sender imports and builds its spans before the clock starts
        out.get(timeout=120)
    if at_start is not None:
        at_start()
    start = time.perf_counter()
    until.value = time.time() + seconds
    go.set()
    sent = sum(out.get(timeout=seconds + 120) for _ in processes)
    for process in processes:
        process.join()
    return sent, start


def _cpu_s(pid: int | None) -> float:
    """CPU seconds a process used so far (Linux); NaN where that cannot be read."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def _warm_up(exporter: DuckDBSpanExporter, port: int) -> None:
    """One request before the clock: the merger process starts and the prices load."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    body = encode_spans(_finished_spans(0)).SerializePartialToString()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(
        "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
    )
    connection.getresponse().read()
    connection.close()
    exporter.force_flush(120_000)


def _serve(
    count: int, encoded_once: bool, seconds: float, workers: int = 0
) -> tuple[float, float, float]:
    """Spans/s from ``count`` senders into the receiver, until all of them are in DuckDB, and
    the CPU microseconds a span cost the receiver's process (with its workers, if any) and the
    merger process."""
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "serve.duckdb"
        exporter = store_exporter(db)  # as llmtrace serve stores
        receiver = TraceReceiver(exporter, port=0, grpc_port=None, workers=workers).start()
        for _ in range(max(workers, 1)):
            _warm_up(exporter, receiver.port)
        process = exporter._merger._process  # the merger, for its CPU time
        merger_pid = None if process is None else process.pid
        pool = receiver._pool._pool if receiver._pool is not None else None
        worker_pids = [] if pool is None else list(pool._processes)
        cpu: list[float] = []
        endpoint = f"http://127.0.0.1:{receiver.port}/v1/traces"
        sent, start = _senders(
            endpoint,
            count,
            encoded_once,
            seconds,
            lambda: cpu.extend(
                (time.process_time(), _cpu_s(merger_pid), *map(_cpu_s, worker_pids))
            ),
        )
        if not exporter.force_flush(120_000):
            raise RuntimeError("the receiver's spans did not all land in the store")
        elapsed = time.perf_counter() - start
        in_workers = sum(_cpu_s(pid) - cpu[2 + i] for i, pid in enumerate(worker_pids))
        receiver_us = (time.process_time() - cpu[0] + in_workers) / sent * 1e6
        merger_us = (_cpu_s(merger_pid) - cpu[1]) / sent * 1e6
        receiver.stop()
        exporter.shutdown()
        stored = duckdb.connect(str(db), read_only=True).execute("SELECT count(*) FROM spans")
        found = stored.fetchone()
        warm = SPANS_PER_REQUEST
        warm *= max(workers, 1)
        if found is None or found[0] != sent + warm or receiver.counts.spans != sent + warm:
            raise RuntimeError(f"sent {sent} spans (and {warm} to warm up), stored {found}")
        return sent / elapsed, receiver_us, merger_us


def _drop_forever(port: Any) -> None:
    """A collector that reads each request and answers success, storing nothing."""

    class Drop(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", "0")
            self.end_headers()

    server = ThreadingHTTPServer(("127.0.0.1", 0), Drop)
    port.value = server.server_address[1]
    server.serve_forever()


def _dropped(count: int, seconds: float) -> float:
    """Spans/s the raw exporters send into a dropping collector (in its own process)."""
    context = multiprocessing.get_context("spawn")
    port = context.Value("i", 0)
    collector = context.Process(target=_drop_forever, args=(port,), daemon=True)
    collector.start()
    while not port.value:
        time.sleep(0.05)
    try:
        sent, start = _senders(f"http://127.0.0.1:{port.value}/v1/traces", count, False, seconds)
        return sent / (time.perf_counter() - start)
    finally:
        collector.terminate()
        collector.join()


def ingest(seconds: float = SECONDS, repeats: int = 1) -> dict[str, tuple[float, ...]]:
    """Each figure's median over ``repeats`` runs: spans/s, and for the receiver the CPU
    microseconds a span cost its process and the merger's (steady under a loaded machine, where
    spans/s are not)."""
    scenarios: list[tuple[str, Any]] = [
        (
            "raw OTLP exporter into a dropping collector, 1 exporter",
            lambda: (_dropped(1, seconds),),
        ),
        (
            f"raw OTLP exporters into a dropping collector, {SENDERS}",
            lambda: (_dropped(SENDERS, seconds),),
        ),
        ("llmtrace serve end to end, 1 exporter", lambda: _serve(1, False, seconds)),
        (
            f"llmtrace serve end to end, {SENDERS} exporters",
            lambda: _serve(SENDERS, False, seconds),
        ),
        (
            f"llmtrace serve end to end, {SENDERS} senders of pre-encoded bodies",
            lambda: _serve(SENDERS, True, seconds),
        ),
        (
            f"llmtrace serve --workers 2, {SENDERS} senders of pre-encoded bodies",
            lambda: _serve(SENDERS, True, seconds, workers=2),
        ),
    ]
    runs: dict[str, list[tuple[float, ...]]] = {}
    for _ in range(repeats):
        for name, measure in scenarios:
            runs.setdefault(name, []).append(measure())
    return {
        name: tuple(statistics.median(values) for values in zip(*figures, strict=True))
        for name, figures in runs.items()
    }


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


def run(seconds: float = SECONDS) -> None:
    for name, (rate, *cpu) in ingest(seconds).items():
        note = f" (CPU per span: receiver {cpu[0]:.1f} us, merger {cpu[1]:.1f} us)" if cpu else ""
        print(f"{name}: {rate:,.0f} spans/s{note}")
    print("  (target: >= 50,000 spans/s from 4 exporters into the store)")
    first, second = first_call()
    print(
        f"first traced call in a fresh process: {first:.2f} ms, second {second:.2f} ms "
        f"(added {first - second:.2f} ms; < 5 ms)"
    )


if __name__ == "__main__":
    run(float(sys.argv[1]) if len(sys.argv) > 1 else SECONDS)
