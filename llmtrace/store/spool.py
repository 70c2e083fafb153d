"""Batches a writer could not insert in time, kept on disk until a later writer merges them.

A spool file is an Arrow IPC file in ``<db>.spool/``, written under a temporary name and renamed
into place, so a reader of the folder never sees half a file. Merging inserts a file's rows and
records its name in ``spool_merged`` in one transaction, then deletes it: a crash between the
two leaves a file whose name is already recorded, which the next merge deletes without
inserting again. Each batch lands exactly once.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from .rows import INSERT_BATCH_SQL

__all__ = ["merge_spool", "spool_dir", "spool_files", "write_spool"]

SUFFIX = ".arrow"


def spool_dir(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".spool")


def write_spool(db_path: Path, batch: pa.Table) -> Path:
    """Write ``batch`` durably beside the store; returns the file's path."""
    folder = spool_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{os.getpid()}-{uuid.uuid4().hex}{SUFFIX}"
    temporary = final.with_suffix(".tmp")
    with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_file(sink, batch.schema) as writer:
        writer.write_table(batch)
    with open(temporary, "rb+") as handle:
        os.fsync(handle.fileno())
    os.replace(temporary, final)
    return final


def spool_files(db_path: Path) -> list[Path]:
    folder = spool_dir(db_path)
    if not folder.is_dir():
        return []
    return sorted(folder.glob("*" + SUFFIX))


def merge_spool(conn: Any, db_path: Path) -> int:
    """Insert every spooled batch into ``spans`` exactly once; returns the rows added."""
    added = 0
    for path in spool_files(db_path):
        name = path.name
        already = conn.execute("SELECT 1 FROM spool_merged WHERE file = ?", [name]).fetchall()
        if not already:
            with pa.memory_map(str(path), "r") as source:
                spooled = pa.ipc.open_file(source).read_all()
            conn.execute("BEGIN TRANSACTION")
            try:
                conn.register("spooled_batch", spooled)
                conn.execute(INSERT_BATCH_SQL.format(source="spooled_batch"))
                conn.unregister("spooled_batch")
                conn.execute("INSERT INTO spool_merged (file) VALUES (?)", [name])
                conn.execute("COMMIT")
            except (duckdb.ConstraintException, duckdb.TransactionException):
                # Another connection of this process merged the same file at the same moment;
                # its commit is the one that counts, and the next merge deletes the file.
                conn.execute("ROLLBACK")
                continue
            except Exception:
                conn.execute("ROLLBACK")
                raise
            added += spooled.num_rows
        path.unlink(missing_ok=True)
    return added
