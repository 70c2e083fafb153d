"""Finished SDK spans straight to the store's columnar batch, in one step (``llmtrace serve``,
``convert`` and tests use it; the exporter hands documents over instead, see ``reading``).

Reading the spans is ``reading``'s; building the batch, with normalisation and prices, is the
store's (``store.span_batch``), which the merge side runs on hand-off documents too. The store
builds it with nanoarrow; here it becomes a pyarrow table (without a copy, through the Arrow C
data interface), which ``llmtrace serve`` slices, gathers and spools.
"""

from __future__ import annotations

from collections.abc import Sequence

import pyarrow as pa
from opentelemetry.sdk.trace import ReadableSpan

from ..._tracing.runtime import runtime
from ...store import span_batch
from ...store.batch_sql import RESOURCE_KEY, SERVICE_KEY
from ...store.handoff import SpanFields
from ...store.span_batch import batch_resource, batch_schema
from ...store.values import bytes_text, clean_text
from .reading import read_fields

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
    "table",
]


BATCH_SCHEMA = pa.schema(batch_schema())


def table(batch: object) -> pa.Table:
    """A batch of ``store.span_batch`` (nanoarrow) as a pyarrow table."""
    return pa.Table.from_batches([pa.record_batch(batch)])


def spans_to_batch(spans: Sequence[ReadableSpan]) -> pa.Table:
    """A batch in :data:`BATCH_SCHEMA` order (see ``batch_sql`` for how it is inserted)."""
    return fields_to_batch(read_fields(spans))


def fields_to_batch(fields: SpanFields) -> pa.Table:
    """The batch of spans already read into fields (``llmtrace serve`` reads OTLP into them),
    priced with the table ``configure()`` set."""
    return table(span_batch.fields_to_batch(fields, runtime.prices))  # prices load when used
