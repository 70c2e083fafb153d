"""Finished spans to a columnar batch, and the SQL that inserts a batch into ``spans``.

The per-span Python work is the cost of the exporter, so it is kept to reading each field once
into column lists: ids formatted, promoted attributes looked up, and the full attribute map
serialised with orjson. Parsing the JSON into VARIANT (which makes filters on non-promoted
attributes fast) happens inside DuckDB, in C++ and off the GIL.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
import pyarrow as pa
from opentelemetry.sdk.trace import ReadableSpan

from .. import semconv as sc

__all__ = ["BATCH_SCHEMA", "INSERT_BATCH_SQL", "spans_to_batch"]

_INT_COLUMNS = ("input_tokens", "output_tokens")
_FLOAT_COLUMNS = ("cost_usd", "guardrail_score")
_PROMOTED = tuple(sc.PROMOTED_COLUMNS.items())


def _column_type(column: str) -> pa.DataType:
    if column in _INT_COLUMNS:
        return pa.int64()
    if column in _FLOAT_COLUMNS:
        return pa.float64()
    return pa.string()


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
        ("attributes", pa.string()),
        ("events", pa.string()),
        ("links", pa.string()),
        ("resource", pa.string()),
    ]
)

_PROMOTED_SELECT = ", ".join(column for column, _ in _PROMOTED)
INSERT_BATCH_SQL = f"""
INSERT INTO spans
SELECT trace_id, span_id, parent_span_id, name, kind, status, status_message,
       make_timestamptz(start_ns // 1000), make_timestamptz(end_ns // 1000),
       (end_ns - start_ns) / 1e6, service_name, {_PROMOTED_SELECT},
       attributes::JSON::VARIANT, events::JSON, links::JSON, resource::JSON
FROM {{source}}
"""


def _json_default(value: Any) -> Any:
    if isinstance(value, (tuple, set, frozenset)):
        return list(value)
    if isinstance(value, Mapping):
        return dict(value)
    return str(value)


def _dumps(value: Any) -> str:
    return orjson.dumps(value, default=_json_default, option=orjson.OPT_NON_STR_KEYS).decode()


def _events_json(span: ReadableSpan) -> str | None:
    events = span.events
    if not events:
        return None
    return _dumps(
        [
            {"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})}
            for e in events
        ]
    )


def _links_json(span: ReadableSpan) -> str | None:
    links = span.links
    if not links:
        return None
    return _dumps(
        [
            {
                "trace_id": format(link.context.trace_id, "032x"),
                "span_id": format(link.context.span_id, "016x"),
                "attributes": dict(link.attributes or {}),
            }
            for link in links
        ]
    )


def _typed(values: list[Any], column: str) -> pa.Array:
    """An Arrow column; values of the wrong type become NULL rather than sink the batch."""
    data_type = _column_type(column)
    try:
        return pa.array(values, type=data_type)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError):
        if data_type == pa.string():
            cleaned: list[Any] = [None if v is None else str(v) for v in values]
        elif data_type == pa.int64():
            cleaned = [
                v if isinstance(v, int) and not isinstance(v, bool) else None for v in values
            ]
        else:
            cleaned = [
                float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else None
                for v in values
            ]
        return pa.array(cleaned, type=data_type)


def _raw_attributes(span: ReadableSpan) -> Mapping[str, Any]:
    """The span's attribute dict itself when the SDK exposes it (C-speed ``get`` and no copy),
    else a copy made through the public read-only view."""
    raw = getattr(getattr(span, "_attributes", None), "_dict", None)
    if isinstance(raw, dict):
        return raw
    return dict(span.attributes or {})


def spans_to_batch(spans: Sequence[ReadableSpan]) -> pa.Table:
    """A batch in :data:`BATCH_SCHEMA` order, ready for :data:`INSERT_BATCH_SQL`."""
    n_promoted = len(_PROMOTED)
    promoted_keys = [key for _, key in _PROMOTED]
    promoted: list[list[Any]] = [[] for _ in range(n_promoted)]
    trace_ids, span_ids, parent_ids, names, kinds = [], [], [], [], []
    statuses, status_messages, starts, ends, services = [], [], [], [], []
    attributes_json, events_json, links_json, resources_json = [], [], [], []
    resource_cache: dict[int, tuple[str, str | None]] = {}
    for span in spans:
        ctx = span.context
        trace_ids.append(format(ctx.trace_id, "032x"))
        span_ids.append(format(ctx.span_id, "016x"))
        parent = span.parent
        parent_ids.append(format(parent.span_id, "016x") if parent is not None else None)
        names.append(span.name)
        attributes = _raw_attributes(span)
        kinds.append(attributes.get(sc.SPAN_KIND) or span.kind.name.lower())
        status = span.status
        statuses.append(status.status_code.name)
        status_messages.append(status.description)
        starts.append(span.start_time)
        ends.append(span.end_time)
        get = attributes.get
        for column_values, key in zip(promoted, promoted_keys, strict=False):
            column_values.append(get(key))
        attributes_json.append(_dumps(attributes))
        events_json.append(_events_json(span) if getattr(span, "_events", True) else None)
        links_json.append(_links_json(span) if getattr(span, "_links", True) else None)
        resource = span.resource
        cached = resource_cache.get(id(resource))
        if cached is None:
            resource_attributes = dict(resource.attributes) if resource is not None else {}
            service = resource_attributes.get(sc.SERVICE_NAME)
            cached = (_dumps(resource_attributes), None if service is None else str(service))
            resource_cache[id(resource)] = cached
        resources_json.append(cached[0])
        services.append(cached[1])
    columns = [
        pa.array(trace_ids, pa.string()),
        pa.array(span_ids, pa.string()),
        pa.array(parent_ids, pa.string()),
        _typed(names, "name"),
        _typed(kinds, "kind"),
        pa.array(statuses, pa.string()),
        _typed(status_messages, "status_message"),
        pa.array(starts, pa.int64()),
        pa.array([s if e is None else e for e, s in zip(ends, starts, strict=True)], pa.int64()),
        pa.array(services, pa.string()),
        *[_typed(values, column) for values, (column, _) in zip(promoted, _PROMOTED, strict=False)],
        pa.array(attributes_json, pa.string()),
        pa.array(events_json, pa.string()),
        pa.array(links_json, pa.string()),
        pa.array(resources_json, pa.string()),
    ]
    return pa.Table.from_arrays(columns, schema=BATCH_SCHEMA)
