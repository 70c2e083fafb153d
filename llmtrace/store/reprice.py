"""Re-price stored model calls with the installed price table (``llmtrace reprice``).

Token counts are always stored, so a newer table (or your own prices) can be applied to old
rows: every ``llm`` or ``judge`` span with a model and input tokens gets the cost the table
gives now, and ``price_table_version`` says which table that was. A model the table does not
know keeps the cost it had.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import nanoarrow as na

from ..pricing import PriceTable
from ..usage import Usage
from .columns import FLOAT64, STRING, Scannable, struct

__all__ = ["RepriceResult", "reprice"]

_CANDIDATES = """
SELECT trace_id, span_id, model, provider, input_tokens, output_tokens,
       cache_read_input_tokens, cache_creation_input_tokens, cost_usd
FROM spans
WHERE kind IN ('llm', 'judge') AND model IS NOT NULL AND input_tokens IS NOT NULL
"""

_UPDATE = """
UPDATE spans SET cost_usd = r.cost_usd, price_table_version = r.price_table_version
FROM repriced r WHERE spans.trace_id = r.trace_id AND spans.span_id = r.span_id
"""


@dataclass(frozen=True)
class RepriceResult:
    """What a re-pricing did: rows priced, rows whose cost changed, rows with no price."""

    priced: int
    changed: int
    unpriced: int
    table_versions: tuple[str, ...]


def _changed(old: Any, new: float) -> bool:
    return old is None or abs(float(old) - new) > 1e-12 * max(1.0, abs(new))


def _table(updates: dict[str, list[Any]]) -> Any:
    """The new costs as an Arrow stream DuckDB scans (nanoarrow: no pyarrow, and so no pandas
    or numpy, which DuckDB imports to scan a pyarrow table)."""
    types = {"trace_id": STRING, "span_id": STRING, "cost_usd": FLOAT64}
    types["price_table_version"] = STRING
    n = len(updates["span_id"])
    columns = [na.c_array(values, types[name]) for name, values in updates.items()]
    batch = struct(na.struct(types), n, columns)
    return Scannable([batch])


def reprice(conn: Any, prices: PriceTable, since: datetime | None = None) -> RepriceResult:
    """Recompute ``cost_usd`` of the model calls in the open store (started ``since``)."""
    sql, params = _CANDIDATES, []
    if since is not None:
        sql += " AND start_time >= ?"
        params.append(since)
    rows = conn.execute(sql, params).fetchall()
    updates: dict[str, list[Any]] = {
        "trace_id": [],
        "span_id": [],
        "cost_usd": [],
        "price_table_version": [],
    }
    changed = unpriced = 0
    versions: set[str] = set()
    for trace_id, span_id, model, provider, inp, out, cache_read, cache_write, old in rows:
        cost = prices.cost(Usage(inp, out, cache_read, cache_write), model, provider)
        if cost is None:
            unpriced += 1
            continue
        changed += _changed(old, cost.total_usd)
        versions.add(cost.table_version)
        for column, value in zip(
            updates, (trace_id, span_id, cost.total_usd, cost.table_version), strict=True
        ):
            updates[column].append(value)
    if updates["span_id"]:
        conn.register("repriced", _table(updates))
        try:
            conn.execute("BEGIN TRANSACTION")
            conn.execute(_UPDATE)
            conn.execute("COMMIT")
        finally:
            conn.unregister("repriced")
    return RepriceResult(len(updates["span_id"]), changed, unpriced, tuple(sorted(versions)))
