"""``llmtrace serve``: the real OTLP exporters (HTTP/protobuf and gRPC) send into the store."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import grpc
import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.receiver import TraceReceiver
from tests.conftest import ROOT
from tests.foreign_spans_helpers import list_price
from tests.serve_helpers import free_port, post, send


def rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[TraceReceiver, Path]]:
    db = tmp_path / "served.duckdb"
    with TraceReceiver(DuckDBSpanExporter(db), port=0, grpc_port=0) as receiver:
        yield receiver, db


def test_http_and_grpc_exporters_land_normalised_and_priced(served):
    receiver, db = served
    send(HttpSpanExporter(endpoint=f"http://127.0.0.1:{receiver.port}/v1/traces"), "node-app")
    send(GrpcSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True), "go-app")
    receiver.stop()
    assert (receiver.counts.requests, receiver.counts.spans) == (6, 6)
    calls = rows(
        db,
        "SELECT service_name, model, input_tokens, output_tokens, cost_usd FROM llm_calls "
        "ORDER BY service_name, model",
    )
    chat = list_price("gpt-4o-mini", "openai", 12, 5)
    embedding = list_price("text-embedding-3-small", "openai", 8)
    assert calls == [
        ("go-app", "gpt-4o-mini", 12, 5, pytest.approx(chat)),
        ("go-app", "text-embedding-3-small", 8, None, pytest.approx(embedding)),
        ("node-app", "gpt-4o-mini", 12, 5, pytest.approx(chat)),
        ("node-app", "text-embedding-3-small", 8, None, pytest.approx(embedding)),
    ]
    traces = rows(db, "SELECT root_name, span_count, input_tokens FROM traces")
    assert traces == [("POST /answer", 3, 20)] * 2


def test_malformed_payloads_get_the_otlp_error_and_are_counted(served):
    receiver, _ = served
    status, body = post(receiver.port, b"\xff\xff not protobuf")
    assert status == 400
    assert status_pb2.Status.FromString(body).code == code_pb2.INVALID_ARGUMENT
    with grpc.insecure_channel(f"127.0.0.1:{receiver.grpc_port}") as channel:
        export = channel.unary_unary(
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
            request_serializer=None,
            response_deserializer=None,
        )
        with pytest.raises(grpc.RpcError) as error:
            export(b"\xff\xff not protobuf", timeout=10)
    assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert receiver.counts.malformed_requests == 2


def test_spans_with_bad_ids_are_rejected_one_by_one(served):
    receiver, _ = served
    request = trace_service_pb2.ExportTraceServiceRequest()
    scope_spans = request.resource_spans.add().scope_spans.add()
    good = scope_spans.spans.add(name="ok", trace_id=b"\x01" * 16, span_id=b"\x02" * 8)
    good.start_time_unix_nano = good.end_time_unix_nano = 1_700_000_000_000_000_000
    scope_spans.spans.add(name="short id", trace_id=b"\x01" * 4, span_id=b"\x02" * 8)
    status, body = post(receiver.port, request.SerializeToString())
    response = trace_service_pb2.ExportTraceServiceResponse.FromString(body)
    assert status == 200 and response.partial_success.rejected_spans == 1
    assert (receiver.counts.spans, receiver.counts.rejected_spans) == (1, 1)
    assert isinstance(trace_pb2.Span(), trace_pb2.Span)


def test_a_token_is_required_when_set(tmp_path):
    db = tmp_path / "token.duckdb"
    with TraceReceiver(DuckDBSpanExporter(db), port=0, grpc_port=0, token="s3cret") as receiver:
        status, _ = post(receiver.port, b"")
        assert status == 401
        assert post(receiver.port, b"", {"Authorization": "Bearer wrong"})[0] == 401
        headers = {"Authorization": "Bearer s3cret"}
        send(
            HttpSpanExporter(
                endpoint=f"http://127.0.0.1:{receiver.port}/v1/traces", headers=headers
            ),
            "with-token",
        )
        send(
            GrpcSpanExporter(
                endpoint=f"127.0.0.1:{receiver.grpc_port}",
                insecure=True,
                headers={"authorization": "Bearer s3cret"},
            ),
            "with-token",
        )
        send(GrpcSpanExporter(endpoint=f"127.0.0.1:{receiver.grpc_port}", insecure=True), "none")
    assert receiver.counts.unauthorized_requests >= 3
    assert rows(db, "SELECT count(*) FROM spans") == [(6,)]


def test_beyond_loopback_a_token_is_required(tmp_path):
    with pytest.raises(ValueError, match="listens beyond this machine: give --token"):
        TraceReceiver(DuckDBSpanExporter(tmp_path / "x.duckdb"), host="0.0.0.0", port=0)


def test_the_command_serves_until_sigterm_and_says_what_it_stored(tmp_path):
    db, port = tmp_path / "cli.duckdb", free_port()
    command = ["serve", "--port", str(port), "--grpc-port", "0", "--db", str(db)]
    process = subprocess.Popen(
        [sys.executable, "-m", "llmtrace", *command],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert first, process.communicate(timeout=30)
        assert first.startswith(f"receiving OTLP on http://127.0.0.1:{port}/v1/traces")
        send(HttpSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces"), "cli-app")
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert "stored 3 spans from 3 requests; rejected 0 spans, 0 malformed" in out
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not db.exists():
        time.sleep(0.1)
    found = rows(db, "SELECT model, cost_usd IS NOT NULL FROM llm_calls ORDER BY model")
    assert found == [("gpt-4o-mini", True), ("text-embedding-3-small", True)]
    assert json.dumps(found)
