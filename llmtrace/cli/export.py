"""``llmtrace export --parquet DIR``: the spans as Parquet partitioned by day."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import duckdb
import typer

from ..errors import UserError
from ..store.query import open_store_for_read
from ._common import DbOption, first_line
from ._store import readable_store


def export(
    parquet: Annotated[
        Path,
        typer.Option("--parquet", help="Folder to write Parquet into.", metavar="DIR"),
    ],
    db: DbOption = None,
) -> None:
    """Write every span to Parquet under DIR/date=YYYY-MM-DD/, readable by any engine."""
    path = readable_store(db)
    try:
        parquet.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(f"--parquet {parquet}: cannot create it: {exc.strerror or exc}") from None
    conn = open_store_for_read(path)  # a busy store: main() says so, exit 2
    try:
        count = conn.execute("SELECT count(*) FROM spans").fetchall()[0][0]
        conn.execute(
            f"""COPY (SELECT * REPLACE (attributes::JSON AS attributes),
                             strftime(start_time AT TIME ZONE 'UTC', '%Y-%m-%d') AS date
                      FROM spans)
                TO '{str(parquet).replace("'", "''")}'
                (FORMAT parquet, PARTITION_BY (date), OVERWRITE_OR_IGNORE)"""
        )
    except duckdb.Error as exc:
        raise UserError(f"export to {parquet}: {first_line(exc)}") from None
    finally:
        conn.close()
    typer.echo(f"wrote {count} spans to {parquet}")
