"""How the DuckDB exporter's writer thread gathers batches before it stores them.

Under load the writer takes whole row groups, which DuckDB writes straight into the file (see
``llmtrace.store.writer``); what is left goes in once no batch came for a moment, or at the
latest a second after it arrived. Fewer, bigger writes also mean fewer GIL hand-offs on the
writer's thread, each of which waits for the application's thread to let go of the GIL.
"""

from __future__ import annotations

import time

import pyarrow as pa

from .rows import batch_resource

__all__ = ["GATHER_GAP_S", "GATHER_S", "Gathered"]

# The writer inserts a row group as soon as it has one; what is left goes in once no batch came
# for GATHER_GAP_S (longer than the gap between full batches under load, shorter than the
# batch processor's timer when it is quiet), and at the latest GATHER_S after it arrived.
GATHER_S = 1.0
GATHER_GAP_S = 0.45


class Gathered:
    """Batches waiting for the writer, all with the same resource (one insert carries one)."""

    def __init__(self) -> None:
        self.batches: list[pa.Table] = []
        self.rows = 0
        self.started_at = 0.0
        self.added_at = 0.0

    def accepts(self, batch: pa.Table) -> bool:
        """Whether ``batch`` can join these (one insert carries one resource)."""
        return not self.batches or batch_resource(batch) == batch_resource(self.batches[0])

    def add(self, batch: pa.Table) -> None:
        self.added_at = time.monotonic()
        if not self.batches:
            self.started_at = self.added_at
        self.batches.append(batch)
        self.rows += batch.num_rows

    @property
    def deadline(self) -> float:
        return min(self.started_at + GATHER_S, self.added_at + GATHER_GAP_S)

    def due(self) -> bool:
        return bool(self.rows) and time.monotonic() >= self.deadline

    def take(self, rows: int | None = None) -> pa.Table:
        """The first ``rows`` rows (all by default); the rest stays."""
        table = self.batches[0] if len(self.batches) == 1 else pa.concat_tables(self.batches)
        if rows is None or rows >= table.num_rows:
            self.batches, self.rows = [], 0
            return table
        rest = table.slice(rows)
        self.batches, self.rows, self.started_at = [rest], rest.num_rows, self.added_at
        return table.slice(0, rows)
