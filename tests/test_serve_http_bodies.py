"""``llmtrace serve``'s HTTP request bodies: with a length or chunked (the Node exporter streams
its body with ``Transfer-Encoding: chunked`` and no length), gzipped or not; one that cannot be
read is answered, counted, and ends the connection."""

from __future__ import annotations

import gzip
import http.client
import io
import json
import os
import shutil
import socket
import subprocess
from pathlib import Path

import duckdb
import pytest
from google.rpc import code_pb2, status_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.receiver import TraceReceiver
from llmtrace.receiver_http import BodyTooLarge, read_chunked
from tests.conftest import ROOT
from tests.serve_helpers import varied_request

BODY = varied_request().SerializeToString()  # 8 valid spans, 2 rejected


def chunked(body: bytes, size: int = 100) -> bytes:
    """``body`` in chunks of ``size``, one with an extension, and a trailer."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    out = [f"{len(p):x};ext=1\r\n".encode() + p + b"\r\n" for p in pieces[:1]]
    out += [f"{len(p):X}\r\n".encode() + p + b"\r\n" for p in pieces[1:]]
    return b"".join(out) + b"0\r\nX-Trailer: yes\r\n\r\n"


def head(port: int, extra: str) -> bytes:
    return (
        f"POST /v1/traces HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
        f"Content-Type: application/x-protobuf\r\n{extra}\r\n"
    ).encode()


def answer(sock: socket.socket) -> tuple[int, bytes, bool]:
    """The next response on ``sock``: status, body, and whether the server closes."""
    response = http.client.HTTPResponse(sock)
    response.begin()
    body = response.read()
    return response.status, body, response.will_close


def stored(db: Path) -> int:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        found = conn.execute("SELECT count(*) FROM spans").fetchone()
        return 0 if found is None else int(found[0])
    finally:
        conn.close()


@pytest.fixture
def receiver(tmp_path):
    with TraceReceiver(DuckDBSpanExporter(tmp_path / "s.duckdb"), port=0, grpc_port=None) as rc:
        yield rc


def test_a_chunked_body_is_read_whole_and_the_connection_goes_on(receiver):
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as sock:
        sock.sendall(head(receiver.port, "Transfer-Encoding: chunked\r\n") + chunked(BODY))
        status, body, closes = answer(sock)
        assert status == 200 and not closes
        response = trace_service_pb2.ExportTraceServiceResponse.FromString(body)
        assert response.partial_success.rejected_spans == 2
        zipped = gzip.compress(BODY)
        extra = "Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n"
        sock.sendall(head(receiver.port, extra) + chunked(zipped, 64))
        assert answer(sock)[0] == 200
        sock.sendall(head(receiver.port, f"Content-Length: {len(BODY)}\r\n") + BODY)
        assert answer(sock)[0] == 200
    receiver.stop()
    counts = receiver.counts
    assert (counts.requests, counts.spans, counts.rejected_spans) == (3, 24, 6)
    assert counts.malformed_requests == 0
    assert stored(Path(receiver.exporter.path)) == 24


@pytest.mark.parametrize(
    "body",
    [b"zz\r\nabc\r\n0\r\n\r\n", b"5\r\nabc", b"3\r\nabcXY0\r\n\r\n", b"-3\r\nabc\r\n0\r\n\r\n"],
)
def test_a_chunked_body_that_cannot_be_read_is_answered_counted_and_closes(receiver, body):
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as sock:
        sock.sendall(head(receiver.port, "Transfer-Encoding: chunked\r\n") + body)
        if body == b"5\r\nabc":  # cut off: the server sees the end only when we stop sending
            sock.shutdown(socket.SHUT_WR)
        status, reply, closes = answer(sock)
    assert status == 400 and closes
    assert status_pb2.Status.FromString(reply).code == code_pb2.INVALID_ARGUMENT
    assert receiver.counts.malformed_requests == 1
    assert receiver.counts.requests == 0


def test_a_body_over_the_limit_is_refused_and_closes(receiver):
    with socket.create_connection(("127.0.0.1", receiver.port), timeout=10) as sock:
        sock.sendall(head(receiver.port, f"Content-Length: {2**40}\r\n") + BODY)
        status, reply, closes = answer(sock)
    assert (status, closes) == (413, True)
    assert status_pb2.Status.FromString(reply).code == code_pb2.INVALID_ARGUMENT
    assert receiver.counts.malformed_requests == 1
    with pytest.raises(BodyTooLarge):
        read_chunked(io.BytesIO(chunked(BODY)), limit=len(BODY) - 1)
    assert read_chunked(io.BytesIO(chunked(BODY)), limit=len(BODY)) == BODY


NODE_MODULES = ROOT / ".bench-node" / "node_modules"


@pytest.mark.skipif(
    shutil.which("node") is None or not NODE_MODULES.is_dir(),
    reason=(
        "node and the JS OpenTelemetry SDK (.bench-node/, installed by make test and make bench "
        "when npm is there) are needed"
    ),
)
def test_the_real_node_exporter_lands_every_span(receiver):
    """The OpenTelemetry JS SDK's OTLP/HTTP protobuf exporter (bench/node/otlp_sender.cjs)."""
    sender = subprocess.Popen(
        [
            "node",
            str(ROOT / "bench" / "node" / "otlp_sender.cjs"),
            "http",
            f"http://127.0.0.1:{receiver.port}/v1/traces",
            "node-app",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "NODE_PATH": str(NODE_MODULES)},
    )
    assert sender.stdin is not None and sender.stdout is not None
    assert sender.stdout.readline().strip() == "ready"
    sender.stdin.write("0\n")  # a deadline already past: one export of 512 spans
    sender.stdin.flush()
    result = json.loads(sender.stdout.readline())
    assert sender.wait(timeout=60) == 0
    assert (result["sent"], result["failed"]) == (512, 0)
    receiver.stop()
    assert (receiver.counts.spans, receiver.counts.malformed_requests) == (512, 0)
    assert stored(Path(receiver.exporter.path)) == 512
