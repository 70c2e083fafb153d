"""Finished spans to a columnar batch (``store.batch_sql`` holds the statement that stores it).

The per-span Python work is the exporter's whole cost to the traced application (it runs on
the batch processor's thread but holds the GIL), so it is done column by column in C-level
comprehensions over the SDK span's own fields, promoted attributes are looked up only for keys
that occur in the batch, and nothing is allocated per span that the cyclic garbage collector
would have to track. Parsing the attribute JSON into VARIANT (which makes filters on
non-promoted attributes fast) happens inside DuckDB, off the GIL.

Spans that do not look like the SDK's ``ReadableSpan`` inside (another SDK, a hand-made
object) go through a slower path that uses only the public properties, span by span; a span
that cannot be read at all is skipped and reported, never the whole batch.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import orjson
import pyarrow as pa
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanKind, StatusCode

from ... import semconv as sc
from ..._internal import report_internal_error
from ..._tracing.late import with_late_attributes
from ..._tracing.runtime import runtime
from ...store.batch_sql import RESOURCE_KEY, SERVICE_KEY
from ...store.normalize import DERIVED_COLUMNS, normalize_batch
from .values import bytes_text, clean_text, dumps, strings

__all__ = [
    "BATCH_SCHEMA",
    "RESOURCE_KEY",
    "SERVICE_KEY",
    "SpanFields",
    "batch_resource",
    "bytes_text",
    "clean_text",
    "fields_to_batch",
    "spans_to_batch",
]

# The Arrow type of each SQL type a promoted column may have (semconv.PROMOTED_COLUMNS).
_ARROW_TYPES = {"VARCHAR": pa.string(), "BIGINT": pa.int64(), "DOUBLE": pa.float64()}
_PROMOTED = tuple(sc.PROMOTED_ATTRIBUTES.items())
_PROMOTED_TYPES = {
    column: _ARROW_TYPES[sql_type] for column, (_, sql_type) in sc.PROMOTED_COLUMNS.items()
}


def _column_type(column: str) -> pa.DataType:
    return _PROMOTED_TYPES[column]


BATCH_SCHEMA = pa.schema(
    [
        ("trace_id", pa.string()),
        ("span_id", pa.string()),
        ("parent_span_id", pa.string()),
        ("name", pa.string()),
        ("kind", pa.string()),
        ("status", pa.string()),
        ("status_message", pa.string()),
        ("start_ns", pa.int64()),
        ("end_ns", pa.int64()),
        ("service_name", pa.string()),
        *[(column, _column_type(column)) for column, _ in _PROMOTED],
        *DERIVED_COLUMNS,
        ("attributes", pa.string()),
        ("events", pa.string()),
        ("links", pa.string()),
        ("resource", pa.string()),
    ]
)


# Enum members hash in Python code; identity lookups by id() stay in C.
_STATUS_NAMES = {id(code): code.name for code in StatusCode}
_KIND_NAMES = {id(kind): kind.name.lower() for kind in SpanKind}


def _events_json(events: Sequence[Any]) -> str | None:
    if not events:
        return None
    return dumps(
        [
            {"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})}
            for e in events
        ]
    )


def _links_json(links: Sequence[Any]) -> str | None:
    if not links:
        return None
    return dumps(
        [
            {
                "trace_id": f"{link.context.trace_id:032x}",
                "span_id": f"{link.context.span_id:016x}",
                "attributes": dict(link.attributes or {}),
            }
            for link in links
        ]
    )


def _typed(values: list[Any], column: str) -> pa.Array:
    """A promoted column; values of the wrong type become NULL rather than sink the batch."""
    data_type = _column_type(column)
    if data_type == pa.string():
        return strings(values)
    try:
        return pa.array(values, type=data_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        cleaned: list[Any]
        if data_type == pa.int64():
            cleaned = [v if type(v) is int and -(2**63) <= v < 2**63 else None for v in values]
        else:
            cleaned = [float(v) if type(v) in (int, float) else None for v in values]
        return pa.array(cleaned, type=data_type)


class _Fields:
    """The raw fields of a batch of spans, one list per field, read once."""

    __slots__ = (
        "attributes",
        "ends",
        "events",
        "kinds",
        "links",
        "names",
        "parents",
        "resources",
        "span_ids",
        "starts",
        "status_codes",
        "status_messages",
        "trace_ids",
    )

    def __init__(self) -> None:
        self.trace_ids: list[int] = []
        self.span_ids: list[int] = []
        self.parents: list[int | None] = []
        self.names: list[Any] = []
        self.kinds: list[str] = []
        self.status_codes: list[str] = []
        self.status_messages: list[Any] = []
        self.starts: list[Any] = []
        self.ends: list[Any] = []
        self.attributes: list[Mapping[str, Any]] = []
        self.events: list[Any] = []
        self.links: list[Any] = []
        self.resources: list[Any] = []


SpanFields = _Fields
_ATTRIBUTES_DICT = operator.attrgetter("_dict")


def _sdk_fields(spans: Sequence[ReadableSpan]) -> _Fields:
    """Fields straight from the SDK span's slots: the fast path (a fraction of the cost of
    the public properties, which copy attributes into a read-only proxy). One pass a field
    and no per-span containers: a tuple per span would feed the cyclic garbage collector
    8,192 tracked objects a batch, which costs more than the reading itself."""
    fields = _Fields()
    contexts = [s._context for s in spans]
    fields.trace_ids = [c[0] for c in contexts]  # type: ignore[index]
    fields.span_ids = [c[1] for c in contexts]  # type: ignore[index]
    fields.parents = [None if p is None else p[1] for p in [s._parent for s in spans]]
    fields.names = [s._name for s in spans]
    fields.kinds = [_KIND_NAMES[id(s._kind)] for s in spans]
    statuses = [s._status for s in spans]
    fields.status_codes = [_STATUS_NAMES[id(st._status_code)] for st in statuses]
    fields.status_messages = [st._description for st in statuses]
    fields.starts = [s._start_time for s in spans]
    fields.ends = [s._end_time for s in spans]
    raw = [s._attributes for s in spans]
    if all(type(a) is BoundedAttributes for a in raw):
        fields.attributes = list(map(_ATTRIBUTES_DICT, raw))
    else:
        fields.attributes = [
            {} if a is None else (a if type(a) is dict else getattr(a, "_dict", a)) for a in raw
        ]
    fields.events = _unwrap_bounded([s._events for s in spans])
    fields.links = _unwrap_bounded([s._links for s in spans])
    fields.resources = [s._resource for s in spans]
    return fields


def _unwrap_bounded(values: list[Any]) -> list[Any]:
    """The SDK keeps events and links in a ``BoundedList`` whose ``len`` runs in Python; its
    deque answers "empty?" in C."""
    if values and all(type(v) is BoundedList for v in values):
        return [v._dq for v in values]
    return values


def _public_fields(spans: Sequence[Any]) -> _Fields:
    """Fields through the public ``ReadableSpan`` properties, span by span; a span that cannot
    be read is skipped and reported."""
    fields = _Fields()
    for span in spans:
        try:
            ctx = span.context
            parent = span.parent
            status = span.status
            row = (
                (int(ctx.trace_id), int(ctx.span_id)),
                None if parent is None else int(parent.span_id),
                span.name,
                span.kind.name.lower(),
                status.status_code.name,
                status.description,
                span.start_time,
                span.end_time,
                dict(span.attributes or {}),
                tuple(span.events or ()),
                tuple(span.links or ()),
                span.resource,
            )
        except Exception as exc:
            report_internal_error("DuckDBSpanExporter reading a span", exc)
            continue
        fields.trace_ids.append(row[0][0])
        fields.span_ids.append(row[0][1])
        fields.parents.append(row[1])
        fields.names.append(row[2])
        fields.kinds.append(row[3])
        fields.status_codes.append(row[4])
        fields.status_messages.append(row[5])
        fields.starts.append(row[6])
        fields.ends.append(row[7])
        fields.attributes.append(row[8])
        fields.events.append(row[9])
        fields.links.append(row[10])
        fields.resources.append(row[11])
    return fields


def _read_fields(spans: Sequence[ReadableSpan]) -> _Fields:
    try:
        fields = _sdk_fields(spans)
    except (AttributeError, TypeError, KeyError, IndexError):
        return _public_fields(spans)
    if None in fields.starts:  # never started: nothing sensible to store
        return _public_fields([s for s in spans if s.start_time is not None])
    return fields


def _resource_json(resource: Any) -> tuple[str, str | None]:
    attributes = dict(resource.attributes) if resource is not None else {}
    service = attributes.get(sc.SERVICE_NAME)
    return dumps(attributes), None if service is None else clean_text(str(service))


def _resource_columns(
    resources: list[Any], n: int
) -> tuple[pa.Array, pa.Array, dict[bytes, bytes]]:
    """Service name and resource JSON columns, and the batch metadata. A batch nearly always
    holds one resource (one provider): then it goes in the metadata, once, and the columns
    stay empty; DuckDB reads it as a constant instead of parsing and storing it row by row."""
    if n and resources.count(resources[0]) == n:
        text, service = _resource_json(resources[0])
        metadata = {RESOURCE_KEY: text.encode()}
        if service is not None:
            metadata[SERVICE_KEY] = service.encode()
        return pa.nulls(n, pa.string()), pa.nulls(n, pa.string()), metadata
    cache: dict[int, tuple[str, str | None]] = {}
    for resource in resources:
        if id(resource) not in cache:
            cache[id(resource)] = _resource_json(resource)
    services = pa.array([cache[id(r)][1] for r in resources], pa.string())
    return services, pa.array([cache[id(r)][0] for r in resources], pa.string()), {}


def _attributes_json(attributes: list[Mapping[str, Any]]) -> list[str]:
    try:
        return [orjson.dumps(a).decode() for a in attributes]
    except TypeError:  # rare: a value orjson cannot encode somewhere in the batch
        return list(map(dumps, attributes))


def _hex_column(ids: Sequence[int | None], width: int) -> pa.Array:
    """Ids as fixed-width lowercase hex strings (None stays NULL), encoded in one C call for
    the whole batch: a third of the cost of formatting each id, and this runs for every span."""
    digits = 2 * width
    valid = [i is not None for i in ids]
    try:
        text = b"".join([(i or 0).to_bytes(width, "big") for i in ids]).hex().encode("ascii")
    except (OverflowError, AttributeError, TypeError):  # not an id OpenTelemetry would make
        return pa.array(
            [None if i is None else f"{int(i) % (1 << 8 * width):0{digits}x}" for i in ids],
            pa.string(),
        )
    offsets = np.arange(0, digits * (len(ids) + 1), digits, dtype=np.int32)
    validity = None if all(valid) else pa.py_buffer(np.packbits(valid, bitorder="little"))
    return pa.StringArray.from_buffers(
        len(ids), pa.py_buffer(offsets), pa.py_buffer(text), validity
    )


def _hex_ids(fields: _Fields) -> tuple[pa.Array, pa.Array, pa.Array]:
    parents = fields.parents
    parent_array = (
        _hex_column(parents, 8)
        if any(p is not None for p in parents)
        else pa.nulls(len(parents), pa.string())
    )
    return (
        _hex_column(fields.trace_ids, 16),
        _hex_column(fields.span_ids, 8),
        parent_array,
    )


def _sparse_json(values: list[Any], encode: Any) -> pa.Array:
    """A JSON column that is mostly NULL (events, links): only non-empty entries are encoded."""
    if not any(values):
        return pa.nulls(len(values), pa.string())
    return pa.array([encode(v) if v else None for v in values], pa.string())


def batch_resource(batch: pa.Table) -> bytes | None:
    """The resource a batch carries once for all its rows (None: it is on each row)."""
    return (batch.schema.metadata or {}).get(RESOURCE_KEY)


def spans_to_batch(spans: Sequence[ReadableSpan]) -> pa.Table:
    """A batch in :data:`BATCH_SCHEMA` order (see ``batch_sql`` for how it is inserted)."""
    return fields_to_batch(_read_fields(with_late_attributes(spans, price=False)))


def fields_to_batch(fields: SpanFields) -> pa.Table:
    """The batch of spans already read into fields (``llmtrace serve`` reads OTLP into them)."""
    n = len(fields.names)
    attributes = fields.attributes
    keys: set[str] = set().union(*attributes) if attributes else set()
    kinds = fields.kinds
    if sc.SPAN_KIND in keys:  # the llmtrace kind wins over the OpenTelemetry span kind
        kinds = [a.get(sc.SPAN_KIND) or k for a, k in zip(attributes, kinds, strict=True)]
    # Other conventions' names to the same columns, and every model call priced (normalize).
    normalized = normalize_batch(attributes, kinds, keys, runtime.prices)  # loads when used
    kinds, filled = normalized.kinds, normalized.columns
    promoted = [
        _typed(filled[column], column)
        if column in filled
        else _typed([a.get(key) for a in attributes], column)
        if key in keys
        else pa.nulls(n, _column_type(column))
        for column, key in _PROMOTED
    ]
    derived = [
        pa.array(filled[column], data_type) if column in filled else pa.nulls(n, data_type)
        for column, data_type in DERIVED_COLUMNS
    ]
    starts = fields.starts
    ends = fields.ends
    if None in ends:
        ends = [s if e is None else e for e, s in zip(ends, starts, strict=True)]
    services, resources, metadata = _resource_columns(fields.resources, n)
    columns = [
        *_hex_ids(fields),
        strings(fields.names),
        strings(kinds),
        pa.array(fields.status_codes, pa.string()),
        strings(fields.status_messages),
        pa.array(starts, pa.int64()),
        pa.array(ends, pa.int64()),
        services,
        *promoted,
        *derived,
        pa.array(_attributes_json(attributes), pa.string()),
        _sparse_json(fields.events, _events_json),
        _sparse_json(fields.links, _links_json),
        resources,
    ]
    return pa.Table.from_arrays(columns, schema=BATCH_SCHEMA.with_metadata(metadata))
