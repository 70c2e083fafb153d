"""Span batches into the store under a lease on the file, one transaction a batch.

Used by the merger process (``merger``), which alone in its process opens the file, so it may
give the store a row group size of its own (see ``connection.connect_write``).

The lease. DuckDB lets one process hold a file, and a reader cannot even open it read-only
while a writer holds it. Opening and closing costs 20-160 ms, too much to pay per batch, so a
writer holds the file while batches keep coming and lets go when it goes idle, when somebody
signals that they are waiting (``connection.signal_waiting``: llmtrace's readers and writers do
it whenever they find the file locked), or after ``max_hold_s`` for everyone else. After
letting go because it was wanted it stays out for ``yield_s`` so the others get their turn.

Row groups. DuckDB writes a transaction that fills a row group straight into the database
file, compressed, instead of logging every row to the write-ahead log and compressing it again
at the next checkpoint: measured here, 7.3 us a span instead of 10.6, and no checkpoint left
for the end. The writer gives the store row groups of :data:`ROW_GROUP_ROWS`, and under load
its caller hands it exactly that many rows at a time (see the DuckDB exporter); a smaller batch
is an ordinary transaction.

When the file stays locked for ``lock_timeout_s``, or a transaction fails, the batch is spooled
instead (``spool``): nothing is lost, and the next writer or reader merges it.
"""

from __future__ import annotations

import contextlib
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from .._internal import logger, report_internal_error, warn_once
from .batch_sql import insert_sql
from .connection import StoreBusyError, StoreUnusableError, connect_write, waiting_since
from .spool import (
    ROW_GROUP_ROWS,
    merge_file,
    merge_files,
    merge_spool,
    release_handoffs,
    spool_files,
    write_spool,
)

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = ["ROW_GROUP_ROWS", "StoreWriter"]


# How DuckDB words a failed write inside another exception (a COMMIT that could not write
# its log is a TransactionException).
_DISK_MARKERS = ("No space left", "Could not write file", "Read-only file system", "quota")


def _report(where: str, path: Path, exc: BaseException) -> None:
    """A failure of the disk (full, read-only, gone) is the world's, not a bug: one line, and
    the batches stay beside the store. Anything else is an internal error."""
    if isinstance(exc, (OSError, duckdb.IOException)) or any(
        marker in str(exc) for marker in _DISK_MARKERS
    ):
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        warn_once(
            f"store-io:{path}",
            f"llmtrace: {path} cannot be written ({first}); spans are kept beside it and stored "
            "once it can be",
        )
        return
    report_internal_error(where, exc)


# How DuckDB words running out of its memory limit in a COMMIT (a TransactionException): a
# partial row group of wide spans (20,000 of 30 attributes) failed so at 24 MB, and was left
# to the next reader as a spool file, with an internal error.
_MEMORY_MARKERS = ("could not allocate block", "failed to pin block", "out of memory")


def _out_of_memory(exc: BaseException) -> bool:
    return isinstance(exc, duckdb.OutOfMemoryException) or any(
        marker in str(exc).lower() for marker in _MEMORY_MARKERS
    )


# DuckDB's memory in the merger: enough for a row group of spans in one transaction (measured
# here: a row group of 10- or 14-attribute spans scanned from Arrow fits in 24 MB; read as JSON
# lines it needed 160 MB), and doubled, up to the maximum, for a batch that does not fit.
# DuckDB's default (80% of RAM) let it grow past 200 MB, and it uses what it is allowed: the
# merger's peak RSS was ~115 MiB plus this limit (after 2 x 30,720 @llm-like spans: 64 MB
# 172 MiB, 32 MB 146, 24 MB 139, 16 MB 131 but a file of 2,048-row chunks did not fit).
_MEMORY_LIMIT_MB = 24
_MAX_MEMORY_LIMIT_MB = 2048
# ... and while files wait behind the one being stored (the merger is behind), this much: at
# 24 MB DuckDB stored a flood of row groups ~14% slower than at 64 (bench.store ingest, same
# run: 85k against 99k spans/s; merger peak RSS after 100k @llm spans 134 against 158 MiB), so
# the merger pays the memory only once it has fallen behind, until it lets go of the store.
_BEHIND_MEMORY_LIMIT_MB = 64


class StoreWriter:
    """Writes span batches into one store file for one process (not thread-safe: one owner)."""

    def __init__(
        self,
        path: Path,
        *,
        lock_timeout_s: float = 0.5,
        max_hold_s: float = 5.0,
        yield_s: float = 0.15,
        threads: int = 1,
    ) -> None:
        self.path = path
        self.lock_timeout_s = lock_timeout_s
        self.max_hold_s = max_hold_s
        self.yield_s = yield_s
        self.threads = threads
        self.committed_spans = 0
        self.spooled_batches = 0
        self.memory_limit_mb = _MEMORY_LIMIT_MB
        self.backlog = False  # files wait behind the one being stored (set_behind), this lease
        self._least_limit_mb = _MEMORY_LIMIT_MB  # raised for good by a batch that did not fit
        self._conn: duckdb.DuckDBPyConnection | None = None
        self._acquired_at = 0.0
        self._acquired_ns = 0
        self._stay_out_until = 0.0
        self.unusable: str | None = None  # why the file can never be written, once known

    @property
    def holding(self) -> bool:
        """Whether this writer holds the file now."""
        return self._conn is not None

    def wanted(self) -> bool:
        """Whether the lease should end: held for ``max_hold_s``, or somebody is waiting."""
        if self._conn is None:
            return False
        held_s = time.monotonic() - self._acquired_at
        return held_s >= self.max_hold_s or waiting_since(self.path, self._acquired_ns)

    def write(self, batch: pa.Table) -> None:
        """Commit ``batch`` to the store (or spool it when the file cannot be had)."""
        conn = self._acquire()
        if conn is None:
            self._spool(batch)
            return
        try:
            conn.execute("BEGIN TRANSACTION")
            conn.register("span_batch", batch)
            conn.execute(insert_sql("span_batch", batch.schema))
            conn.unregister("span_batch")
            conn.execute("COMMIT")
        except Exception as exc:
            _report("DuckDB store insert", self.path, exc)
            self._drop_connection()  # not trusted further; its transaction never committed
            self._spool(batch)
            return
        self.committed_spans += batch.num_rows

    def acquire(self) -> bool:
        """Hold the file (True), or find it busy or unusable for now (False)."""
        return self._acquire() is not None

    def merge(self, path: Path, prepared: Any = None) -> bool:
        """Commit a hand-off file to the store, exactly once; False when the file could not be
        had (the file stays for a later try). A file the store refuses is set aside; on any
        other failure it becomes a spool file for whoever opens the store next."""
        conn = self._acquire()
        if conn is None:
            return False
        try:
            while True:
                try:
                    self.committed_spans += merge_file(conn, path, prepared=prepared)
                    break
                except (duckdb.OutOfMemoryException, duckdb.TransactionException) as exc:
                    # Rolled back: again, with more room (when room was what it lacked).
                    if not _out_of_memory(exc) or not self._raise_memory_limit(conn):
                        raise
        except Exception as exc:
            _report("DuckDB store merge", self.path, exc)
            self._drop_connection()
            release_handoffs([path])
        return True

    def merge_all(self, paths: list[Path]) -> bool:
        """Commit several files in one transaction (``spool.merge_files``: one commit for the
        files of many processes); when that fails, one at a time (:meth:`merge`), so a file
        the store refuses fails only itself. False when the file could not be had."""
        conn = self._acquire()
        if conn is None:
            return False
        try:
            self.committed_spans += merge_files(conn, paths)
            return True
        except Exception:  # rolled back: one at a time now, which says what failed
            logger.debug("%s: files merged one at a time after a failed batch", self.path)
        return all(self.merge(path) for path in paths if path.exists())

    def set_behind(self, behind: bool) -> None:
        """Give DuckDB more memory while files wait behind the one being stored (faster
        inserts), or the usual amount; letting go of the store brings the usual back. A limit
        a batch that did not fit raised stays."""
        self.backlog = behind
        wanted = max(self._least_limit_mb, _BEHIND_MEMORY_LIMIT_MB if behind else 0)
        if self.memory_limit_mb == wanted:
            return
        self.memory_limit_mb = wanted
        if self._conn is not None:
            self._conn.execute(f"SET memory_limit = '{wanted}MB'")

    def _raise_memory_limit(self, conn: duckdb.DuckDBPyConnection) -> bool:
        """Double DuckDB's memory limit after a batch did not fit (False: at the most)."""
        if self.memory_limit_mb >= _MAX_MEMORY_LIMIT_MB:
            return False
        self.memory_limit_mb *= 2
        self._least_limit_mb = self.memory_limit_mb
        conn.execute(f"SET memory_limit = '{self.memory_limit_mb}MB'")
        return True

    def release(self, *, stay_out: bool = False) -> None:
        """Let go of the file, after merging what other processes spooled meanwhile; with
        ``stay_out``, keep away for ``yield_s``."""
        self._merge_spool()
        conn, self._conn = self._conn, None
        if conn is not None:
            try:
                conn.close()
            except Exception as exc:
                report_internal_error("DuckDB store close", exc)
        self.memory_limit_mb = self._least_limit_mb  # the next lease starts caught up
        self.backlog = False
        if stay_out:
            self._stay_out_until = time.monotonic() + self.yield_s

    def flush(self, timeout_s: float) -> bool:
        """Merge spooled batches and let go of the file. False when spooled batches are left
        because another process held the file throughout."""
        ok = True
        if self._conn is None and spool_files(self.path):
            try:
                self._conn = self._open(timeout_s)
            except StoreBusyError:
                ok = False
            except StoreUnusableError as exc:
                self.unusable = str(exc)
                ok = False
            except Exception as exc:
                _report("DuckDB store flush", self.path, exc)
                ok = False
        self.release()
        return ok and not spool_files(self.path)

    # --- the lease ----------------------------------------------------------------------------
    def _open(self, timeout_s: float) -> duckdb.DuckDBPyConnection:
        conn = connect_write(self.path, timeout_s, row_group_size=ROW_GROUP_ROWS)
        try:
            conn.execute(f"SET threads = {int(self.threads)}")
            # Checkpoint only when the log passes this while the lease is held (letting go
            # checkpoints once); DuckDB's 16 MB default rewrote the growing row group again
            # and again under load.
            conn.execute("SET wal_autocheckpoint = '1GB'")
            conn.execute(f"SET memory_limit = '{self.memory_limit_mb}MB'")
        except Exception:
            conn.close()
            raise
        self._acquired_at = time.monotonic()
        self._acquired_ns = time.time_ns()
        return conn

    def _acquire(self) -> duckdb.DuckDBPyConnection | None:
        if self._conn is not None:
            return self._conn
        wait_s = self._stay_out_until - time.monotonic()
        if wait_s > 0:
            time.sleep(wait_s)  # the writer's own thread: batches wait in the bounded queue
        try:
            self._conn = self._open(self.lock_timeout_s)
        except StoreBusyError:
            return None
        except StoreUnusableError as exc:
            self.unusable = str(exc)
            return None
        except Exception as exc:
            _report("DuckDB store connect", self.path, exc)
            return None
        self._merge_spool()
        return self._conn

    def _merge_spool(self) -> None:
        if self._conn is None:
            return
        try:
            if spool_files(self.path):
                merge_spool(self._conn, self.path)
        except Exception as exc:
            _report("DuckDB store spool merge", self.path, exc)
            self._drop_connection()

    def _drop_connection(self) -> None:
        conn, self._conn = self._conn, None
        if conn is None:
            return
        # Dropped either way: nothing in its open transaction was committed.
        with contextlib.suppress(Exception):
            conn.execute("ROLLBACK")
        with contextlib.suppress(Exception):
            conn.close()

    def _spool(self, batch: pa.Table) -> None:
        try:
            write_spool(self.path, batch)
        except Exception as exc:
            report_internal_error("DuckDB store spool", exc)
            return
        self.spooled_batches += 1
        # Contention is normal operation, not a problem worth a warning.
        logger.debug("%s busy: batch spooled for the next writer or reader to merge", self.path)
