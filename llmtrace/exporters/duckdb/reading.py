"""Finished SDK spans to lists of fields, and those to a hand-off document (``store.handoff``).

This is the exporter's whole cost to the traced application (it runs on the batch processor's
thread but holds the GIL), so it reads column by column in C-level comprehensions over the SDK
span's own fields and allocates nothing per span that the cyclic garbage collector would have
to track; orjson writes the document in C. Normalising, pricing and building rows happen where
the file is merged, not here: the application loads neither pyarrow nor DuckDB nor prices.

Spans that do not look like the SDK's ``ReadableSpan`` inside (another SDK, a hand-made
object) go through a slower path that uses only the public properties, span by span; a span
that cannot be read at all is skipped, reported and counted, never the whole batch.
"""

from __future__ import annotations

import operator
from collections.abc import Sequence
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.trace import SpanKind, StatusCode

from ..._internal import report_internal_error
from ..._tracing.late import with_late_attributes
from ..._tracing.runtime import made_prices
from ...store.handoff import SpanFields, encode
from .gathering import Document

__all__ = ["DOCUMENT_SPANS", "encode_salvaging", "encode_spans", "price_overrides", "read_fields"]

# Enum members hash in Python code; identity lookups by id() stay in C.
_STATUS_NAMES = {id(code): code.name for code in StatusCode}
_KIND_NAMES = {id(kind): kind.name.lower() for kind in SpanKind}
_ATTRIBUTES_DICT = operator.attrgetter("_dict")


def _sdk_fields(spans: Sequence[ReadableSpan]) -> SpanFields:
    """Fields straight from the SDK span's slots: the fast path (a fraction of the cost of
    the public properties, which copy attributes into a read-only proxy). One pass a field
    and no per-span containers: a tuple per span would feed the cyclic garbage collector
    8,192 tracked objects a batch, which costs more than the reading itself."""
    fields = SpanFields()
    contexts = [s._context for s in spans]
    fields.trace_ids = [c[0] for c in contexts]  # type: ignore[index]
    fields.span_ids = [c[1] for c in contexts]  # type: ignore[index]
    fields.parents = _parent_ids([s._parent for s in spans])
    fields.names = [s._name for s in spans]
    fields.kinds = [_KIND_NAMES[id(s._kind)] for s in spans]
    statuses = [s._status for s in spans]
    fields.status_codes = [_STATUS_NAMES[id(st._status_code)] for st in statuses]
    fields.status_messages = [st._description for st in statuses]
    fields.starts = [s._start_time for s in spans]
    fields.ends = [s._end_time for s in spans]
    raw = [s._attributes for s in spans]
    if _only(raw, BoundedAttributes):
        fields.attributes = list(map(_ATTRIBUTES_DICT, raw))
    else:
        fields.attributes = [
            {} if a is None else (a if type(a) is dict else getattr(a, "_dict", a)) for a in raw
        ]
    fields.events = _unwrap_bounded([s._events for s in spans])
    fields.links = _unwrap_bounded([s._links for s in spans])
    fields.resources = [s._resource for s in spans]
    return fields


def _only(values: list[Any], kind: type) -> bool:
    """Whether there are values and every one is exactly a ``kind`` (their types gathered into
    a set in C: ``all()`` over a generator runs a Python frame a value)."""
    return bool(values) and set(map(type, values)) == {kind}


def _parent_ids(parents: list[Any]) -> list[Any]:
    """The parents' span ids, None for a root; a batch of roots only costs a count."""
    if parents.count(None) == len(parents):
        return parents
    return [None if p is None else p[1] for p in parents]


def _unwrap_bounded(values: list[Any]) -> list[Any]:
    """The SDK keeps events and links in a ``BoundedList`` whose ``len`` runs in Python; its
    deque answers "empty?" in C."""
    if _only(values, BoundedList):
        return [v._dq for v in values]
    return values


def _public_fields(spans: Sequence[Any]) -> SpanFields:
    """Fields through the public ``ReadableSpan`` properties, span by span; a span that cannot
    be read is skipped and reported."""
    fields = SpanFields()
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


def read_fields(spans: Sequence[ReadableSpan]) -> SpanFields:
    """The fields of ``spans`` (those that can be read), late attributes (token estimates)
    in; prices are left to whoever stores them."""
    spans = with_late_attributes(spans, price=False)
    try:
        fields = _sdk_fields(spans)
    except (AttributeError, TypeError, KeyError, IndexError):
        return _public_fields(spans)
    if None in fields.starts:  # never started: nothing sensible to store
        return _public_fields([s for s in spans if s.start_time is not None])
    return fields


def _resource_attributes(resource: Any) -> dict[str, Any]:
    return {} if resource is None else dict(resource.attributes)


def _resources(fields: SpanFields) -> list[dict[str, Any]]:
    """One resource for the batch (the usual case: one provider), else one a span."""
    resources = fields.resources
    if not resources or resources.count(resources[0]) == len(resources):
        return [_resource_attributes(resources[0] if resources else None)]
    cache: dict[int, dict[str, Any]] = {}
    for resource in resources:
        if id(resource) not in cache:
            cache[id(resource)] = _resource_attributes(resource)
    return [cache[id(r)] for r in resources]


_overrides_cache: tuple[object, dict[str, Any] | None] = (None, None)


def price_overrides() -> dict[str, Any] | None:
    """The prices ``configure(prices=...)`` set in this process, as a document carries them
    (none while the table is one nobody made: ``configure()`` without prices)."""
    global _overrides_cache
    table = made_prices()
    if table is None:
        return None
    if _overrides_cache[0] is not table:
        _overrides_cache = (table, table.overrides_json() or None)
    return _overrides_cache[1]


# Spans a document: whoever merges a file parses one document at a time (orjson needs several
# times a document's size while it parses), so small documents keep the merger's memory low.
DOCUMENT_SPANS = 1_024


def _chunk(fields: SpanFields, start: int, stop: int) -> SpanFields:
    part = SpanFields()
    for name in SpanFields.__slots__:
        setattr(part, name, getattr(fields, name)[start:stop])
    return part


def encode_spans(spans: Sequence[ReadableSpan]) -> tuple[bytes | None, int, int]:
    """A batch as hand-off documents, one a line: their bytes (None when no span could be
    read), how many spans they hold and how many could not be read."""
    fields = read_fields(spans)
    n = len(fields.names)
    if not n:
        return None, 0, len(spans)
    prices = price_overrides()
    parts = (
        [fields]
        if n <= DOCUMENT_SPANS
        else [
            _chunk(fields, start, start + DOCUMENT_SPANS) for start in range(0, n, DOCUMENT_SPANS)
        ]
    )
    data = b"\n".join(encode(part, _resources(part), prices) for part in parts)
    return data, n, len(spans) - n


def encode_salvaging(spans: Sequence[ReadableSpan]) -> tuple[Document | None, int]:
    """The batch as hand-off documents, and how many spans could not be read. When the batch
    as a whole fails (a value nothing anticipated), each span is tried on its own, so one bad
    span costs only itself, never the batch."""
    try:
        data, rows, unreadable = encode_spans(spans)
    except Exception as exc:
        report_internal_error("DuckDBSpanExporter conversion", exc)
    else:
        return (None if data is None else Document(data, rows)), unreadable
    documents: list[bytes] = []
    rows = 0
    for span in spans:
        try:
            data, one, _ = encode_spans([span])
        except Exception:
            continue
        if data is not None:
            documents.append(data)
            rows += one
    return (Document(b"\n".join(documents), rows) if rows else None), len(spans) - rows
