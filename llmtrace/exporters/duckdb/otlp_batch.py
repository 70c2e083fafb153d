"""An OTLP ``ExportTraceServiceRequest`` straight to the store's Arrow batch (``llmtrace serve``).

The protobuf spans are read field by field into the columns ``rows.fields_to_batch`` takes,
without building an SDK ``ReadableSpan`` (with its ``SpanContext``, ``Status`` and ``Resource``)
per span first: that object graph was more than half of the receiver's cost per span. The
batch is the one ``rows.spans_to_batch`` makes from the same spans as ``ReadableSpan``s (a test
holds the two equal): the same normalisation, prices and columns. Events and links, which few
spans carry, are still built as the SDK's objects, so they serialise exactly as before.
"""

from __future__ import annotations

from typing import Any

import pyarrow as pa
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event
from opentelemetry.trace import Link, SpanContext, TraceFlags

from .conversion import _cyclic_gc_paused
from .forksafe import arrow_work
from .rows import RESOURCE_KEY, SERVICE_KEY, SpanFields, fields_to_batch

__all__ = [
    "attributes",
    "context",
    "events",
    "links",
    "request_batch",
    "request_fields",
    "resource_on_rows",
    "value",
]

_SAMPLED = TraceFlags(TraceFlags.SAMPLED)
# OTLP's span kind and status code numbers, as the SDK's enum names read in the batch.
_KIND_NAMES = {2: "server", 3: "client", 4: "producer", 5: "consumer"}  # else internal
_STATUS_NAMES = {1: "OK", 2: "ERROR"}  # else UNSET
_ERROR = 2


def value(any_value: Any) -> Any:
    """An OTLP ``AnyValue`` as the Python value an SDK attribute holds."""
    text = any_value.string_value  # most attributes are strings: skip the oneof lookup
    if text:
        return text
    kind = any_value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return tuple(value(v) for v in any_value.array_value.values)
    if kind == "kvlist_value":  # not an OpenTelemetry attribute type: kept as its JSON-able form
        return str({kv.key: value(kv.value) for kv in any_value.kvlist_value.values})
    return getattr(any_value, kind)


def attributes(key_values: Any) -> dict[str, Any]:
    return {kv.key: value(kv.value) for kv in key_values}


def context(trace_id: bytes, span_id: bytes) -> SpanContext | None:
    """The span context of OTLP ids; None when an id has the wrong length."""
    if len(trace_id) != 16 or len(span_id) != 8:
        return None
    return SpanContext(
        int.from_bytes(trace_id, "big"), int.from_bytes(span_id, "big"), True, _SAMPLED
    )


def events(otlp_events: Any) -> list[Event]:
    return [Event(e.name, attributes(e.attributes), e.time_unix_nano) for e in otlp_events]


def links(otlp_links: Any) -> list[Link]:
    return [
        Link(linked, attributes(link.attributes))
        for link in otlp_links
        if (linked := context(link.trace_id, link.span_id))
    ]


def _parent(parent_span_id: bytes) -> int | None:
    return int.from_bytes(parent_span_id, "big") if len(parent_span_id) == 8 else None


def _status_message(status: Any) -> str | None:
    """As the SDK's ``Status`` keeps it: only an error's, and only when not empty."""
    return (status.message or None) if status.code == _ERROR else None


def _add_spans(fields: SpanFields, spans: list[Any], resource: Resource) -> None:
    """Append one scope's valid spans to the columns, one pass a field (as ``rows`` reads)."""
    fields.trace_ids += [int.from_bytes(s.trace_id, "big") for s in spans]
    fields.span_ids += [int.from_bytes(s.span_id, "big") for s in spans]
    fields.parents += [_parent(s.parent_span_id) for s in spans]
    fields.names += [s.name for s in spans]
    fields.kinds += [_KIND_NAMES.get(s.kind, "internal") for s in spans]
    statuses = [s.status for s in spans]
    fields.status_codes += [_STATUS_NAMES.get(st.code, "UNSET") for st in statuses]
    fields.status_messages += [_status_message(st) for st in statuses]
    starts = [s.start_time_unix_nano for s in spans]
    fields.starts += starts
    fields.ends += [s.end_time_unix_nano or t for s, t in zip(spans, starts, strict=True)]
    # value() inline for the common cases: AnyValue is a oneof, so the fields not set read
    # as "" and 0, and whatever they do not settle (0, "", other types) value() does.
    fields.attributes += [
        {
            kv.key: (v.string_value or v.int_value or value(v))
            for kv in s.attributes
            for v in (kv.value,)
        }
        for s in spans
    ]
    fields.events += [events(s.events) if s.events else () for s in spans]
    fields.links += [links(s.links) if s.links else () for s in spans]
    fields.resources += [resource] * len(spans)


def request_fields(request: Any) -> tuple[SpanFields, int]:
    """The columns of the spans a request carries, and how many spans were rejected (a trace
    id that is not 16 bytes or a span id that is not 8)."""
    fields = SpanFields()
    rejected = 0
    for resource_spans in request.resource_spans:
        resource = Resource(attributes(resource_spans.resource.attributes))
        for scope_spans in resource_spans.scope_spans:
            spans = scope_spans.spans
            valid = [s for s in spans if len(s.trace_id) == 16 and len(s.span_id) == 8]
            rejected += len(spans) - len(valid)
            if valid:
                _add_spans(fields, valid, resource)
    return fields, rejected


def request_batch(request: Any) -> tuple[pa.Table, int]:
    """The store's batch of a request's spans, and how many spans were rejected."""
    fields, rejected = request_fields(request)
    with arrow_work(), _cyclic_gc_paused():
        return fields_to_batch(fields), rejected


def resource_on_rows(batch: pa.Table) -> pa.Table:
    """``batch`` with the resource it carries once (in its metadata) written on every row.

    The exporter's writer gathers batches into one hand-off file (one insert, one commit) only
    while they share a resource. A receiver's requests come from many services in turn, so
    with the resource in the metadata each request became its own file and transaction; with
    it on the rows, they all gather. The stored rows are the same either way (a test holds
    that): ``batch_sql`` reads the resource from the rows when the metadata has none.
    """
    metadata = batch.schema.metadata or {}
    resource = metadata.get(RESOURCE_KEY)
    if resource is None:
        return batch
    n = batch.num_rows
    service = metadata.get(SERVICE_KEY)
    for name, text in (("service_name", service), ("resource", resource)):
        column = pa.nulls(n, pa.string()) if text is None else pa.repeat(text.decode(), n)
        batch = batch.set_column(batch.schema.get_field_index(name), name, column)
    return batch.replace_schema_metadata(None)
