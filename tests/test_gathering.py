"""How long the DuckDB exporter's writer gathers batches before handing them over: a trickle
goes after GATHER_S, batches that fill a row group fast wait up to GATHER_LONG_S for the rest of
it (a partial row group is logged and compressed again at release), and a pause in arrivals
ends either."""

from __future__ import annotations

import time

from llmtrace.exporters.duckdb.gathering import (
    FILLING_FAST_ROWS,
    GATHER_GAP_S,
    GATHER_LONG_S,
    GATHER_S,
    Document,
    Gathered,
)
from llmtrace.store.spool import ROW_GROUP_ROWS


def _gathered(rows: int, *, age_s: float, last_s: float) -> Gathered:
    """Gathered documents of ``rows`` spans, the first ``age_s`` ago, the last ``last_s`` ago."""
    gathered = Gathered()
    gathered.add(Document(b"{}", rows))
    now = time.monotonic()
    gathered.started_at, gathered.added_at = now - age_s, now - last_s
    return gathered


def test_the_thresholds_hold_together():
    assert GATHER_GAP_S < GATHER_S < GATHER_LONG_S
    assert 0 < FILLING_FAST_ROWS < ROW_GROUP_ROWS


def test_a_trickle_goes_after_gather_s():
    gathered = _gathered(FILLING_FAST_ROWS - 1, age_s=GATHER_S + 0.05, last_s=0.0)
    assert gathered.due()
    assert gathered.deadline == gathered.started_at + GATHER_S


def test_batches_filling_fast_wait_for_their_row_group():
    gathered = _gathered(FILLING_FAST_ROWS, age_s=GATHER_S + 0.05, last_s=0.0)
    assert not gathered.due()
    assert gathered.deadline > gathered.started_at + GATHER_S  # batches keep coming
    steady = _gathered(FILLING_FAST_ROWS, age_s=GATHER_LONG_S - 0.2, last_s=0.0)
    assert not steady.due()
    late = _gathered(FILLING_FAST_ROWS, age_s=GATHER_LONG_S + 0.05, last_s=0.0)
    assert late.due()


def test_a_pause_in_arrivals_ends_either():
    for rows in (10, FILLING_FAST_ROWS):
        gathered = _gathered(rows, age_s=0.6, last_s=GATHER_GAP_S + 0.05)
        assert gathered.due(), rows
        assert gathered.deadline == gathered.added_at + GATHER_GAP_S


def test_nothing_gathered_is_never_due():
    assert not Gathered().due()
