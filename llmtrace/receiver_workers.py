"""Worker processes that turn OTLP request bodies into the store's Arrow batches, for
``llmtrace serve --workers N``.

Decoding and converting a request is pure Python under one GIL: one process converts at most
one core's worth (about 12 us a span). With workers, the receiver's process only reads the
request, hands the body to a worker, and gets back the batch as Arrow IPC bytes (a copy, no
per-span work) for its exporter; the workers convert in parallel. Worth it only with cores to
spare beside the merger process and the senders. A worker that dies or cannot be reached costs
nothing but speed: the receiver converts that request itself.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import pyarrow as pa
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from .exporters.duckdb.otlp_batch import request_batch, resource_on_rows
from .pricing import genai_prices_snapshot

__all__ = ["ConversionPool", "Converted", "convert_body", "default_workers", "read_batch"]

# (what happened, its payload, spans rejected): ("ok", Arrow IPC stream bytes, n),
# ("malformed", why, 0) or ("fallback", None, 0) when the worker could not convert it.
Converted = tuple[str, Any, int]
_EMPTY_REQUEST = b""  # an ExportTraceServiceRequest without spans


def default_workers(cores: int | None = None) -> int:
    """``serve``'s conversion workers when none are asked for, from the cores (this machine's
    by default): none up to 2, where the senders, the merger and the receiver already share
    every core and a worker's hand-back (Arrow IPC) only adds CPU (about 2-3 us a span,
    measured with 4 senders on 2 cores); else half the cores, at most 4 (one GIL converts
    about 80,000 spans/s, four workers more than one merger stores)."""
    if cores is None:
        usable = getattr(os, "sched_getaffinity", None)  # the cores this process may run on
        cores = len(usable(0)) if usable is not None else (os.cpu_count() or 1)
    found = cores
    return 0 if found <= 2 else min(found // 2, 4)


def convert_body(body: bytes) -> Converted:
    """In a worker: one request body to the store's batch, as Arrow IPC stream bytes."""
    try:
        request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    except DecodeError as exc:
        return "malformed", f"not an OTLP ExportTraceServiceRequest: {exc}", 0
    try:
        batch, rejected = request_batch(request, body)
        batch = resource_on_rows(batch)
        sink = pa.BufferOutputStream()
        with pa.ipc.new_stream(sink, batch.schema) as writer:
            writer.write_table(batch)
        return "ok", sink.getvalue().to_pybytes(), rejected
    except Exception:  # the receiver converts it itself, salvaging span by span
        return "fallback", None, 0


def read_batch(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(payload).read_all()


def _start_worker() -> None:
    # Ctrl-C is for the receiver, which stops the workers itself.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with contextlib.suppress(Exception):  # the first batch would load them otherwise
        genai_prices_snapshot()


class ConversionPool:
    """``workers`` processes converting request bodies (started fresh: the receiver has
    threads, which a fork would copy mid-flight)."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.converted_requests = 0  # by a worker (the rest, if any, by the receiver)
        self._pool = ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_start_worker,
        )

    def convert(self, body: bytes) -> Converted | None:
        """The worker's answer; None when no worker could be reached (the caller converts)."""
        try:
            converted = self._pool.submit(convert_body, body).result()
        except Exception:  # a broken pool, a worker killed, the pool shut down
            return None
        self.converted_requests += 1
        return converted

    def warm(self) -> None:
        """Start the workers now (each imports llmtrace and loads the prices), not on the
        first requests."""
        for _ in range(self.workers):
            self._pool.submit(convert_body, _EMPTY_REQUEST)

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
