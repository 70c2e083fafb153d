"""``llmtrace reprice [--since WHEN] [--prices FILE]``: stored calls priced with a new table."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UserError
from ..pricing import PriceTable, load_user_prices
from ..store.connection import connect_write
from ..store.reprice import reprice
from ._common import DbOption
from ._store import writable_store
from .stats import parse_since

__all__ = ["reprice_command"]


def reprice_command(
    since: Annotated[
        str | None,
        typer.Option(
            help="Only calls started since: 30m, 1h, 7d, 2w, or a timestamp.", metavar="WHEN"
        ),
    ] = None,
    prices: Annotated[
        Path | None,
        typer.Option(
            help="Your prices (JSON or YAML: model -> USD per million tokens), over genai-prices.",
            metavar="FILE",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Recompute the cost of stored model calls with the installed price table."""
    moment = parse_since(since) if since else None
    try:
        table = PriceTable(load_user_prices(prices))
    except ValueError as exc:
        raise UserError(f"--prices: {exc}") from None
    conn = connect_write(writable_store(db))
    try:
        result = reprice(conn, table, moment)
    finally:
        conn.close()
    versions = ", ".join(result.table_versions) or "no table"
    typer.echo(
        f"repriced {result.priced} calls with {versions}: {result.changed} changed, "
        f"{result.unpriced} with no known price"
    )
