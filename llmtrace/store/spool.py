"""Span batches kept on disk beside the store until they are merged into it, exactly once.

Two kinds of file live in ``<db>.spool/``, written under a temporary name and renamed into
place, so that a reader of the folder never sees half a file. Either holds hand-off documents
(JSON, ``handoff``: what a traced process writes) or an Arrow IPC batch (``llmtrace serve``,
and every file of earlier versions); the first bytes tell which:

- a *hand-off* file (``<pid>-<uuid>.handoff``) is how a traced process passes a batch to its
  merger process (``merger``). Only that merger merges it while the process lives; once the
  process is gone (or the file is ten minutes old), anyone does. Not fsynced: it guards against
  the process dying, which is what happens to traced applications, not the machine.
- a *spool* file (``<pid>-<uuid>.arrow``, fsynced) holds a batch that nobody could insert in
  time; whoever opens the store next merges it. A hand-off file that its merger gives up on is
  renamed into a spool file.

Merging inserts a file's rows and records its key in ``spool_merged`` in one transaction, then
deletes the file. A crash between the two leaves a file whose key is already recorded, which the
next merge deletes without inserting again. A hand-off file and the spool file it may become
share one key, so each batch lands exactly once, whichever way it took.
"""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # DuckDB and pyarrow load to merge (or write an Arrow batch), not to list
    import pyarrow as pa

    from ..pricing import PriceTable

from .._internal import logger
from .handoff import is_handoff_json

__all__ = [
    "ROW_GROUP_ROWS",
    "ledger_key",
    "merge_file",
    "merge_files",
    "merge_spool",
    "release_handoffs",
    "spans_in",
    "spool_dir",
    "spool_files",
    "write_handoff",
    "write_spool",
]

SUFFIX = ".arrow"
HANDOFF_SUFFIX = ".handoff"
# A hand-off file this old is merged by anyone: its merger would have merged it long ago.
_STALE_HANDOFF_S = 600.0
# The row group size the store is given (``writer``): a hand-off file holds at most this many
# spans from a traced process. A quarter of DuckDB's default (122,880) fills four times as
# often, so it is reached at a quarter of the load, while staying above the 30,000 rows below
# which DuckDB does not shred VARIANT columns. Measured here, inserting row groups of 30,720:
# 7.4 us and 46 bytes a span, as with 122,880; 24,576: 89 bytes a span.
ROW_GROUP_ROWS = 30_720
# Small files are merged together, in one transaction (one commit, one log write), up to this
# many bytes of files; a file of a full row group goes alone.
_TOGETHER_BYTES = 4 << 20


def _unstorable() -> tuple[type[Exception], ...]:
    """The duckdb module's errors that say the rows themselves cannot go in: retrying won't
    help."""
    import duckdb

    return (duckdb.ConstraintException, duckdb.ConversionException, duckdb.InvalidInputException)


def spool_dir(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".spool")


def _write(db_path: Path, batch: Any, suffix: str, durable: bool) -> Path:
    """Write ``batch`` (hand-off documents with ``data``, or an Arrow table) under ``suffix``."""
    folder = spool_dir(db_path)
    folder.mkdir(parents=True, exist_ok=True)
    final = folder / f"{os.getpid()}-{uuid.uuid4().hex}{suffix}"
    temporary = final.with_suffix(".tmp")
    try:
        data = getattr(batch, "data", None)
        if isinstance(data, bytes):
            with open(temporary, "wb") as handle:
                handle.write(data)
                if durable:
                    handle.flush()
                    os.fsync(handle.fileno())
        else:
            _write_arrow(temporary, batch, durable)
        os.replace(temporary, final)
    except BaseException:  # a full disk, say: leave no half-written file behind
        with contextlib.suppress(OSError):
            temporary.unlink()
        raise
    return final


def _write_arrow(temporary: Path, batch: pa.Table, durable: bool) -> None:
    import pyarrow as pa

    with pa.OSFile(str(temporary), "wb") as sink, pa.ipc.new_file(sink, batch.schema) as out:
        out.write_table(batch)
    if durable:
        with open(temporary, "rb+") as handle:
            os.fsync(handle.fileno())


def write_spool(db_path: Path, batch: Any) -> Path:
    """Write ``batch`` durably beside the store for anyone to merge; returns the file's path."""
    return _write(db_path, batch, SUFFIX, durable=True)


def write_handoff(db_path: Path, batch: Any) -> Path:
    """Write ``batch`` beside the store for this process's merger; returns the file's path."""
    return _write(db_path, batch, HANDOFF_SUFFIX, durable=False)


def ledger_key(path: Path) -> str:
    """The key a file's batch is recorded under once merged (one for both kinds of file)."""
    return path.name.removesuffix(HANDOFF_SUFFIX).removesuffix(SUFFIX) + SUFFIX


def _orphaned(path: Path) -> bool:
    """Whether a hand-off file's process is gone (or the file is stale)."""
    head = path.name.split("-", 1)[0]
    try:
        if time.time() - path.stat().st_mtime > _STALE_HANDOFF_S:
            return True
        os.kill(int(head), 0)
    except ProcessLookupError:
        return True
    except (OSError, ValueError):  # no permission to signal it: alive; gone or unparsable: skip
        return False
    return False


def spool_files(db_path: Path, *, include_live: bool = False) -> list[Path]:
    """The files anyone may merge now: spool files, and hand-off files whose process is gone
    (with ``include_live``, every hand-off file: a reader that wants to see every finished
    span merges them itself; the ledger keeps that exactly once)."""
    folder = spool_dir(db_path)
    if not folder.is_dir():
        return []
    files = list(folder.glob("*" + SUFFIX))
    files += [p for p in folder.glob("*" + HANDOFF_SUFFIX) if include_live or _orphaned(p)]
    return sorted(files)


def spans_in(path: Path) -> int:
    """How many spans a spool or hand-off file holds, whichever its format."""
    with open(path, "rb") as handle:
        data = handle.read()
    if is_handoff_json(data[:64]):
        import orjson

        return sum(int(orjson.loads(line)["n"]) for line in data.split(b"\n") if line.strip())
    import pyarrow as pa

    return int(pa.ipc.open_file(pa.py_buffer(data)).read_all().num_rows)


def release_handoffs(paths: list[Path]) -> None:
    """Turn hand-off files into spool files, for anyone to merge (their merger gave up)."""
    for path in paths:
        with contextlib.suppress(FileNotFoundError):
            os.replace(path, path.with_name(ledger_key(path)))


def _quarantine(path: Path, exc: Exception) -> None:
    """Set an unmergeable file aside, kept for inspection, and say so."""
    kept = path.with_name(path.name + ".unmergeable")
    os.replace(path, kept)
    logger.warning("llmtrace: spooled spans that cannot be stored were moved to %s: %s", kept, exc)


def _read(path: Path) -> Any:
    """What a file holds: hand-off documents (the file's path, read a document at a time),
    an Arrow table, or None (nothing to insert)."""
    try:
        with open(path, "rb") as handle:
            if is_handoff_json(handle.read(64)):
                return path
            handle.seek(0)
            data = handle.read()
        import pyarrow as pa  # an Arrow file (llmtrace serve's, or an earlier version's)

        return pa.ipc.open_file(pa.py_buffer(data)).read_all()
    except FileNotFoundError:  # merged and deleted meanwhile by another connection
        return None
    except ValueError as exc:  # renamed into place whole: outside damage (ArrowInvalid)
        _quarantine(path, exc)
        return None


def _insert(conn: Any, content: Any, prices: PriceTable | None, prepared: Any) -> int:
    """Insert what a file holds; returns the rows."""
    if isinstance(content, Path):
        from .json_batch import insert_documents

        return insert_documents(conn, content, prices, prepared)
    from .batch_sql import insert_sql

    conn.register("spooled_batch", content)
    conn.execute(insert_sql("spooled_batch", content.schema))
    conn.unregister("spooled_batch")
    return int(content.num_rows)


def _insert_all(conn: Any, contents: list[Any], prices: PriceTable | None) -> int:
    """Insert what several files hold: the hand-off documents' chunks by as few statements as
    their columns allow (``together``), an Arrow table on its own; returns the rows."""
    from .json_batch import chunks
    from .together import insert_chunks

    documents = [content for content in contents if isinstance(content, Path)]
    tables = [content for content in contents if not isinstance(content, Path)]
    rows = sum(_insert(conn, table, prices, None) for table in tables)
    return rows + insert_chunks(
        conn, (chunk for path in documents for chunk in chunks(path, prices))
    )


def _rollback(conn: Any) -> None:
    import duckdb

    with contextlib.suppress(duckdb.TransactionException):  # a failed COMMIT ended it already
        conn.execute("ROLLBACK")


def _recorded(conn: Any, key: str) -> bool:
    import duckdb

    try:
        return bool(conn.execute("SELECT 1 FROM spool_merged WHERE file = ?", [key]).fetchall())
    except duckdb.Error:
        return False


def merge_file(
    conn: Any, path: Path, prices: PriceTable | None = None, prepared: Any = None
) -> int:
    """Insert one spool or hand-off file into ``spans`` exactly once, then delete it; returns
    the rows added (0 when it was merged before or cannot be stored). Spans are priced with
    the price overrides their file carries, else ``prices`` (None: the installed table).
    ``prepared``: the file's documents made ready already (``json_batch.prepare``)."""
    import duckdb

    key = ledger_key(path)
    if conn.execute("SELECT 1 FROM spool_merged WHERE file = ?", [key]).fetchall():
        path.unlink(missing_ok=True)
        return 0
    content = _read(path)
    if content is None:
        return 0
    bad: tuple[type[Exception], ...] = (*_unstorable(), ValueError, KeyError)
    conn.execute("BEGIN TRANSACTION")
    try:
        rows = _insert(conn, content, prices, prepared)
    except bad as exc:  # the rows, or the file, cannot be stored: retrying won't help
        _rollback(conn)
        _quarantine(path, exc)
        return 0
    except Exception:
        _rollback(conn)
        raise
    try:
        conn.execute("INSERT INTO spool_merged (file) VALUES (?)", [key])
        conn.execute("COMMIT")
    except (duckdb.ConstraintException, duckdb.TransactionException):
        _rollback(conn)
        if _recorded(conn, key):
            # Another connection of this process merged the same file at the same moment;
            # its commit is the one that counts, and the next merge deletes the file.
            return 0
        raise  # the commit itself failed (no space, say): the file stays for a later merge
    except Exception:
        _rollback(conn)
        raise
    path.unlink(missing_ok=True)
    return rows


def merge_files(conn: Any, paths: list[Path], prices: PriceTable | None = None) -> int:
    """Insert several spool or hand-off files in ONE transaction, each exactly once, then
    delete them; returns the rows added. One commit (one log write) instead of one a file:
    what a shared merger does with the files of several processes that end at once. Nothing
    is stored when any file fails, or was stored before (rolled back, and raised): the caller
    then merges them one at a time (:func:`merge_file`), so a bad file sets only itself aside
    and one stored before is only deleted."""
    keys = {ledger_key(path): path for path in paths}  # (a hand-off file and its spool name)
    todo = [(key, path, _read(path)) for key, path in keys.items()]
    todo = [(key, path, content) for key, path, content in todo if content is not None]
    if not todo:
        return 0
    conn.execute("BEGIN TRANSACTION")
    try:
        # First: a key recorded already (a crash between a commit and its deletes) fails
        # here, before any row is inserted.
        conn.execute(
            "INSERT INTO spool_merged (file) SELECT unnest(?)", [[key for key, _, _ in todo]]
        )
        rows = _insert_all(conn, [content for _, _, content in todo], prices)
        conn.execute("COMMIT")
    except BaseException:
        with contextlib.suppress(Exception):
            _rollback(conn)
        raise
    for _, path, _ in todo:
        path.unlink(missing_ok=True)
    return rows


def merge_spool(
    conn: Any, db_path: Path, *, include_live: bool = False, prices: PriceTable | None = None
) -> int:
    """Merge every file anyone may merge now (see :func:`spool_files`); returns rows added.
    Temporary files nobody finished (a writer or merger killed while writing one) go once they
    are older than a stale hand-off file: nobody writes one for that long."""
    added = 0
    for files in _together(spool_files(db_path, include_live=include_live)):
        if len(files) > 1:
            try:
                added += merge_files(conn, files, prices)
                continue
            except Exception:  # rolled back: one at a time, so a bad file fails only itself
                logger.debug("spool files of %s merged one at a time", db_path)
        added += sum(merge_file(conn, path, prices) for path in files)
    _remove_stale_temporaries(spool_dir(db_path))
    return added


def _together(paths: list[Path]) -> Iterator[list[Path]]:
    """``paths`` in runs merged in one transaction each: small files together (those of many
    short processes), up to :data:`_TOGETHER_BYTES` a run; a big file goes alone."""
    run: list[Path] = []
    size = 0
    for path in paths:
        try:
            file_size = path.stat().st_size
        except OSError:
            continue  # merged and deleted meanwhile
        if run and size + file_size > _TOGETHER_BYTES:
            yield run
            run, size = [], 0
        run.append(path)
        size += file_size
    if run:
        yield run


def _remove_stale_temporaries(folder: Path) -> None:
    if not folder.is_dir():
        return
    now = time.time()
    for path in folder.glob("*.tmp"):
        with contextlib.suppress(OSError):
            if now - path.stat().st_mtime > _STALE_HANDOFF_S:
                path.unlink()
