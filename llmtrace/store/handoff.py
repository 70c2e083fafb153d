"""A batch of span fields as the traced process hands it over: one JSON document a line.

The traced application does as little as it can: it reads the SDK spans' fields into lists
(``exporters.duckdb.reading``) and writes them as one columnar JSON document with orjson, in C
and without a container per span. No pyarrow, numpy, DuckDB or price table loads in the
application for that. Whoever merges the file (the merger process, a reader, the exiting
process itself) reads it back into :class:`SpanFields`, normalises and prices the spans and
turns them into rows (``span_batch``).

A document holds, for ``n`` spans: ``trace_ids`` (one hex string, 32 digits a span),
``span_ids`` and ``parents`` (integers, null for no parent), ``names``, ``kinds`` (the
OpenTelemetry span kind), ``status_codes``, ``status_messages``, ``starts``, ``ends``,
``attributes`` (objects), ``events`` and ``links`` (JSON text or null; absent when none has
any), ``resource`` (one object for all spans) or ``resources`` (one a span), and ``prices``:
the price overrides ``configure(prices=...)`` set in that process (absent when none), so that
whoever prices the spans prices them as that process would have.

This module knows no OpenTelemetry and imports neither pyarrow nor DuckDB.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson

from .values import dumps, text_or_none

__all__ = [
    "FORMAT",
    "SpanFields",
    "decode",
    "decode_line",
    "encode",
    "events_json",
    "is_handoff_json",
    "links_json",
]

# The first key of every document: tells a JSON hand-off from an Arrow IPC file (``ARROW1``).
FORMAT = "llmtrace.spans/1"
_PREFIX = b'{"format":"' + FORMAT.encode() + b'"'


class SpanFields:
    """The raw fields of a batch of spans, one list per field."""

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


_MASK_128 = (1 << 128) - 1
_MASK_64 = (1 << 64) - 1


def events_json(events: Sequence[Any]) -> str | None:
    """Events (the SDK's) as the JSON text the store keeps."""
    if not events:
        return None
    return dumps(
        [
            {"name": e.name, "time_ns": e.timestamp, "attributes": dict(e.attributes or {})}
            for e in events
        ]
    )


def links_json(links: Sequence[Any]) -> str | None:
    """Links (the SDK's) as the JSON text the store keeps."""
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


def _trace_hex(ids: Sequence[int]) -> str:
    try:
        return b"".join([i.to_bytes(16, "big") for i in ids]).hex()
    except (OverflowError, AttributeError, TypeError):  # not an id OpenTelemetry would make
        return "".join(f"{int(i) & _MASK_128:032x}" for i in ids)


def _span_ids(ids: Sequence[int | None]) -> list[int | None]:
    if all(type(i) is int and 0 <= i <= _MASK_64 for i in ids if i is not None):
        return list(ids)
    return [None if i is None else int(i) & _MASK_64 for i in ids]


def _sparse(values: list[Any], to_json: Any) -> list[str | None]:
    return [(v if type(v) is str else to_json(v)) if v else None for v in values]


def _texts(values: list[Any]) -> list[Any]:
    """A text column as it can be stored: anything else becomes readable text."""
    if all(type(v) is str or v is None for v in values):
        return values
    return [text_or_none(v) for v in values]


def encode(
    fields: SpanFields,
    resources: Sequence[Mapping[str, Any]],
    prices: Mapping[str, Any] | None = None,
) -> bytes:
    """One document for ``fields``; ``resources`` holds one resource for all spans or one a
    span. Never fails on an odd value: what orjson cannot encode becomes text (``values``)."""
    doc: dict[str, Any] = {
        "format": FORMAT,
        "n": len(fields.names),
        "trace_ids": _trace_hex(fields.trace_ids),
        "span_ids": _span_ids(fields.span_ids),
        "parents": _span_ids(fields.parents),
        "names": fields.names,
        "kinds": fields.kinds,
        "status_codes": fields.status_codes,
        "status_messages": fields.status_messages,
        "starts": fields.starts,
        "ends": fields.ends,
        "attributes": fields.attributes,
    }
    if any(fields.events):
        doc["events"] = _sparse(fields.events, events_json)
    if any(fields.links):
        doc["links"] = _sparse(fields.links, links_json)
    if len(resources) == 1:
        doc["resource"] = resources[0]
    else:
        doc["resources"] = resources
    if prices:
        doc["prices"] = prices
    try:
        return orjson.dumps(doc)
    except TypeError:  # rare: a value orjson cannot encode somewhere in the batch
        pass
    for key in ("names", "kinds", "status_codes", "status_messages"):
        doc[key] = _texts(doc[key])
    for key in ("starts", "ends"):
        doc[key] = [v if type(v) is int else None for v in doc[key]]
    return dumps(doc).encode()


def is_handoff_json(head: bytes) -> bool:
    """Whether a file that starts with ``head`` holds JSON documents (else Arrow IPC)."""
    return head.startswith(_PREFIX[: len(head)]) if head else False


def _fields(doc: Mapping[str, Any]) -> SpanFields:
    n = int(doc["n"])
    fields = SpanFields()
    text = doc["trace_ids"]
    # Kept as the hex the store writes (``span_batch`` takes them as they are).
    fields.trace_ids = [text[i : i + 32] for i in range(0, 32 * n, 32)]  # type: ignore[misc]
    fields.span_ids = doc["span_ids"]
    fields.parents = doc["parents"]
    fields.names = doc["names"]
    fields.kinds = doc["kinds"]
    fields.status_codes = doc["status_codes"]
    fields.status_messages = doc["status_messages"]
    fields.starts = doc["starts"]
    fields.ends = doc["ends"]
    fields.attributes = doc["attributes"]
    fields.events = doc.get("events") or [None] * n
    fields.links = doc.get("links") or [None] * n
    resource = doc.get("resource")
    fields.resources = [resource] * n if "resource" in doc else doc["resources"]
    lengths = {len(getattr(fields, name)) for name in SpanFields.__slots__}
    if lengths != {n} or len(text) != 32 * n:
        raise ValueError(f"a hand-off document's columns disagree on its {n} spans")
    return fields


def decode_line(line: bytes) -> tuple[SpanFields, dict[str, Any] | None]:
    """One document: its fields and price overrides."""
    doc = orjson.loads(line)
    return _fields(doc), doc.get("prices")


def decode(data: bytes) -> list[tuple[SpanFields, dict[str, Any] | None]]:
    """The documents of a hand-off file: each one's fields and price overrides."""
    return [decode_line(line) for line in data.split(b"\n") if line.strip()]
