"""An OTLP ``ExportTraceServiceRequest`` straight to the store's Arrow batch (``llmtrace serve``).

The protobuf spans are read field by field into the columns ``rows.fields_to_batch`` takes,
without building an SDK ``ReadableSpan`` (with its ``SpanContext``, ``Status`` and ``Resource``)
per span first: that object graph was more than half of the receiver's cost per span. The
batch is the one ``rows.spans_to_batch`` makes from the same spans as ``ReadableSpan``s (a test
holds the two equal): the same normalisation, prices and columns. Events and links, which few
spans carry, are still built as the SDK's objects, so they serialise exactly as before.

The spans are read through the request's wire view (``otlp_wire``): attributes and statuses
come from caches keyed by their bytes, and only what those lack from the parsed request (a
third less reading when a service's attributes repeat, as they mostly do).
"""

from __future__ import annotations

from itertools import repeat
from typing import Any, Literal

import pyarrow as pa
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event
from opentelemetry.trace import Link, SpanContext, TraceFlags

from .conversion import _cyclic_gc_paused
from .forksafe import arrow_work
from .otlp_wire import ATTRIBUTES, MAX_CACHED_BYTES, MAX_CACHED_PAIRS, STATUSES, WireRequest
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
_UNSET = ("UNSET", None)
_BIG: Literal["big"] = "big"
# A scope's attributes go through the caches when no more than this share of its first
# _PROBE_SPANS spans' attributes were missing from them (a miss costs about twice what
# reading the attribute from the parsed request does, a hit a third).
_PROBE_SPANS = 8
_MOST_MISSING = 0.3


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


def _attribute(raw: bytes, parsed: Any) -> tuple[str, Any]:
    """The (key, value) of one attribute the cache lacks, read from the parsed request (and
    kept, when short, for the next span that carries the same bytes)."""
    pair = (parsed.key, value(parsed.value))
    if len(raw) <= MAX_CACHED_BYTES:
        if len(ATTRIBUTES) >= MAX_CACHED_PAIRS:
            ATTRIBUTES.clear()
        ATTRIBUTES[raw] = pair
    return pair


def _cached_rows(spans: list[Any], parsed_at: Any, first: int) -> tuple[list[list[Any]], int]:
    """Each span's (key, value) pairs: one lookup an attribute for the bytes seen before, the
    parsed request's fields for the rest (``parsed_at(first + j)`` is span ``j``'s); and how
    many were not seen before."""
    get = ATTRIBUTES.get
    rows: list[list[Any]] = [list(map(get, s.attributes)) for s in spans]
    missing = 0
    for j, pairs in enumerate(rows):
        if None in pairs:
            raw, parsed = spans[j].attributes, parsed_at(first + j).attributes
            for i, pair in enumerate(pairs):
                if pair is None:
                    missing += 1
                    pairs[i] = _attribute(raw[i], parsed[i])
    return rows, missing


def _attributes(scope: _Scope) -> list[dict[str, Any]]:
    """Each span's attributes. Through the caches while most of a scope's first spans'
    attributes are in them; else (values that do not repeat: ids, counts, texts) field by field
    from the parsed request, as a miss costs more than reading it so would have."""
    probe, missing = _cached_rows(scope.wire[:_PROBE_SPANS], scope.parsed_at, 0)
    if missing <= _MOST_MISSING * sum(map(len, probe)):
        rest, _ = _cached_rows(scope.wire[_PROBE_SPANS:], scope.parsed_at, _PROBE_SPANS)
        return list(map(dict, probe + rest))
    return [
        *map(dict, probe),
        *[
            {
                kv.key: (v.string_value or v.int_value or value(v))
                for kv in s.attributes
                for v in (kv.value,)
            }
            for s in scope.parsed_spans()[_PROBE_SPANS:]
        ],
    ]


def _status(pieces: Any, span: Any) -> tuple[str, str | None]:
    """(code name, message) of a status the cache lacks, sent as ``pieces`` (protobuf merges
    them), read from the parsed ``span`` (and kept when it came whole and short)."""
    status = span.status
    pair = (_STATUS_NAMES.get(status.code, "UNSET"), _status_message(status))
    if len(pieces) == 1 and len(pieces[0]) <= MAX_CACHED_BYTES:
        if len(STATUSES) >= MAX_CACHED_PAIRS:
            STATUSES.clear()
        STATUSES[pieces[0]] = pair
    return pair


def _statuses(wire: list[Any], parsed_at: Any) -> list[tuple[str, str | None]]:
    """Each span's (code name, message): unset when it has no status, else from the cache for
    a status seen before (most are an empty one, or one error code)."""
    get = STATUSES.get
    pieces = [s.status for s in wire]
    found: list[Any] = [_UNSET if not p else get(p[0]) if len(p) == 1 else None for p in pieces]
    if None in found:
        for j, pair in enumerate(found):
            if pair is None:
                found[j] = _status(pieces[j], parsed_at(j))
    return found


def _sparse(spans: list[Any], field: str, read: Any, parsed_at: Any) -> list[Any]:
    """Events or links (few spans have any): ``read`` from the parsed spans that have some."""
    present = [getattr(s, field) for s in spans]
    if not any(present):
        return [()] * len(spans)
    return [read(getattr(parsed_at(j), field)) if p else () for j, p in enumerate(present)]


def _add_spans(fields: SpanFields, spans: _Scope, resource: Resource) -> None:
    """Append one scope's valid spans to the columns, one pass a field (as ``rows`` reads)."""
    wire, parsed_at = spans.wire, spans.parsed_at
    fields.trace_ids += map(int.from_bytes, spans.trace_ids, repeat(_BIG))
    fields.span_ids += map(int.from_bytes, spans.span_ids, repeat(_BIG))
    fields.parents += [_parent(s.parent_span_id) for s in wire]
    fields.names += [s.name for s in wire]
    fields.kinds += [_KIND_NAMES.get(s.kind, "internal") for s in wire]
    statuses = _statuses(wire, parsed_at)
    fields.status_codes += [st[0] for st in statuses]
    fields.status_messages += [st[1] for st in statuses]
    starts = [s.start_time_unix_nano for s in wire]
    fields.starts += starts
    fields.ends += [s.end_time_unix_nano or t for s, t in zip(wire, starts, strict=True)]
    fields.attributes += _attributes(spans)
    fields.events += _sparse(wire, "events", events, parsed_at)
    fields.links += _sparse(wire, "links", links, parsed_at)
    fields.resources += [resource] * len(wire)


class _Scope:
    """One scope's spans with valid ids: the wire view's (``otlp_wire``), their ids, and
    ``parsed_at(j)``, the parsed request's span ``j``, for what the view's caches lack."""

    def __init__(self, wire: Any, parsed: Any) -> None:
        self.wire = list(wire)
        self.trace_ids = [s.trace_id for s in self.wire]
        self.span_ids = [s.span_id for s in self.wire]
        self.parsed = parsed
        self.keep: list[int] | None = None
        if not (set(map(len, self.trace_ids)) <= {16} and set(map(len, self.span_ids)) <= {8}):
            ids = zip(self.trace_ids, self.span_ids, strict=True)
            keep = [i for i, (t, s) in enumerate(ids) if len(t) == 16 and len(s) == 8]
            self.wire = [self.wire[i] for i in keep]
            self.trace_ids = [self.trace_ids[i] for i in keep]
            self.span_ids = [self.span_ids[i] for i in keep]
            self.keep = keep

    def parsed_at(self, j: int) -> Any:
        return self.parsed[j if self.keep is None else self.keep[j]]

    def parsed_spans(self) -> list[Any]:
        return list(self.parsed) if self.keep is None else [self.parsed[i] for i in self.keep]


def request_fields(request: Any, body: bytes | None = None) -> tuple[SpanFields, int]:
    """The columns of the spans a request carries, and how many spans were rejected (a trace
    id that is not 16 bytes or a span id that is not 8). ``body``: the bytes ``request`` was
    parsed from (else it is serialised again, for the wire view)."""
    wire = WireRequest.FromString(request.SerializeToString() if body is None else body)
    fields = SpanFields()
    rejected = 0
    for resource_spans, wire_resource in zip(
        request.resource_spans, wire.resource_spans, strict=True
    ):
        resource = Resource(attributes(resource_spans.resource.attributes))
        for scope_spans, wire_scope in zip(
            resource_spans.scope_spans, wire_resource.scope_spans, strict=True
        ):
            spans = _Scope(wire_scope.spans, scope_spans.spans)
            rejected += len(wire_scope.spans) - len(spans.wire)
            if spans.wire:
                _add_spans(fields, spans, resource)
    return fields, rejected


def request_batch(request: Any, body: bytes | None = None) -> tuple[pa.Table, int]:
    """The store's batch of a request's spans, and how many spans were rejected (``body``:
    the bytes ``request`` was parsed from, if at hand)."""
    fields, rejected = request_fields(request, body)
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
