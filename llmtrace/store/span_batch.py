"""Span fields to the store's columnar batch (``batch_sql`` holds the statement that stores it).

``llmtrace serve`` builds its batches here (from OTLP requests), whoever merges a traced
application's hand-off documents (``json_batch``) too, and so do ``convert`` and tests (from SDK
spans, through ``exporters.duckdb.rows``, which makes a pyarrow table of it). It is done column
by column over lists, and nothing is allocated per span that the cyclic garbage collector would
have to track. The batch is a nanoarrow struct array (``columns``), which DuckDB scans without
loading pyarrow, pandas or numpy. Parsing the attribute JSON into VARIANT (which makes filters
on non-promoted attributes fast) happens inside DuckDB, off the GIL.
"""

from __future__ import annotations

import array
import re
import sys
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import nanoarrow as na
import orjson

from .. import semconv as sc
from .batch_sql import RESOURCE_KEY, SERVICE_KEY
from .columns import (
    FLOAT64,
    INT64,
    STRING,
    STRING_LIST,
    UINT64,
    bitmap,
    float64s,
    hex_strings,
    int64s,
    nulls,
    string_lists,
    struct,
    uint64_words,
    uint64s,
)
from .handoff import SpanFields, events_json, links_json
from .keys import KEY_COLUMNS
from .normalize import DERIVED_COLUMNS, normalize_batch
from .values import clean_text, dumps, strings

if TYPE_CHECKING:
    from ..pricing import PriceTable

__all__ = ["BATCH_FIELDS", "batch_resource", "batch_schema", "fields_to_batch"]

# The Arrow type of each SQL type a promoted column may have (semconv.PROMOTED_COLUMNS).
_ARROW_TYPES = {"VARCHAR": STRING, "BIGINT": INT64, "DOUBLE": FLOAT64, "VARCHAR[]": STRING_LIST}
_DERIVED = tuple((column, _ARROW_TYPES[sql_type]) for column, sql_type in DERIVED_COLUMNS)
_PROMOTED = tuple(sc.PROMOTED_ATTRIBUTES.items())
_PROMOTED_TYPES = {
    column: _ARROW_TYPES[sql_type] for column, (_, sql_type) in sc.PROMOTED_COLUMNS.items()
}


def _column_type(column: str) -> na.Schema:
    return _PROMOTED_TYPES[column]


# Every column of a batch, in order, and its Arrow type.
BATCH_FIELDS: tuple[tuple[str, na.Schema], ...] = (
    ("trace_id", STRING),
    ("span_id", STRING),
    ("parent_span_id", STRING),
    ("name", STRING),
    ("kind", STRING),
    ("status", STRING),
    ("status_message", STRING),
    ("start_ns", INT64),
    ("end_ns", INT64),
    ("service_name", STRING),
    *[(column, _column_type(column)) for column, _ in _PROMOTED],
    *_DERIVED,
    ("attributes", STRING),
    ("events", STRING),
    ("links", STRING),
    ("resource", STRING),
    *((column, UINT64) for column in KEY_COLUMNS),
)
_STRUCT = na.struct(dict(BATCH_FIELDS))
_SCHEMAS: dict[tuple[tuple[bytes, bytes], ...], na.Schema] = {(): _STRUCT}


def batch_schema(metadata: Mapping[bytes, bytes] | None = None) -> na.Schema:
    """The batch's schema (nanoarrow), with ``metadata`` (the resource it carries once)."""
    key = tuple(sorted((metadata or {}).items()))
    schema = _SCHEMAS.get(key)
    if schema is None:
        if len(_SCHEMAS) > 64:  # one a resource; a receiver may see many
            _SCHEMAS.clear()
            _SCHEMAS[()] = _STRUCT
        schema = _SCHEMAS[key] = na.Schema(_STRUCT, metadata=dict(key))
    return schema


def _typed(values: list[Any], column: str) -> Any:
    """A promoted column; values of the wrong type become NULL rather than sink the batch."""
    data_type = _column_type(column)
    if data_type is STRING:
        return strings(values)
    if data_type is INT64:
        built = int64s(values)
        if built is None:
            cleaned = [v if type(v) is int and -(2**63) <= v < 2**63 else None for v in values]
            built = na.c_array(cleaned, INT64)
        return built
    built = float64s(values)
    if built is None:
        built = na.c_array([float(v) if type(v) in (int, float) else None for v in values], FLOAT64)
    return built


def _resource_json(resource: Any) -> tuple[str, str | None]:
    if resource is None:
        attributes: dict[str, Any] = {}
    elif isinstance(resource, Mapping):  # a hand-off document's
        attributes = dict(resource)
    else:  # the SDK's Resource
        attributes = dict(resource.attributes)
    service = attributes.get(sc.SERVICE_NAME)
    return dumps(attributes), None if service is None else clean_text(str(service))


def _resource_columns(resources: list[Any], n: int) -> tuple[Any, Any, dict[bytes, bytes]]:
    """Service name and resource JSON columns, and the batch metadata. A batch nearly always
    holds one resource (one provider): then it goes in the metadata, once, and the columns
    stay empty; DuckDB reads it as a constant instead of parsing and storing it row by row."""
    if n and resources.count(resources[0]) == n:
        text, service = _resource_json(resources[0])
        metadata = {RESOURCE_KEY: text.encode()}
        if service is not None:
            metadata[SERVICE_KEY] = service.encode()
        return nulls(STRING, n), nulls(STRING, n), metadata
    cache: dict[int, tuple[str, str | None]] = {}
    for resource in resources:
        if id(resource) not in cache:
            cache[id(resource)] = _resource_json(resource)
    services = na.c_array([cache[id(r)][1] for r in resources], STRING)
    return services, na.c_array([cache[id(r)][0] for r in resources], STRING), {}


def _attributes_json(attributes: list[Mapping[str, Any]]) -> list[str]:
    try:
        return [orjson.dumps(a).decode() for a in attributes]
    except TypeError:  # rare: a value orjson cannot encode somewhere in the batch
        return list(map(dumps, attributes))


def _hex_column(ids: Sequence[Any], width: int) -> Any:
    """Ids as fixed-width lowercase hex strings (None stays NULL), encoded in one C call for
    the whole batch: a third of the cost of formatting each id, and this runs for every span."""
    digits = 2 * width
    if ids and type(ids[0]) is str:  # a hand-off document's trace ids are hex already
        return na.c_array(ids, STRING)
    valid = [i is not None for i in ids]
    try:
        text = b"".join([(i or 0).to_bytes(width, "big") for i in ids]).hex().encode("ascii")
    except (OverflowError, AttributeError, TypeError):  # not an id OpenTelemetry would make
        return na.c_array(
            [None if i is None else f"{int(i) % (1 << 8 * width):0{digits}x}" for i in ids],
            STRING,
        )
    return hex_strings(text, len(ids), digits, None if all(valid) else bitmap(valid))


def _hex_ids(fields: SpanFields) -> tuple[Any, Any, Any]:
    parents = fields.parents
    parent_array = (
        _hex_column(parents, 8)
        if any(p is not None for p in parents)
        else nulls(STRING, len(parents))
    )
    return (
        _hex_column(fields.trace_ids, 16),
        _hex_column(fields.span_ids, 8),
        parent_array,
    )


_LOWER_HEX = re.compile("[0-9a-f]+")


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


def _span_keys(ids: Sequence[Any]) -> Any:
    """The keys ``keys`` derives from stored span ids: an integer id is stored as its hex
    modulo 2**64; a text id counts only as 16 lowercase hex digits."""
    if ids and type(ids[0]) is str:
        keys = _hex_keys(ids, 16)
        return uint64_words(keys) if isinstance(keys, array.array) else na.c_array(keys, UINT64)
    built = uint64s(ids)
    if built is None:  # not an id the SDK makes
        built = na.c_array([None if i is None else int(i) % (1 << 64) for i in ids], UINT64)
    return built


def _trace_keys(ids: Sequence[Any]) -> tuple[Any, Any]:
    """The high and low halves ``keys`` derives from stored trace ids (as ``_span_keys``)."""
    if ids and type(ids[0]) is str:
        keys = _hex_keys(ids, 32)
        if isinstance(keys, array.array):
            return uint64_words(keys[0::2]), uint64_words(keys[1::2])
        values = keys
    else:
        values = [None if i is None else int(i) % (1 << 128) for i in ids]
    mask = (1 << 64) - 1
    return (
        na.c_array([None if v is None else v >> 64 for v in values], UINT64),
        na.c_array([None if v is None else v & mask for v in values], UINT64),
    )


def _key_columns(fields: SpanFields) -> list[Any]:
    """trace_hi, trace_lo, span_key and parent_key (``keys.KEY_COLUMNS``)."""
    return [*_trace_keys(fields.trace_ids), _span_keys(fields.span_ids), _span_keys(fields.parents)]


def _sparse_json(values: list[Any], encode: Any) -> Any:
    """A JSON column that is mostly NULL (events, links): only non-empty entries are encoded
    (a hand-off document's are JSON text already)."""
    if not any(values):
        return nulls(STRING, len(values))
    return na.c_array([(v if type(v) is str else encode(v)) if v else None for v in values], STRING)


def batch_resource(batch: Any) -> bytes | None:
    """The resource a batch (nanoarrow or pyarrow) carries once for all its rows (None: it is
    on each row)."""
    metadata = batch.schema.metadata
    return None if metadata is None else dict(metadata).get(RESOURCE_KEY)


def _derived(filled: dict[str, list[Any]], n: int) -> list[Any]:
    return [
        nulls(data_type, n)
        if column not in filled
        else string_lists(filled[column], strings)
        if data_type is STRING_LIST
        else strings(filled[column])
        for column, data_type in _DERIVED
    ]


def fields_to_batch(fields: SpanFields, prices: PriceTable | None = None) -> Any:
    """The batch (a nanoarrow struct array, in :data:`BATCH_FIELDS` order) of spans read into
    fields, normalised and priced with ``prices`` (None: the installed table)."""
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
        else nulls(_column_type(column), n)
        for column, key in _PROMOTED
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
        na.c_array(fields.status_codes, STRING),
        strings(fields.status_messages),
        na.c_array(starts, INT64),
        na.c_array(ends, INT64),
        services,
        *promoted,
        *_derived(filled, n),
        na.c_array(_attributes_json(attributes), STRING),
        _sparse_json(fields.events, events_json),
        _sparse_json(fields.links, links_json),
        resources,
        *_key_columns(fields),
    ]
    return struct(batch_schema(metadata), n, columns)
