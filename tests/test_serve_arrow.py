"""``llmtrace serve`` reads OTLP straight into the store's Arrow batch: the batch must be the
one the SDK-span path (``spans_from_request`` then the exporter's conversion) makes."""

from __future__ import annotations

import select
import socket
import time

import duckdb
import pyarrow as pa
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.exporters.duckdb.conversion import convert
from llmtrace.exporters.duckdb.gathering import GATHER_S
from llmtrace.exporters.duckdb.otlp_batch import request_batch, resource_on_rows
from llmtrace.exporters.duckdb.rows import BATCH_SCHEMA, batch_resource
from llmtrace.receiver import (
    SERVE_IDLE_RELEASE_S,
    TraceReceiver,
    spans_from_request,
    store_exporter,
)
from llmtrace.store.connection import connect_read
from tests.serve_helpers import add_span, set_value, varied_request


def sdk_path(request) -> tuple[pa.Table, int]:
    spans, rejected = spans_from_request(request)
    return convert(spans), rejected


@pytest.mark.parametrize("second_service", ["other", "node-app"])
def test_the_arrow_batch_is_the_one_the_sdk_path_makes(second_service):
    request = varied_request(second_service)
    batch, rejected = request_batch(request)
    expected, expected_rejected = sdk_path(request)
    assert (batch.num_rows, rejected) == (8, 2) == (expected.num_rows, expected_rejected)
    assert batch.schema.equals(expected.schema, check_metadata=True)
    for name in batch.column_names:
        assert batch[name].to_pylist() == expected[name].to_pylist(), name
    assert batch.equals(expected, check_metadata=True)
    priced = [c for c in batch["cost_usd"].to_pylist() if c is not None]
    assert len(priced) == 5  # the chat call and the four embeddings


def test_a_request_with_no_valid_span_is_an_empty_batch():
    request = trace_service_pb2.ExportTraceServiceRequest()
    add_span(request.resource_spans.add().scope_spans.add().spans, "x", b"\x01", b"\x02")
    batch, rejected = request_batch(request)
    assert (batch.num_rows, rejected) == (0, 1)


def _stored(db) -> list[tuple[object, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(
            "SELECT * EXCLUDE (attributes), attributes::VARCHAR FROM spans ORDER BY span_id"
        ).fetchall()
    finally:
        conn.close()


def test_the_resource_on_every_row_stores_the_same_rows(tmp_path):
    for service in ("other", "node-app"):  # two resources in the request, and one
        batch, _ = request_batch(varied_request(service))
        on_rows = resource_on_rows(batch)
        assert (batch_resource(batch) is not None) == (service == "node-app")
        assert batch_resource(on_rows) is None
        assert on_rows.schema.equals(BATCH_SCHEMA)
        found = []
        for name, table in (("metadata", batch), ("rows", on_rows)):
            db = tmp_path / f"{service}-{name}.duckdb"
            exporter = DuckDBSpanExporter(db)
            exporter.export_batch(table)
            assert exporter.force_flush()
            exporter.shutdown()
            found.append(_stored(db))
        assert len(found[0]) == 8 and found[0] == found[1]


def test_requests_from_different_services_are_stored_together(tmp_path):
    """Each request used to be its own hand-off file and transaction when the services
    alternated (one insert carries one resource); now they gather."""
    db = tmp_path / "gathered.duckdb"
    exporter = DuckDBSpanExporter(db)
    receiver = TraceReceiver(exporter, port=0, grpc_port=None)
    requests = 6
    for i in range(requests):
        request = trace_service_pb2.ExportTraceServiceRequest()
        resource_spans = request.resource_spans.add()
        set_value(resource_spans.resource.attributes, "service.name", f"service-{i % 2}")
        spans = resource_spans.scope_spans.add().spans
        for n in range(50):
            add_span(spans, "work", bytes([i + 1]) * 16, (n + 1).to_bytes(8, "big"))
        receiver.store(request)
    assert exporter.force_flush()
    exporter.shutdown()
    conn = duckdb.connect(str(db), read_only=True)
    try:
        by_service = conn.execute(
            "SELECT service_name, count(*) FROM spans GROUP BY ALL ORDER BY 1"
        ).fetchall()
        files = conn.execute("SELECT count(*) FROM spool_merged").fetchone()
    finally:
        conn.close()
    assert by_service == [("service-0", 150), ("service-1", 150)]
    assert files is not None and files[0] < requests


def test_many_exporters_connecting_at_once_are_all_queued(tmp_path):
    """Before the accept loop takes them (it has not started here), 40 connections all
    complete their handshake: none waits out a SYN retry (socketserver's backlog is 5)."""
    receiver = TraceReceiver(DuckDBSpanExporter(tmp_path / "x.duckdb"), port=0, grpc_port=None)
    sockets = [socket.socket() for _ in range(40)]
    try:
        for s in sockets:
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", receiver.port))
        deadline = time.monotonic() + 5
        connected: set[socket.socket] = set()
        while len(connected) < len(sockets) and time.monotonic() < deadline:
            _, writable, _ = select.select([], [s for s in sockets if s not in connected], [], 0.2)
            connected.update(writable)
        assert len(connected) == len(sockets)
    finally:
        for s in sockets:
            s.close()
        receiver._http.server_close()
        receiver.exporter.shutdown()


def test_serve_keeps_the_store_between_writes_but_not_from_a_reader(tmp_path):
    """serve's merger holds the store for longer than the writer gathers, so that a steady
    trickle of requests does not close and reopen it each time; a reader still gets it at once
    (it signals that it waits), not when the hold runs out."""
    assert SERVE_IDLE_RELEASE_S > GATHER_S
    db = tmp_path / "held.duckdb"
    exporter = store_exporter(db)
    receiver = TraceReceiver(exporter, port=0, grpc_port=None)
    receiver.store(varied_request())
    deadline = time.monotonic() + 60
    while exporter.exported_spans < 8 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert exporter.exported_spans == 8  # committed; the merger now holds the store, idle
    conn = connect_read(db, timeout_s=0.9 * SERVE_IDLE_RELEASE_S)  # StoreBusyError if not
    try:
        assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(8,)]
    finally:
        conn.close()
        exporter.shutdown()
