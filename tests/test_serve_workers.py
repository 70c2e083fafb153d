"""``llmtrace serve --workers N``: requests converted in worker processes are stored as the
receiver stores them itself; malformed ones are answered and counted the same way."""

from __future__ import annotations

import inspect
import os
import signal
import subprocess
import sys

import duckdb
import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)

from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.receiver import TraceReceiver
from llmtrace.receiver_workers import default_workers
from tests.conftest import ROOT
from tests.foreign_spans_helpers import list_price
from tests.serve_helpers import free_port, post, send, varied_request


def _rows(db) -> list[tuple[object, ...]]:
    """Every column of the fixed request's spans; the sent spans' columns that do not depend
    on when they were made (ids and times are new in each run)."""
    conn = duckdb.connect(str(db), read_only=True)
    try:
        fixed = conn.execute(
            "SELECT * EXCLUDE (attributes), attributes::VARCHAR FROM spans "
            "WHERE service_name <> 'node-app' OR trace_id LIKE '0102%' ORDER BY span_id, name"
        ).fetchall()
        sent = conn.execute(
            "SELECT name, kind, operation, provider, model, input_tokens, output_tokens, "
            "cost_usd, resource::VARCHAR FROM spans WHERE service_name = 'node-app' "
            "AND trace_id NOT LIKE '0102%' ORDER BY name"
        ).fetchall()
        return fixed + sent
    finally:
        conn.close()


def _receive(db, workers: int) -> TraceReceiver:
    with TraceReceiver(DuckDBSpanExporter(db), port=0, grpc_port=None, workers=workers) as rc:
        send(HttpSpanExporter(endpoint=f"http://127.0.0.1:{rc.port}/v1/traces"), "node-app")
        assert post(rc.port, varied_request().SerializeToString())[0] == 200
        status, body = post(rc.port, b"\xff\xff not protobuf")
        assert status == 400
        assert status_pb2.Status.FromString(body).code == code_pb2.INVALID_ARGUMENT
    return rc


def test_workers_store_what_the_receiver_stores_itself(tmp_path):
    by_workers = _receive(tmp_path / "workers.duckdb", workers=1)
    by_itself = _receive(tmp_path / "itself.duckdb", workers=0)
    assert by_workers._pool is not None and by_workers._pool.converted_requests == 5
    for receiver in (by_workers, by_itself):
        counts = receiver.counts
        assert (counts.requests, counts.spans, counts.rejected_spans) == (4, 11, 2)
        assert counts.malformed_requests == 1
    stored = _rows(tmp_path / "workers.duckdb")
    assert len(stored) == 11 and stored == _rows(tmp_path / "itself.duckdb")
    conn = duckdb.connect(str(tmp_path / "workers.duckdb"), read_only=True)
    try:
        chat = conn.execute(
            "SELECT cost_usd FROM llm_calls WHERE service_name = 'node-app' "
            "AND model = 'gpt-4o-mini'"
        ).fetchall()
    finally:
        conn.close()
    price = pytest.approx(list_price("gpt-4o-mini", "openai", 12, 5))
    assert chat == [(price,), (price,)]  # the sent one and the fixed request's


def test_a_dead_pool_costs_only_speed(tmp_path):
    db = tmp_path / "dead.duckdb"
    with TraceReceiver(DuckDBSpanExporter(db), port=0, grpc_port=None, workers=1) as rc:
        assert rc._pool is not None
        rc._pool.shutdown()  # as if its workers were gone
        send(HttpSpanExporter(endpoint=f"http://127.0.0.1:{rc.port}/v1/traces"), "node-app")
    assert rc.counts.spans == 3 and len(_rows(db)) == 3


def test_the_command_takes_workers_and_refuses_a_negative_count(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmtrace",
            "serve",
            "--workers",
            "-1",
            "--db",
            str(tmp_path / "x.db"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert done.returncode == 2
    assert "serve --workers -1: give 0 or more worker processes" in done.stderr


def test_the_command_with_a_worker_serves_until_sigterm(tmp_path):
    db, port = tmp_path / "cli.duckdb", free_port()
    command = ["serve", "--port", str(port), "--grpc-port", "0", "--workers", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "llmtrace", *command, "--db", str(db)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first.startswith("receiving OTLP on") and "1 conversion worker(s)" in first
        send(HttpSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces"), "cli-app")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stored 3 spans from 3 requests; rejected 0 spans, 0 malformed" in out
    conn = duckdb.connect(str(db), read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM llm_calls").fetchall() == [(2,)]
    finally:
        conn.close()


@pytest.mark.parametrize(
    ("cores", "workers"), [(1, 0), (2, 0), (3, 1), (4, 2), (6, 3), (8, 4), (64, 4)]
)
def test_the_default_workers_follow_the_cores(cores, workers):
    assert default_workers(cores) == workers


def test_serve_without_workers_takes_the_default_from_this_machines_cores(monkeypatch):
    from llmtrace.cli.serve import serve_command

    here = default_workers()
    default = inspect.signature(serve_command).parameters["workers"].default
    assert default == here
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    assert default_workers() == 4
