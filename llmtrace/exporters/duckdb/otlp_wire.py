"""A second view of an OTLP ``ExportTraceServiceRequest``'s bytes, for ``otlp_batch``: the same
spans, with each attribute ``KeyValue`` (and the status) kept as the bytes it came as.

Reading an attribute from the parsed protobuf costs three Python-level field accesses
(``key``, ``value``, then the value's field), about half a microsecond a span each way. But a
service sends the same attributes over and over (operation, provider, model, server, many
token counts): as bytes, an attribute is one dictionary lookup in ``ATTRIBUTES``, which holds
the (key, value) each short ``KeyValue`` read as once. Only what is not there yet is read from
the parsed request, field by field as before, so a value is always what the parsed request
says: the view adds no parsing of its own beyond protobuf's.

The view's messages declare the real field numbers with ``bytes`` where OTLP has a nested
message (the wire format is the same), and only the fields ``otlp_batch`` reads. The request is
still parsed whole as OTLP first: that decides what is malformed.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["ATTRIBUTES", "MAX_CACHED_BYTES", "MAX_CACHED_PAIRS", "STATUSES", "WireRequest"]

# (key, value) of an attribute KeyValue's bytes, and (code name, message) of a Status's. An
# attribute longer than MAX_CACHED_BYTES (a prompt, a completion) is read each time; past
# MAX_CACHED_PAIRS entries the cache starts over (about 11 MB when full of 256-byte ones).
ATTRIBUTES: dict[bytes, tuple[str, Any]] = {}
STATUSES: dict[bytes, tuple[str, str | None]] = {}
MAX_CACHED_BYTES = 256
MAX_CACHED_PAIRS = 16_384

_FIELD = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "llmtrace.otlp_wire"


def _message(file: Any, name: str, fields: list[tuple[int, str, int, bool]]) -> None:
    message = file.message_type.add(name=name)
    for number, field_name, field_type, repeated in fields:
        field = message.field.add(name=field_name, number=number, type=field_type)
        field.label = _FIELD.LABEL_REPEATED if repeated else _FIELD.LABEL_OPTIONAL
        if field_type == _FIELD.TYPE_MESSAGE:
            field.type_name = f".{_PACKAGE}.{field_name.title().replace('_', '')}"


def _request_class() -> Any:
    """The view's request class (opentelemetry/proto/trace/v1/trace.proto's numbers)."""
    file = descriptor_pb2.FileDescriptorProto(
        name="llmtrace_otlp_wire.proto", package=_PACKAGE, syntax="proto3"
    )
    message, text, data = _FIELD.TYPE_MESSAGE, _FIELD.TYPE_STRING, _FIELD.TYPE_BYTES
    _message(file, "Request", [(1, "resource_spans", message, True)])
    _message(file, "ResourceSpans", [(2, "scope_spans", message, True)])
    _message(file, "ScopeSpans", [(2, "spans", message, True)])
    _message(
        file,
        "Spans",
        [
            (1, "trace_id", data, False),
            (2, "span_id", data, False),
            (4, "parent_span_id", data, False),
            (5, "name", text, False),
            (6, "kind", _FIELD.TYPE_INT32, False),  # an enum on the wire is an int32
            (7, "start_time_unix_nano", _FIELD.TYPE_FIXED64, False),
            (8, "end_time_unix_nano", _FIELD.TYPE_FIXED64, False),
            (9, "attributes", data, True),
            (11, "events", data, True),
            (13, "links", data, True),
            (15, "status", data, True),  # repeated: a status sent in pieces is merged by
        ],  # protobuf, which otlp_batch leaves to the parsed request
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"{_PACKAGE}.Request"))


WireRequest = _request_class()
