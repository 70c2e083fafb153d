"""How the DuckDB exporter's writer thread gathers batches before it hands them over.

Under load the writer takes whole row groups, which DuckDB writes straight into the file (see
``llmtrace.store.writer``); what is left goes once no batch came for a moment, or at the latest
a second after it arrived (three when it fills its row group fast). Fewer, bigger files also
mean fewer GIL hand-offs on the writer's thread, each of which waits for the application's
thread to let go of the GIL.

Two kinds of batch arrive: hand-off documents from the application's spans (:class:`Document`,
JSON bytes: they gather by joining lines, never more than a row group to a file, since a
document is not split) and Arrow tables from ``llmtrace serve`` (sliced to whole row groups,
one resource to a file).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ...store.spool import ROW_GROUP_ROWS

if TYPE_CHECKING:
    import pyarrow as pa

__all__ = [
    "FILLING_FAST_ROWS",
    "GATHER_GAP_S",
    "GATHER_LONG_S",
    "GATHER_S",
    "Document",
    "Gathered",
    "is_batch",
]

# The writer hands a row group over as soon as it has one; what is left goes once no batch came
# for GATHER_GAP_S (longer than the gap between full batches under load, shorter than the
# batch processor's timer when it is quiet), and at the latest GATHER_S after it arrived.
GATHER_S = 1.0
GATHER_GAP_S = 0.45
# Gathered batches that hold a third of a row group or more (spans coming at ~10k/s or faster)
# wait up to GATHER_LONG_S for the rest of their row group. A partial row group goes through
# DuckDB's write-ahead log and is compressed again when the merger lets go of the store: after
# a tight loop of 100k spans that came to ~0.8 s of the final flush, at 12-30k spans/s (every
# file a second's worth, none a whole row group). A trickle still goes after GATHER_S.
GATHER_LONG_S = 3.0
FILLING_FAST_ROWS = ROW_GROUP_ROWS // 3


@dataclass(frozen=True)
class Document:
    """Hand-off documents (``store.handoff``), one a line, and the spans they hold."""

    data: bytes
    num_rows: int


def is_batch(item: object) -> bool:
    """Whether a queue item is spans (documents, or a table from ``llmtrace serve``)."""
    return isinstance(item, Document) or type(item).__name__ == "Table"


def _key(batch: Any) -> object:
    """Batches with equal keys go in one file: documents together, tables by resource."""
    if isinstance(batch, Document):
        return Document
    from ...store.span_batch import batch_resource

    return batch_resource(batch)


class Gathered:
    """Batches waiting for the writer that can go in one file."""

    def __init__(self) -> None:
        self.batches: list[Any] = []
        self.rows = 0
        self.started_at = 0.0
        self.added_at = 0.0

    def accepts(self, batch: Document | pa.Table) -> bool:
        """Whether ``batch`` can join these (one insert carries one resource; documents,
        which are not split, fill a row group at most)."""
        if not self.batches:
            return True
        if _key(batch) != _key(self.batches[0]):
            return False
        return not isinstance(batch, Document) or self.rows + batch.num_rows <= ROW_GROUP_ROWS

    def add(self, batch: Document | pa.Table) -> None:
        self.added_at = time.monotonic()
        if not self.batches:
            self.started_at = self.added_at
        self.batches.append(batch)
        self.rows += batch.num_rows

    @property
    def deadline(self) -> float:
        """When these go at the latest: a pause in arrivals, or their age (longer for batches
        that fill their row group fast)."""
        longest = GATHER_LONG_S if self.rows >= FILLING_FAST_ROWS else GATHER_S
        return min(self.started_at + longest, self.added_at + GATHER_GAP_S)

    def due(self) -> bool:
        return bool(self.rows) and time.monotonic() >= self.deadline

    def take(self, rows: int | None = None) -> Any:
        """The first ``rows`` rows (all by default, and always all of documents); the rest
        stays."""
        if isinstance(self.batches[0], Document):
            joined = Document(b"\n".join(d.data for d in self.batches), self.rows)
            self.batches, self.rows = [], 0
            return joined
        import pyarrow as pa

        table = self.batches[0] if len(self.batches) == 1 else pa.concat_tables(self.batches)
        if rows is None or rows >= table.num_rows:
            self.batches, self.rows = [], 0
            return table
        rest = table.slice(rows)
        self.batches, self.rows, self.started_at = [rest], rest.num_rows, self.added_at
        return table.slice(0, rows)
