"""serve reads attributes and statuses through the request's wire view (``otlp_wire``), from
caches keyed by their bytes: the batch must stay the one the SDK-span path makes, cold or warm,
whatever the bytes (a status sent in pieces, an attribute too long to cache, a key twice)."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

from llmtrace.exporters.duckdb import otlp_batch, otlp_wire
from llmtrace.exporters.duckdb.conversion import convert
from llmtrace.exporters.duckdb.otlp_batch import request_batch
from llmtrace.receiver import spans_from_request
from tests.serve_helpers import T0, set_value, varied_request


def sdk_batch(request) -> pa.Table:
    spans, _ = spans_from_request(request)
    return convert(spans)


def assert_same(batch: pa.Table, expected: pa.Table) -> None:
    assert batch.num_rows == expected.num_rows
    for name in batch.column_names:
        assert batch[name].to_pylist() == expected[name].to_pylist(), name
    assert batch.equals(expected, check_metadata=True)


@pytest.fixture(autouse=True)
def cold_caches():
    otlp_wire.ATTRIBUTES.clear()
    otlp_wire.STATUSES.clear()
    yield
    otlp_wire.ATTRIBUTES.clear()
    otlp_wire.STATUSES.clear()


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    out, n = bytearray([number << 3 | 2]), len(payload)
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    return bytes(out) + bytes([n]) + payload


def _request(*spans: bytes) -> bytes:
    """An ExportTraceServiceRequest around spans given as their bytes, as sent."""
    scope = b"".join(_field(2, span) for span in spans)
    return _field(1, _field(2, scope))


def _span(span_id: int, *status_pieces: trace_pb2.Status, **attributes: object) -> bytes:
    span = trace_pb2.Span(name=f"s{span_id}", trace_id=b"\x01" * 16, span_id=bytes([span_id]) * 8)
    span.start_time_unix_nano, span.end_time_unix_nano = T0, T0 + 10
    for key, value in attributes.items():
        set_value(span.attributes, key, value)
    return span.SerializeToString() + b"".join(
        _field(15, piece.SerializeToString()) for piece in status_pieces
    )


@pytest.mark.parametrize("second_service", ["other", "node-app"])
def test_cold_and_warm_caches_make_the_sdk_paths_batch(second_service):
    request = varied_request(second_service)
    body = request.SerializeToString()
    expected = sdk_batch(request)
    cold, rejected = request_batch(request, body)
    assert otlp_wire.ATTRIBUTES and otlp_wire.STATUSES  # the view's caches were filled
    warm, _ = request_batch(request, body)
    assert rejected == 2
    assert_same(cold, expected)
    assert_same(warm, expected)
    assert_same(request_batch(request)[0], expected)  # no body at hand: serialised again


def test_a_status_sent_in_pieces_is_merged_as_protobuf_merges_it():
    """Protobuf merges a message field sent twice; a span whose last piece is another span's
    whole status must not take that span's cached status."""
    message_only = trace_pb2.Status(message="boom")  # not an error: its message is dropped
    error_code = trace_pb2.Status(code=trace_pb2.Status.STATUS_CODE_ERROR)
    body = _request(
        _span(1, message_only),
        _span(2, error_code, message_only),
        _span(3, message_only),
        _span(4),
    )
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    for _ in range(2):  # cold, then with span 1's status cached
        batch, _ = request_batch(request, body)
        assert batch["status"].to_pylist() == ["UNSET", "ERROR", "UNSET", "UNSET"]
        assert batch["status_message"].to_pylist() == [None, "boom", None, None]
        assert_same(batch, sdk_batch(request))
    assert otlp_wire.STATUSES  # the second time came from the cache


def test_long_attributes_repeated_keys_and_a_full_cache(monkeypatch):
    long_text = "x" * (otlp_wire.MAX_CACHED_BYTES + 1)
    spans = [
        _span(1, prompt=long_text, model="a", n=1),
        _span(2, prompt=long_text, model="a", n=2, flag=False, zero=0, empty=""),
        _span(3, model="b", ratio=0.5, n=3),
    ]
    twice = trace_pb2.Span.FromString(spans[2])  # one key twice: the last one counts
    set_value(twice.attributes, "model", "c")
    spans.append(
        twice.SerializeToString().replace(b"\x03" * 8, b"\x04" * 8)  # its own span id
    )
    body = _request(*spans)
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    expected = sdk_batch(request)
    batch, _ = request_batch(request, body)
    assert_same(batch, expected)
    assert len(otlp_wire.ATTRIBUTES) == 10  # every distinct one but the long one
    assert max(map(len, otlp_wire.ATTRIBUTES)) <= otlp_wire.MAX_CACHED_BYTES
    monkeypatch.setattr(otlp_batch, "MAX_CACHED_PAIRS", 3)
    otlp_wire.ATTRIBUTES.clear()
    for _ in range(2):  # the cache fills, starts over, fills again
        batch, _ = request_batch(request, body)
        assert_same(batch, expected)
        assert len(otlp_wire.ATTRIBUTES) <= 3
    models = [json.loads(a).get("model") for a in batch["attributes"].to_pylist()]
    assert models == ["a", "a", "b", "c"]


@pytest.mark.parametrize("repeat", [True, False])
def test_attributes_that_do_not_repeat_are_read_from_the_parsed_request(repeat):
    """A scope whose first spans' attributes are mostly new is read field by field (caching
    them would cost more than it saves); one whose attributes repeat, through the cache."""
    spans = [
        _span(i, model="m", **({"n": i % 2} if repeat else {"id": f"r{i}", "tokens": i}))
        for i in range(1, 41)
    ]
    body = _request(*spans)
    request = trace_service_pb2.ExportTraceServiceRequest.FromString(body)
    batch, _ = request_batch(request, body)
    assert_same(batch, sdk_batch(request))
    probed = otlp_batch._PROBE_SPANS
    assert len(otlp_wire.ATTRIBUTES) == (3 if repeat else 1 + 2 * probed)
