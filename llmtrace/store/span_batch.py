"""Span fields to the store's columnar batch (``batch_sql`` holds the statement that stores it).

``llmtrace serve`` builds its batches here (from OTLP requests), whoever merges a traced
application's hand-off documents (``json_batch``) too, and so do ``convert`` and tests (from SDK
spans, through ``exporters.duckdb.rows``). It is done column by
column over lists, and nothing is allocated per span that the cyclic garbage collector would
have to track. Parsing the attribute JSON into VARIANT (which makes filters on non-promoted
attributes fast) happens inside DuckDB, off the GIL.
"""

from __future__ import annotations

import array
import re
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
import pyarrow as pa

from .. import semconv as sc
from .batch_sql import RESOURCE_KEY, SERVICE_KEY
from .handoff import SpanFields, events_json, links_json
from .keys import KEY_COLUMNS
from .normalize import DERIVED_COLUMNS, normalize_batch
from .values import clean_text, dumps, strings

if TYPE_CHECKING:
    from ..pricing import PriceTable

__all__ = ["BATCH_SCHEMA", "batch_resource", "fields_to_batch"]

# The Arrow type of each SQL type a promoted column may have (semconv.PROMOTED_COLUMNS).
_ARROW_TYPES = {
    "VARCHAR": pa.string(),
    "BIGINT": pa.int64(),
    "DOUBLE": pa.float64(),
    "VARCHAR[]": pa.list_(pa.string()),
}
_DERIVED = tuple((column, _ARROW_TYPES[sql_type]) for column, sql_type in DERIVED_COLUMNS)
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
        *_DERIVED,
        ("attributes", pa.string()),
        ("events", pa.string()),
        ("links", pa.string()),
        ("resource", pa.string()),
        *((column, pa.uint64()) for column in KEY_COLUMNS),
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


def _resource_json(resource: Any) -> tuple[str, str | None]:
    if resource is None:
        attributes: dict[str, Any] = {}
    elif isinstance(resource, Mapping):  # a hand-off document's
        attributes = dict(resource)
    else:  # the SDK's Resource
        attributes = dict(resource.attributes)
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


def _hex_column(ids: Sequence[Any], width: int) -> pa.Array:
    """Ids as fixed-width lowercase hex strings (None stays NULL), encoded in one C call for
    the whole batch: a third of the cost of formatting each id, and this runs for every span."""
    digits = 2 * width
    if ids and type(ids[0]) is str:  # a hand-off document's trace ids are hex already
        return pa.array(ids, pa.string())
    valid = [i is not None for i in ids]
    try:
        text = b"".join([(i or 0).to_bytes(width, "big") for i in ids]).hex().encode("ascii")
    except (OverflowError, AttributeError, TypeError):  # not an id OpenTelemetry would make
        return pa.array(
            [None if i is None else f"{int(i) % (1 << 8 * width):0{digits}x}" for i in ids],
            pa.string(),
        )
    offsets = array.array("i", range(0, digits * (len(ids) + 1), digits))
    validity = None if all(valid) else pa.array(valid, pa.bool_()).buffers()[1]
    return pa.StringArray.from_buffers(
        len(ids), pa.py_buffer(offsets), pa.py_buffer(text), validity
    )


def _hex_ids(fields: SpanFields) -> tuple[pa.Array, pa.Array, pa.Array]:
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


_LOWER_HEX = re.compile("[0-9a-f]+")


def _uint64(words: array.array[int]) -> pa.Array:
    return pa.Array.from_buffers(pa.uint64(), len(words), [None, pa.py_buffer(words)])


def _hex_keys(ids: Sequence[Any], digits: int) -> list[int | None] | array.array[int]:
    """Lowercase hex ids of ``digits`` digits as integers (None for any other): 64-bit words,
    big-endian first, in one C call when all of them are."""
    try:
        text = "".join(ids)
    except TypeError:  # a None among them
        text = ""
    if len(text) == digits * len(ids) and _LOWER_HEX.fullmatch(text):
        words = array.array("Q", bytes.fromhex(text))
        if sys.byteorder == "little":
            words.byteswap()
        return words
    return [
        int(i, 16) if type(i) is str and len(i) == digits and _LOWER_HEX.fullmatch(i) else None
        for i in ids
    ]


def _span_keys(ids: Sequence[Any]) -> pa.Array:
    """The keys ``keys`` derives from stored span ids: an integer id is stored as its hex
    modulo 2**64; a text id counts only as 16 lowercase hex digits."""
    if ids and type(ids[0]) is str:
        keys = _hex_keys(ids, 16)
        return _uint64(keys) if isinstance(keys, array.array) else pa.array(keys, pa.uint64())
    try:
        return pa.array(ids, pa.uint64())
    except (pa.ArrowInvalid, OverflowError, TypeError):  # not an id the SDK makes
        return pa.array([None if i is None else int(i) % (1 << 64) for i in ids], pa.uint64())


def _trace_keys(ids: Sequence[Any]) -> tuple[pa.Array, pa.Array]:
    """The high and low halves ``keys`` derives from stored trace ids (as ``_span_keys``)."""
    if ids and type(ids[0]) is str:
        keys = _hex_keys(ids, 32)
        if isinstance(keys, array.array):
            return _uint64(keys[0::2]), _uint64(keys[1::2])
        values = keys
    else:
        values = [None if i is None else int(i) % (1 << 128) for i in ids]
    mask = (1 << 64) - 1
    return (
        pa.array([None if v is None else v >> 64 for v in values], pa.uint64()),
        pa.array([None if v is None else v & mask for v in values], pa.uint64()),
    )


def _key_columns(fields: SpanFields) -> list[pa.Array]:
    """trace_hi, trace_lo, span_key and parent_key (``keys.KEY_COLUMNS``)."""
    return [*_trace_keys(fields.trace_ids), _span_keys(fields.span_ids), _span_keys(fields.parents)]


def _sparse_json(values: list[Any], encode: Any) -> pa.Array:
    """A JSON column that is mostly NULL (events, links): only non-empty entries are encoded
    (a hand-off document's are JSON text already)."""
    if not any(values):
        return pa.nulls(len(values), pa.string())
    return pa.array(
        [(v if type(v) is str else encode(v)) if v else None for v in values], pa.string()
    )


def batch_resource(batch: pa.Table) -> bytes | None:
    """The resource a batch carries once for all its rows (None: it is on each row)."""
    return (batch.schema.metadata or {}).get(RESOURCE_KEY)


def fields_to_batch(fields: SpanFields, prices: PriceTable | None = None) -> pa.Table:
    """The batch (in :data:`BATCH_SCHEMA` order) of spans read into fields, normalised and
    priced with ``prices`` (None: the installed table)."""
    n = len(fields.names)
    attributes = fields.attributes
    keys: set[str] = set().union(*attributes) if attributes else set()
    kinds = fields.kinds
    if sc.SPAN_KIND in keys:  # the llmtrace kind wins over the OpenTelemetry span kind
        kinds = [a.get(sc.SPAN_KIND) or k for a, k in zip(attributes, kinds, strict=True)]
    # Other conventions' names to the same columns, and every model call priced (normalize).
    normalized = normalize_batch(attributes, kinds, keys, prices)
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
        for column, data_type in _DERIVED
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
        _sparse_json(fields.events, events_json),
        _sparse_json(fields.links, links_json),
        resources,
        *_key_columns(fields),
    ]
    return pa.Table.from_arrays(columns, schema=BATCH_SCHEMA.with_metadata(metadata))
