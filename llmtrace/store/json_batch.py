"""Hand-off documents into ``spans``: normalised and priced into Arrow batches that DuckDB scans.

Whoever merges a traced process's hand-off file (``handoff``) reads it a document at a time,
normalises and prices its spans (``span_batch.fields_to_batch``, nanoarrow arrays) and gathers
consecutive documents that share a resource into chunks of at most :data:`CHUNK_ROWS` rows
(DuckDB holds a chunk's one resource as a constant). Each chunk is one ``INSERT`` that DuckDB
scans through the Arrow C stream interface, inside the caller's transaction: so at most a chunk
or two of a file are in memory, however big the file, and DuckDB fills its row group across the
statements as it would in one.

Why Arrow and not DuckDB's own ``read_json`` over the same columns as JSON lines (as before):
measured on row groups of 30,720 ten-attribute spans, DuckDB's thread spent ~1.4 us a span more
reading JSON than scanning Arrow (7.9 against 10.2 us a span for the whole insert and commit),
and needed 160 MB to read a row group's lines in one statement (it parses every line before it
unnests any), where the Arrow scan fits in 32 MB. Why nanoarrow and not pyarrow: pyarrow cost
whoever merges ~36 MiB, and DuckDB imports pandas and numpy when it scans a pyarrow object
(~200 ms and ~50 MiB more in a process that merges at exit); nanoarrow costs ~2 MiB and DuckDB
scans it with neither.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from .batch_sql import insert_sql
from .handoff import decode_line

if TYPE_CHECKING:
    from ..pricing import PriceTable

__all__ = [
    "CHUNK_ROWS",
    "LEAN_CHUNK_ROWS",
    "Chunk",
    "Prepared",
    "chunks",
    "insert_documents",
    "prices_for",
]


# Price tables by the overrides a document carries: one per process and set of overrides, so
# each (provider, model) is resolved once.
_tables: dict[bytes, PriceTable] = {}


def prices_for(overrides: dict[str, Any] | None, default: PriceTable | None) -> PriceTable:
    """The table that prices a document: its own overrides, else ``default`` (None: the
    installed table)."""
    from ..pricing import PriceTable

    if not overrides and default is not None:
        return default
    key = orjson.dumps(overrides or {}, option=orjson.OPT_SORT_KEYS)
    table = _tables.get(key)
    if table is None:
        table = _tables[key] = PriceTable.from_overrides_json(overrides)
    return table


# Rows an INSERT scans at most: a chunk is built in memory while DuckDB stores the one before.
# Each INSERT costs DuckDB's thread ~10 ms more (a row group of @llm-like spans in chunks of
# 8,192: ~1.2 us a span more than in one statement): half a row group.
CHUNK_ROWS = 16_384
# ... and while the merger keeps up, when its memory counts more than its speed: a chunk being
# scanned and the next one being built are ~12 MiB each at 16,384 @llm spans. The merger's
# peak RSS after 100k @llm spans (same run, x3): 126-128 MiB at 16,384, 118-119 at 8,192,
# 120-121 at 4,096 (more statements, more of DuckDB's per-statement memory).
LEAN_CHUNK_ROWS = 8_192
# Chunks of a file prepared ahead (``Prepared``) and waiting for the insert.
_AHEAD = 1
_DONE = object()


def _metadata(batch: Any) -> dict[bytes, bytes]:
    return dict(batch.schema.metadata or {})


class Chunk:
    """Batches of consecutive documents with one schema (so one resource), up to
    :data:`CHUNK_ROWS` rows: what one ``INSERT`` scans. DuckDB reads it as an Arrow stream,
    which it may open more than once (a registered name is read for its schema first)."""

    __slots__ = ("arrays", "metadata", "most", "rows")

    def __init__(self, batch: Any, most: int | None = None) -> None:
        self.arrays = [batch]
        self.metadata = _metadata(batch)
        self.rows = int(batch.length)
        self.most = CHUNK_ROWS if most is None else most

    def take(self, batch: Any) -> bool:
        """Add ``batch`` if it fits (same resource, room left); False when it does not."""
        if self.rows + batch.length > self.most or _metadata(batch) != self.metadata:
            return False
        self.arrays.append(batch)
        self.rows += int(batch.length)
        return True

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        from .columns import stream_capsule

        return stream_capsule(self.arrays, requested_schema)

    def insert(self, conn: Any) -> int:
        conn.register("prepared_batch", self)
        try:
            conn.execute(insert_sql("prepared_batch", self.arrays[0].schema))
        except BaseException:
            with contextlib.suppress(Exception):  # an aborted transaction refuses it
                conn.unregister("prepared_batch")
            raise
        conn.unregister("prepared_batch")
        self.release()
        return self.rows

    def release(self) -> None:
        """Let go of the arrays once inserted. Inside a transaction DuckDB keeps the object
        registered for the statement until the COMMIT (the dropped view's catalog entry holds
        it), so without this every chunk of a file waited in memory through the commit."""
        self.arrays = []


def chunks(path: Path, prices: PriceTable | None, most: int | None = None) -> Iterator[Chunk]:
    """The documents of the hand-off file ``path`` normalised and priced, a chunk of at most
    ``most`` rows (by default :data:`CHUNK_ROWS`; or one document) at a time (raises
    ``ValueError`` or ``KeyError`` for a damaged file)."""
    from .span_batch import fields_to_batch

    chunk: Chunk | None = None
    with open(path, "rb") as lines:
        for fields, overrides in map(decode_line, filter(bytes.strip, lines)):
            batch = fields_to_batch(fields, prices_for(overrides, prices))
            if chunk is not None and chunk.take(batch):
                continue
            if chunk is not None:
                yield chunk
            chunk = Chunk(batch, most)
    if chunk is not None:
        yield chunk


class Prepared:
    """A hand-off file's chunks, prepared on another thread (:meth:`produce`, the merger's
    preparer) at most :data:`_AHEAD` chunks ahead of :meth:`insert`, which takes them as they
    come: the merger prepares while DuckDB stores (DuckDB lets go of the GIL while it works),
    and what waits in memory stays a chunk or two. It inserts once; merging the file again (a
    retry after a rollback) reads the file again."""

    def __init__(
        self, path: Path, prices: PriceTable | None = None, chunk_rows: int | None = None
    ) -> None:
        self.path = path
        self.prices = prices
        self.chunk_rows = chunk_rows
        self.rows = 0
        self.fresh = True
        self._ready: queue.Queue[Any] = queue.Queue(maxsize=_AHEAD)
        self._cancelled = threading.Event()

    def produce(self) -> None:
        """Prepare the chunks, handing each over as there is room (the preparer's thread);
        returns once all are handed over, a failure is, or the preparation is discarded."""
        try:
            for chunk in chunks(self.path, self.prices, self.chunk_rows):
                if not self._hand(chunk):
                    return
        except Exception as exc:  # a damaged file: the insert raises it
            self._hand(exc)
            return
        self._hand(_DONE)

    def _hand(self, item: Any) -> bool:
        while not self._cancelled.is_set():
            try:
                self._ready.put(item, timeout=0.05)
            except queue.Full:
                continue
            return True
        return False

    def insert(self, conn: Any) -> int:
        """Insert the chunks as they are prepared (inside the caller's transaction)."""
        self.fresh = False
        while True:
            try:
                item = self._ready.get(timeout=1.0)
            except queue.Empty:
                if self._cancelled.is_set():
                    raise RuntimeError(f"the preparation of {self.path} was discarded") from None
                continue
            if item is _DONE:
                return self.rows
            if isinstance(item, Exception):
                raise item
            self.rows += item.insert(conn)

    def discard(self) -> None:
        """Stop preparing and drop what waits (whether or not the rows went in)."""
        self._cancelled.set()
        with contextlib.suppress(queue.Empty):
            while True:
                self._ready.get_nowait()


def insert_documents(
    conn: Any, path: Path, prices: PriceTable | None, prepared: Prepared | None = None
) -> int:
    """Insert the spans of a hand-off file's documents (inside the caller's transaction), a
    chunk at a time; returns how many. ``prepared``: the file being prepared on another thread
    (its owner discards it), used unless it was inserted before."""
    if prepared is not None and prepared.path == path and prepared.fresh:
        return int(prepared.insert(conn))
    return sum(chunk.insert(conn) for chunk in chunks(path, prices))
