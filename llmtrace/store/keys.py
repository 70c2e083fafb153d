"""Integer keys of the hex trace and span ids (migration 13), so that joins and groupings on them
hash and compare integers instead of 32- and 16-character strings.

A trace id of 32 lowercase hex digits is kept as two ``UBIGINT`` halves, ``trace_hi`` and
``trace_lo``; a span id (and a parent span id) of 16 as ``span_key`` (``parent_key``). Any other
id (upper case, another length, not hex) has NULL keys: the mapping is one to one on the ids it
covers, and a reader never takes a NULL key for a value.

The keys are filled where spans are inserted (``batch_sql``, in the ``SELECT`` list) and, for
spans stored before, by the migration. A row written some other way (plain SQL) may lack them,
so a reader uses them only when it can tell they hold: :data:`KEYED_STORE_SQL` for the trace
keys (every row has them, or the reader joins on ``trace_id``); ``model_calls`` joins on
``span_key`` where both sides have one and on the text ids for the rest (a join whose one side
is empty costs nothing).
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "KEYED_STORE_SQL",
    "KEY_COLUMNS",
    "TRACE_KEYS_MIGRATION_SQL",
    "key_values_sql",
    "span_key_sql",
    "trace_half_sql",
]

# The key columns and their SQL type, in the order the insert lists them.
KEY_COLUMNS: Final = ("trace_hi", "trace_lo", "span_key", "parent_key")


def span_key_sql(column: str) -> str:
    """SQL of the ``UBIGINT`` of a 16-lowercase-hex-digit id ``column``, NULL for any other."""
    return (
        f"CASE WHEN length({column}) = 16 AND regexp_full_match({column}, '[0-9a-f]+') "
        f"THEN ('0x' || {column})::UBIGINT END"
    )


def trace_half_sql(column: str, half: int) -> str:
    """SQL of the high (``half`` 0) or low (1) ``UBIGINT`` of a 32-lowercase-hex-digit id
    ``column``, NULL for any other."""
    start = 1 + 16 * half
    return (
        f"CASE WHEN length({column}) = 32 AND regexp_full_match({column}, '[0-9a-f]+') "
        f"THEN ('0x' || {column}[{start}:{start + 15}])::UBIGINT END"
    )


def key_values_sql(
    trace_id: str = "trace_id", span_id: str = "span_id", parent: str = "parent_span_id"
) -> str:
    """The ``SELECT`` list of :data:`KEY_COLUMNS` computed from the three id columns (no
    braces in it: it goes into ``str.format`` templates)."""
    return ", ".join(
        (
            trace_half_sql(trace_id, 0),
            trace_half_sql(trace_id, 1),
            span_key_sql(span_id),
            span_key_sql(parent),
        )
    )


# Added empty, then each rewritten from one scan of the ids (ALTER ... TYPE ... USING).
TRACE_KEYS_MIGRATION_SQL: Final = f"""
ALTER TABLE spans ADD COLUMN trace_hi UBIGINT;
ALTER TABLE spans ADD COLUMN trace_lo UBIGINT;
ALTER TABLE spans ADD COLUMN span_key UBIGINT;
ALTER TABLE spans ADD COLUMN parent_key UBIGINT;
ALTER TABLE spans ALTER trace_hi TYPE UBIGINT USING {trace_half_sql("trace_id", 0)};
ALTER TABLE spans ALTER trace_lo TYPE UBIGINT USING {trace_half_sql("trace_id", 1)};
ALTER TABLE spans ALTER span_key TYPE UBIGINT USING {span_key_sql("span_id")};
ALTER TABLE spans ALTER parent_key TYPE UBIGINT USING {span_key_sql("parent_span_id")};
"""

# One row: TRUE when every span has its trace keys (a reader may then join on them).
KEYED_STORE_SQL: Final = "SELECT count(*) = count(trace_lo) FROM spans"
