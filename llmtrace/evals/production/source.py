"""Where production gates, drift and scores read spans: a DuckDB store, or a folder of Parquet
written by ``llmtrace export --parquet`` (a team that outgrew one file keeps its gates).

For a folder, an in-memory DuckDB gets a ``spans`` view over the Parquet files (attributes
back to VARIANT, as in the store), the store's own ``model_calls`` view SQL on top of it, and an
empty ``eval_runs``, so every query of this package runs unchanged. Nothing is written back:
results of a gate over Parquet are returned, not stored. What DuckDB spills goes to a folder of
its own in the system's temporary folder, which DuckDB removes when the connection closes: an
in-memory DuckDB would spill into ``.tmp`` in the user's working directory.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import duckdb

from ...errors import UserError
from ...semconv import PROMOTED_COLUMNS
from ...store.calls import FASTER_CALL_VIEWS_SQL
from ...store.query import open_store_for_read
from ...store.schema import attribute_text_sql

__all__ = ["is_parquet_source", "open_source"]


def is_parquet_source(path: Path) -> bool:
    """A folder (of exported Parquet) rather than a store file."""
    return path.is_dir()


def _parquet_connection(folder: Path) -> duckdb.DuckDBPyConnection:
    files = sorted(folder.glob("**/*.parquet"))
    if not files:
        raise UserError(
            f"--db {folder}: a folder with no Parquet files (llmtrace export --parquet)"
        )
    pattern = str(folder / "**" / "*.parquet").replace("'", "''")
    conn = duckdb.connect()
    try:
        conn.execute("SET temp_directory = ?", [str(_spill_folder())])
        partitioned = any(part.startswith("date=") for f in files for part in f.parts)
        columns = "* EXCLUDE (date)" if partitioned else "*"
        source = f"read_parquet('{pattern}', hive_partitioning = {str(partitioned).lower()})"
        conn.execute(
            f"CREATE VIEW spans AS SELECT {columns} REPLACE (attributes::VARIANT AS attributes)"
            f"{_missing_columns(conn, source)} FROM {source}"
        )
        conn.execute(FASTER_CALL_VIEWS_SQL)
        conn.execute("CREATE TABLE eval_runs (run_id VARCHAR)")
    except duckdb.Error as exc:
        conn.close()
        first = str(exc).strip().splitlines()[0]
        raise UserError(f"--db {folder}: not llmtrace's Parquet export: {first}") from None
    return conn


def _spill_folder() -> Path:
    """A folder, not made yet, for one in-memory connection's spills: DuckDB makes it at the
    first spill and removes it at close, as it made it."""
    name = f"llmtrace-{os.getpid()}-{uuid.uuid4().hex[:12]}.tmp"
    return Path(tempfile.gettempdir()) / name


def _missing_columns(conn: duckdb.DuckDBPyConnection, source: str) -> str:
    """The promoted text columns an export written before them lacks, read from the
    attributes as a migration would have filled them (``, <sql> AS column`` each)."""
    have = {str(row[0]) for row in conn.execute(f"DESCRIBE SELECT * FROM {source}").fetchall()}
    return "".join(
        f", {attribute_text_sql(attribute, '(attributes::VARIANT)')} AS {column}"
        for column, (attribute, sql_type) in PROMOTED_COLUMNS.items()
        if column not in have and sql_type == "VARCHAR"
    )


def open_source(path: Path) -> duckdb.DuckDBPyConnection:
    """A read connection to the store file, or to the Parquet export in a folder."""
    if is_parquet_source(path):
        return _parquet_connection(path)
    return open_store_for_read(path, sandboxed=True)
