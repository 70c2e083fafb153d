"""The statement that inserts a span batch (``exporters.duckdb.rows.BATCH_SCHEMA``) into ``spans``.

A batch whose spans share one resource carries it once, in its schema's metadata; the
statement then holds it as a constant, which DuckDB parses and stores once instead of once a
row. Batches spooled by earlier versions, with the resource on every row or without the columns
added since, insert the same way (a missing column is NULL).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .. import semconv as sc
from .keys import KEY_COLUMNS, key_values_sql
from .normalize import DERIVED_COLUMNS

__all__ = ["RESOURCE_KEY", "SERVICE_KEY", "STORED_COLUMNS", "insert_sql", "insert_sql_for"]

# A batch's one resource travels once, in the schema's metadata, instead of on every row.
RESOURCE_KEY = b"llmtrace.resource"
SERVICE_KEY = b"llmtrace.service_name"

_COLUMNS = (*sc.PROMOTED_COLUMNS, *(name for name, _ in DERIVED_COLUMNS))
# Every column of a batch and its SQL type (the JSON batches of ``json_batch`` declare them).
STORED_COLUMNS: tuple[tuple[str, str], ...] = (
    ("trace_id", "VARCHAR"),
    ("span_id", "VARCHAR"),
    ("parent_span_id", "VARCHAR"),
    ("name", "VARCHAR"),
    ("kind", "VARCHAR"),
    ("status", "VARCHAR"),
    ("status_message", "VARCHAR"),
    ("start_ns", "BIGINT"),
    ("end_ns", "BIGINT"),
    ("service_name", "VARCHAR"),
    *((column, sql_type) for column, (_, sql_type) in sc.PROMOTED_COLUMNS.items()),
    *DERIVED_COLUMNS,
    ("attributes", "JSON"),
    ("events", "VARCHAR"),
    ("links", "VARCHAR"),
    ("resource", "VARCHAR"),
)
_COLUMN_LIST = ", ".join(_COLUMNS)
_INSERT_SQL = f"""
INSERT INTO spans (trace_id, span_id, parent_span_id, name, kind, status, status_message,
                   start_time, end_time, duration_ms, service_name, {_COLUMN_LIST},
                   attributes, events, links, resource, {", ".join(KEY_COLUMNS)})
SELECT trace_id, span_id, parent_span_id, coalesce(name, ''), kind, status, status_message,
       make_timestamptz(start_ns // 1000), make_timestamptz(end_ns // 1000),
       (end_ns - start_ns) / 1e6, {{service}}, {{columns}},
       attributes::JSON::VARIANT, events::JSON, links::JSON, {{resource}}, {{keys}}
FROM {{source}}
"""
# A batch that carries its keys (span_batch computes them from the ids) inserts them as they
# are: the SQL that derives them from the hex ids cost DuckDB ~0.6 us a span.
_KEYS_FROM_IDS = key_values_sql()
_KEYS_CARRIED = ", ".join(KEY_COLUMNS)


def _literal(value: bytes) -> str:
    return "'" + value.decode().replace("'", "''") + "'"


def insert_sql(source: str, schema: Any) -> str:
    """The statement that inserts the batch named ``source``, whose schema is ``schema`` (a
    pyarrow schema, or a nanoarrow one: ``span_batch``'s)."""
    metadata = dict(schema.metadata or {})
    names = getattr(schema, "names", None)
    if names is None:  # nanoarrow's
        names = [child.name for child in schema.children]
    return insert_sql_for(source, names, metadata.get(RESOURCE_KEY), metadata.get(SERVICE_KEY))


def insert_sql_for(
    source: str, names: Iterable[str], resource: bytes | None, service: bytes | None
) -> str:
    """The statement that inserts rows from ``source`` (a table name or a subquery), which has
    the columns ``names``; ``resource`` (JSON) and ``service``, when given, hold for every row
    (else each row has its own). The id keys come from the source when it has them all, else
    from the ids."""
    present = set(names)
    return _INSERT_SQL.format(
        source=source,
        keys=_KEYS_CARRIED if present.issuperset(KEY_COLUMNS) else _KEYS_FROM_IDS,
        columns=", ".join(name if name in present else f"NULL AS {name}" for name in _COLUMNS),
        service="service_name" if resource is None else _literal(service) if service else "NULL",
        resource="resource::JSON" if resource is None else f"{_literal(resource)}::JSON",
    )
