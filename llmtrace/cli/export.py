"""``llmtrace export --parquet DIR``: the spans as Parquet partitioned by day."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import duckdb
import typer

from ..store.connection import StoreMissingError
from ..store.query import open_store_for_read
from ._common import DbOption, UserError, resolve_db


def export(
    parquet: Annotated[Path, typer.Option("--parquet", help="Folder to write Parquet into.")],
    db: DbOption = None,
) -> None:
    """Write every span to Parquet under DIR/date=YYYY-MM-DD/, readable by any engine."""
    path = resolve_db(db)
    try:
        conn = open_store_for_read(path)
    except StoreMissingError:
        raise UserError(f"no llmtrace store at {path} (set --db or LLMTRACE_DB)") from None
    try:
        parquet.mkdir(parents=True, exist_ok=True)
        count = conn.execute("SELECT count(*) FROM spans").fetchall()[0][0]
        conn.execute(
            f"""COPY (SELECT * REPLACE (attributes::JSON AS attributes),
                             strftime(start_time AT TIME ZONE 'UTC', '%Y-%m-%d') AS date
                      FROM spans)
                TO '{str(parquet).replace("'", "''")}'
                (FORMAT parquet, PARTITION_BY (date), OVERWRITE_OR_IGNORE)"""
        )
    except duckdb.Error as exc:
        raise UserError(str(exc).splitlines()[0]) from None
    finally:
        conn.close()
    typer.echo(f"wrote {count} spans to {parquet}")
