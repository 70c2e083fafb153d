"""The batch processor's fast read of SDK spans (``reading._sdk_fields``, straight from the
spans' slots) gives the fields the public ``ReadableSpan`` properties give, whatever the batch
holds: roots only, roots mixed with children, events, links, kinds and statuses."""

from __future__ import annotations

from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Link, SpanKind, Status, StatusCode

from llmtrace.exporters.duckdb.reading import _public_fields, _sdk_fields, encode_spans
from llmtrace.store.handoff import SpanFields, decode


def _spans(*, children: bool, extras: bool) -> list[ReadableSpan]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "reading"}))
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("reading")
    for i in range(6):
        kind = SpanKind.CLIENT if extras and i % 3 == 1 else SpanKind.INTERNAL
        with tracer.start_as_current_span(f"root {i}", kind=kind, attributes={"i": i}) as root:
            if extras and i % 2:
                root.add_event("chunk", {"n": i})
                root.set_status(Status(StatusCode.ERROR, f"failed {i}"))
            if children:
                links = [Link(root.get_span_context(), {"why": "retry"})] if extras else []
                with tracer.start_as_current_span(f"child {i}", links=links) as child:
                    child.set_attribute("depth", 1)
    provider.shutdown()
    return list(exporter.get_finished_spans())


def _comparable(fields: SpanFields) -> dict[str, Any]:
    out = {name: list(getattr(fields, name)) for name in SpanFields.__slots__}
    out["attributes"] = [dict(a) for a in fields.attributes]
    out["events"] = [tuple(e) for e in fields.events]
    out["links"] = [tuple(link) for link in fields.links]
    out["trace_ids"] = [int(t) for t in fields.trace_ids]
    return out


def test_the_fast_read_equals_the_public_properties_for_every_shape_of_batch() -> None:
    for children in (False, True):
        for extras in (False, True):
            spans = _spans(children=children, extras=extras)
            fast, public = _sdk_fields(spans), _public_fields(spans)
            assert _comparable(fast) == _comparable(public), (children, extras)
            # A batch of roots has no parents; one with children names each child's parent.
            assert (None in fast.parents) and (not children or any(fast.parents))


def test_a_document_of_roots_and_children_decodes_to_the_spans_parents() -> None:
    spans = _spans(children=True, extras=True)
    data, rows, unreadable = encode_spans(spans)
    assert data is not None and (rows, unreadable) == (len(spans), 0)
    [(decoded, _prices)] = decode(data)
    expected = [None if s.parent is None else s.parent.span_id for s in spans]
    assert decoded.parents == expected
    assert decoded.kinds.count("client") == 2
    assert decoded.status_codes.count("ERROR") == 3
