"""`llmtrace serve` ingest: spans/s from OTLP exporters, end to end into the store (target
>= 50,000 from 4), and the first traced call of a fresh process against the second (target:
< 5 ms added).

The senders (``bench/serve_senders.py``) are real OTLP exporters, each in its own process:
Python's ``opentelemetry-exporter-otlp`` and, when ``make bench`` could install it, the
OpenTelemetry JS SDK's. The clock stops when every span sent is committed in DuckDB
(``force_flush``); the rate is the spans counted in the store, checked against those sent.
Printed, all in one run, each figure beside its same-run ceiling:

- the exporters into a collector that drops what it gets: what they can send on this machine;
- the same exporters into ``llmtrace serve``'s receiver (default workers, and ``--workers 2``);
- 4 senders posting bodies the exporter encoded once: the receiver's and the store's own
  capacity, the senders' encoding out of the way;
- the CPU microseconds a span costs the senders, the receiver (with its workers) and the
  merger, and the rate those allow on this machine's cores: senders, receiver and merger share
  them, so exporters that need more CPU a span than the receiver bound the end-to-end figure.

Run alone: ``.venv/bin/python -m bench.serve_ingest [seconds [repeats]]``.
"""

from __future__ import annotations

import http.client
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb

from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.receiver import TraceReceiver, store_exporter
from llmtrace.receiver_workers import default_workers

from .serve_senders import (
    Senders,
    dropping_collector,
    finished_spans,
    node_missing,
    node_senders,
    python_senders,
)

SENDERS = 4
SECONDS = 4.0


@dataclass
class Figure:
    """Spans/s, and the CPU microseconds a span cost the senders, the receiver's process (with
    its workers) and the merger (NaN where there is none)."""

    rate: float
    senders_us: float
    receiver_us: float = float("nan")
    merger_us: float = float("nan")
    others_cores: float = float("nan")  # what the rest of the machine used meanwhile

    def bound(self, cores: int) -> float:
        """Spans/s the CPU they need allows on ``cores`` cores, all else idle."""
        total = sum(x for x in (self.senders_us, self.receiver_us, self.merger_us) if x == x)
        return cores * 1e6 / total if total else float("nan")


def _machine_busy_s() -> float:
    """CPU seconds every process on this machine used so far, and time stolen by the host
    (Linux; NaN elsewhere). Interrupts are left out: loopback traffic is partly counted there."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
        user, nice, system, _idle, _iowait, _irq, _softirq, steal = map(int, fields)
        return (user + nice + system + steal) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError):
        return float("nan")


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

    body = encode_spans(finished_spans(0)).SerializePartialToString()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.request(
        "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
    )
    connection.getresponse().read()
    connection.close()
    exporter.force_flush(120_000)


def _stored(db: Path) -> int:
    connection = duckdb.connect(str(db), read_only=True)
    try:
        found = connection.execute("SELECT count(*) FROM spans").fetchone()
        return 0 if found is None else int(found[0])
    finally:
        connection.close()


def _serve(senders: Senders, workers: int | None = None, grpc: bool = False) -> Figure:
    """``senders`` into the receiver (``workers``: serve's default when None), until all their
    spans are in DuckDB: spans/s counted in the store, and CPU per span of each side."""
    with tempfile.TemporaryDirectory() as folder:
        db = Path(folder) / "serve.duckdb"
        exporter = store_exporter(db)  # as llmtrace serve stores
        workers = default_workers() if workers is None else workers  # as llmtrace serve
        receiver = TraceReceiver(exporter, port=0, grpc_port=0 if grpc else None, workers=workers)
        receiver.start()
        pool = receiver._pool._pool if receiver._pool is not None else None
        for _ in range(max(len(getattr(pool, "_processes", None) or ()), 1)):
            _warm_up(exporter, receiver.port)
        warm = receiver.counts.spans
        process = exporter._merger._process  # the merger, for its CPU time
        merger_pid = None if process is None else process.pid
        worker_pids = [] if pool is None else list(pool._processes)
        cpu: list[float] = []
        endpoint = (
            f"http://127.0.0.1:{receiver.grpc_port}"
            if grpc
            else f"http://127.0.0.1:{receiver.port}/v1/traces"
        )
        sent = senders(
            endpoint,
            lambda: cpu.extend(
                (
                    _machine_busy_s(),
                    time.process_time(),
                    _cpu_s(merger_pid),
                    *map(_cpu_s, worker_pids),
                )
            ),
        )
        if not exporter.force_flush(120_000):
            raise RuntimeError("the receiver's spans did not all land in the store")
        elapsed = time.perf_counter() - sent.start
        in_workers = sum(_cpu_s(pid) - cpu[3 + i] for i, pid in enumerate(worker_pids))
        receiver_s = time.process_time() - cpu[1] + in_workers
        merger_s = _cpu_s(merger_pid) - cpu[2]
        others_s = _machine_busy_s() - cpu[0] - sent.cpu_s - receiver_s - merger_s
        receiver.stop()
        exporter.shutdown()
        stored = _stored(db) - warm
        if stored != sent.spans or receiver.counts.spans != sent.spans + warm:
            raise RuntimeError(f"sent {sent.spans} spans (and {warm} to warm up), stored {stored}")
        per_span = 1e6 / max(stored, 1)
        return Figure(
            stored / elapsed,
            sent.cpu_s * per_span,
            receiver_s * per_span,
            merger_s * per_span,
            max(others_s, 0.0) / elapsed,
        )


def _dropped(senders: Senders, grpc: bool = False) -> Figure:
    """``senders`` into a collector that drops everything (in its own process)."""
    with dropping_collector() as (port, grpc_port):
        endpoint = f"http://127.0.0.1:{grpc_port}" if grpc else f"http://127.0.0.1:{port}/v1/traces"
        sent = senders(endpoint, None)
        elapsed = time.perf_counter() - sent.start
        return Figure(sent.spans / elapsed, sent.cpu_s * 1e6 / max(sent.spans, 1))


def _node_scenarios(n: int, seconds: float, here: str) -> list[tuple[str, Any]]:
    node, grpc = node_senders(n, seconds), node_senders(n, seconds, "grpc")
    fresh = node_senders(n, seconds, fresh=True)
    made = "making new spans for each export"
    return [
        (f"{n} Node OTLP/HTTP exporters into a dropping collector", lambda: _dropped(node)),
        (f"{n} Node OTLP/HTTP exporters into llmtrace serve{here}", lambda: _serve(node)),
        (
            f"{n} Node OTLP/HTTP exporters into llmtrace serve --workers 2",
            lambda: _serve(node, workers=2),
        ),
        (
            f"{n} Node OTLP/gRPC exporters into a dropping collector",
            lambda: _dropped(grpc, grpc=True),
        ),
        (
            f"{n} Node OTLP/gRPC exporters into llmtrace serve{here}",
            lambda: _serve(grpc, grpc=True),
        ),
        (f"{n} Node OTLP/HTTP exporters {made}, dropped", lambda: _dropped(fresh)),
        (f"{n} Node OTLP/HTTP exporters {made}, into llmtrace serve", lambda: _serve(fresh)),
    ]


def scenarios(seconds: float) -> list[tuple[str, Any]]:
    """(name, measure) for each figure, the exporters' ceiling right before their serve runs.
    The exporters export the same finished spans over and over (their own cost: encoding and
    sending), but for the last Node pair, which makes new spans with the JS SDK each time."""
    n = SENDERS
    here = f" (default: --workers {default_workers()})"
    python = python_senders(n, seconds)
    encoded = python_senders(n, seconds, encoded_once=True)
    return [
        (f"{n} Python OTLP/HTTP exporters into a dropping collector", lambda: _dropped(python)),
        (f"{n} Python OTLP/HTTP exporters into llmtrace serve{here}", lambda: _serve(python)),
        *(_node_scenarios(n, seconds, here) if node_missing() is None else []),
        (f"{n} senders of pre-encoded bodies into llmtrace serve{here}", lambda: _serve(encoded)),
        (
            f"{n} senders of pre-encoded bodies into llmtrace serve --workers 2",
            lambda: _serve(encoded, workers=2),
        ),
    ]


def ingest(seconds: float = SECONDS, repeats: int = 1) -> dict[str, Figure]:
    """Each figure's medians over ``repeats`` runs (CPU per span is steady on a loaded
    machine, where spans/s are not)."""
    runs: dict[str, list[Figure]] = {}
    for _ in range(repeats):
        for name, measure in scenarios(seconds):
            runs.setdefault(name, []).append(measure())
    return {
        name: Figure(
            *(
                statistics.median(getattr(f, part) for f in figures)
                for part in ("rate", "senders_us", "receiver_us", "merger_us", "others_cores")
            )
        )
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


def _cpu_note(figure: Figure) -> str:
    parts = [f"senders {figure.senders_us:.1f}"]
    if figure.receiver_us == figure.receiver_us:
        parts += [f"receiver {figure.receiver_us:.1f}", f"merger {figure.merger_us:.1f}"]
    cores = os.cpu_count() or 1
    bound = figure.bound(cores)
    note = f"CPU us/span: {', '.join(parts)}; {bound:,.0f} spans/s at most on {cores} cores"
    if figure.others_cores == figure.others_cores:
        note += f"; other processes used {figure.others_cores:.1f} of them meanwhile"
    return note


def run(seconds: float = SECONDS, repeats: int = 1) -> None:
    for name, figure in ingest(seconds, repeats).items():
        print(f"{name}: {figure.rate:,.0f} spans/s ({_cpu_note(figure)})")
    missing = node_missing()
    if missing is not None:
        print(f"  (no Node figures: {missing})")
    print(f"  (target: >= 50,000 spans/s from {SENDERS} exporters into the store)")
    first, second = first_call()
    print(
        f"first traced call in a fresh process: {first:.2f} ms, second {second:.2f} ms "
        f"(added {first - second:.2f} ms; < 5 ms)"
    )


if __name__ == "__main__":
    args = sys.argv[1:]  # [seconds [repeats]]
    run(float(args[0]) if args else SECONDS, int(args[1]) if len(args) > 1 else 1)
