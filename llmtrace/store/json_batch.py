"""Hand-off documents into ``spans`` without pyarrow: DuckDB reads the rows as JSON itself.

Whoever merges a traced process's hand-off file (``handoff``) normalises and prices its spans
here, in plain Python over lists, and writes each document's finished columns as one JSON line
(a list a column, typed as the store wants them: a value of the wrong type is NULL, odd text is
readable text). DuckDB then reads the lines with ``read_json`` (its JSON reader is built in)
and unnests the lists into rows, in one ``INSERT`` a resource. So the merger and the exiting
process load neither pyarrow, numpy nor pandas to store spans (``span_batch`` still builds
Arrow batches for ``llmtrace serve`` and older Arrow files).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from .. import semconv as sc
from .batch_sql import STORED_COLUMNS, insert_sql_for
from .handoff import SpanFields, decode_line
from .normalize import normalize_batch
from .values import clean_text, dumps, text_or_none

if TYPE_CHECKING:
    from ..pricing import PriceTable

__all__ = ["Prepared", "document_columns", "insert_documents", "prepare", "prices_for"]

_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


_TEXT_TYPES = frozenset((str, type(None)))


def _text(values: list[Any]) -> list[Any]:
    if _TEXT_TYPES.issuperset(map(type, values)):
        return values
    return [text_or_none(v) for v in values]


def _bigint(values: list[Any]) -> list[Any]:
    return [v if type(v) is int and _INT64_MIN <= v <= _INT64_MAX else None for v in values]


def _double(values: list[Any]) -> list[Any]:
    return [float(v) if type(v) in (int, float) else None for v in values]


def _text_lists(values: list[Any]) -> list[Any]:
    return [None if v is None else [str(item) for item in v] for v in values]


_CLEAN: dict[str, Callable[[list[Any]], list[Any]]] = {
    "VARCHAR": _text,
    "BIGINT": _bigint,
    "DOUBLE": _double,
    "VARCHAR[]": _text_lists,
}
_PROMOTED = tuple(
    (column, attribute, _CLEAN[sql_type])
    for column, (attribute, sql_type) in sc.PROMOTED_COLUMNS.items()
)


def _hex(ids: Sequence[Any], width: int) -> list[Any]:
    """Ids as fixed-width lowercase hex (None stays None), encoded in one call a batch."""
    digits = 2 * width
    if ids and type(ids[0]) is str:  # a hand-off document's trace ids are hex already
        return list(ids)
    try:
        text = b"".join([(i or 0).to_bytes(width, "big") for i in ids]).hex()
    except (OverflowError, AttributeError, TypeError):  # not an id OpenTelemetry would make
        return [None if i is None else f"{int(i) % (1 << 8 * width):0{digits}x}" for i in ids]
    hexes = [text[k : k + digits] for k in range(0, digits * len(ids), digits)]
    if None in ids:
        return [None if i is None else h for i, h in zip(ids, hexes, strict=True)]
    return hexes


def _resource(resource: Any) -> tuple[str, str | None]:
    attributes = dict(resource) if isinstance(resource, Mapping) else {}
    service = attributes.get(sc.SERVICE_NAME)
    return dumps(attributes), None if service is None else clean_text(str(service))


def document_columns(
    fields: SpanFields, prices: PriceTable | None
) -> tuple[dict[str, list[Any]], tuple[str, str | None] | None]:
    """The store's columns of one document's spans, normalised and priced, and the resource
    (JSON) and service name they all share (None: each row has its own, in the columns)."""
    n = len(fields.names)
    attributes = fields.attributes
    keys: set[str] = set().union(*attributes) if attributes else set()
    kinds: list[Any] = fields.kinds
    if sc.SPAN_KIND in keys:  # the llmtrace kind wins over the OpenTelemetry span kind
        kinds = [a.get(sc.SPAN_KIND) or k for a, k in zip(attributes, kinds, strict=True)]
    normalized = normalize_batch(attributes, kinds, keys, prices)
    filled = normalized.columns
    starts = _bigint(fields.starts)
    ends = _bigint(fields.ends)
    if None in ends:
        ends = [s if e is None else e for e, s in zip(ends, starts, strict=True)]
    columns: dict[str, list[Any]] = {
        "trace_id": _hex(fields.trace_ids, 16),
        "span_id": _hex(fields.span_ids, 8),
        "parent_span_id": _hex(fields.parents, 8),
        "name": _text(fields.names),
        "kind": _text(normalized.kinds),
        "status": _text(fields.status_codes),
        "status_message": _text(fields.status_messages),
        "start_ns": starts,
        "end_ns": ends,
    }
    nulls: list[Any] = [None] * n
    for column, attribute, clean in _PROMOTED:
        if column in filled:
            columns[column] = clean(filled[column])
        else:
            columns[column] = (
                clean([a.get(attribute) for a in attributes]) if attribute in keys else nulls
            )
    columns["price_table_version"] = _text(filled.get("price_table_version", nulls))
    columns["retrieval_document_ids"] = _text_lists(filled.get("retrieval_document_ids", nulls))
    columns["attributes"] = list(attributes)
    columns["events"] = _text(fields.events)
    columns["links"] = _text(fields.links)
    resources = fields.resources
    if n and resources.count(resources[0]) == n:
        return columns, _resource(resources[0])
    shared: dict[int, tuple[str, str | None]] = {}
    for resource in resources:
        if id(resource) not in shared:
            shared[id(resource)] = _resource(resource)
    columns["resource"] = [shared[id(r)][0] for r in resources]
    columns["service_name"] = [shared[id(r)][1] for r in resources]
    return columns, None


# Price tables by the overrides a document carries: one per process and set of overrides, so
# each (provider, model) is resolved once.
_tables: dict[bytes, PriceTable] = {}


def prices_for(overrides: dict[str, Any] | None, default: PriceTable | None) -> PriceTable:
    """The table that prices a document: its own overrides, else ``default`` (None: the
    installed table)."""
    from ..pricing import PriceTable

    if not overrides and default is not None:
        return default
    key = orjson.dumps(overrides or {}, option=orjson.OPT_SORT_KEYS)
    table = _tables.get(key)
    if table is None:
        table = _tables[key] = PriceTable.from_overrides_json(overrides)
    return table


def _line(columns: dict[str, list[Any]]) -> bytes:
    try:
        return orjson.dumps(columns)
    except TypeError:  # an attribute value orjson cannot encode (not from a hand-off file)
        return dumps(columns).encode()


class _Group:
    """Lines of documents that share a resource, written to a scratch file as they come."""

    def __init__(self, scratch: Path, shared: tuple[str, str | None] | None) -> None:
        self.scratch = scratch
        self.shared = shared
        self.longest = 0
        self.out = open(scratch, "wb")  # noqa: SIM115 (closed by close(), always)

    def add(self, line: bytes) -> None:
        if self.longest:
            self.out.write(b"\n")
        self.out.write(line)
        self.longest = max(self.longest, len(line))

    def insert(self, conn: Any) -> None:
        names = [name for name, _ in STORED_COLUMNS]
        if self.shared is not None:
            names = [name for name in names if name not in ("resource", "service_name")]
        types = dict(STORED_COLUMNS)
        declared = ", ".join(f"{name}: '{types[name]}[]'" for name in names)
        unnested = ", ".join(f"unnest({name}) AS {name}" for name in names)
        path = str(self.scratch).replace("'", "''")
        source = (
            f"(SELECT {unnested} FROM read_json('{path}', format = 'newline_delimited', "
            f"columns = {{{declared}}}, maximum_object_size = {self.longest + 1024}))"
        )
        resource, service = self.shared if self.shared is not None else (None, None)
        conn.execute(
            insert_sql_for(
                source,
                names,
                None if resource is None else resource.encode(),
                None if service is None else service.encode(),
            )
        )


class Prepared:
    """A hand-off file's documents normalised, priced and written as the lines DuckDB reads
    (scratch files beside it, one a resource), ready to insert. The merger prepares the next
    file while DuckDB inserts the one before (DuckDB lets go of the GIL while it works)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.groups: list[_Group] = []
        self.rows = 0

    def insert(self, conn: Any) -> int:
        for group in self.groups:
            group.insert(conn)
        return self.rows

    def discard(self) -> None:
        """Remove the scratch files (whether or not the rows went in)."""
        for group in self.groups:
            group.out.close()
            with contextlib.suppress(OSError):
                os.unlink(group.scratch)
        self.groups = []


def prepare(path: Path, prices: PriceTable | None) -> Prepared:
    """The documents of the hand-off file ``path``, one at a time in memory, ready to insert
    (the caller discards it); raises ``ValueError`` or ``KeyError`` for a damaged file."""
    prepared = Prepared(path)
    try:
        with open(path, "rb") as lines:
            for fields, overrides in map(decode_line, filter(bytes.strip, lines)):
                columns, shared = document_columns(fields, prices_for(overrides, prices))
                prepared.rows += len(fields.names)
                groups = prepared.groups
                if not groups or shared is None or shared != groups[-1].shared:
                    scratch = path.with_name(f"{path.name}.rows-{len(groups)}.tmp")
                    groups.append(_Group(scratch, shared))
                groups[-1].add(_line(columns))
        for group in prepared.groups:
            group.out.close()
    except BaseException:
        prepared.discard()
        raise
    return prepared


def insert_documents(
    conn: Any, path: Path, prices: PriceTable | None, prepared: Prepared | None = None
) -> int:
    """Insert the spans of a hand-off file's documents (inside the caller's transaction);
    returns how many. ``prepared``: the file prepared already (its owner discards it)."""
    if prepared is not None and prepared.path == path:
        return prepared.insert(conn)
    own = prepare(path, prices)
    try:
        return own.insert(conn)
    finally:
        own.discard()
