"""Issue 19: a process that merges hand-off files itself (at exit with no merger or shared
merger, ``llmtrace sql``/``query`` merging a spool) or reprices loads neither pandas nor numpy
nor pyarrow: the rows reach DuckDB as nanoarrow arrays (store/columns.py, json_batch.py), which
DuckDB scans without them. Checked in a real subprocess, with pandas, numpy and pyarrow
installed."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb

from tests.conftest import run_python

_MERGE = """
import json, sys
from pathlib import Path
from llmtrace.exporters.duckdb.reading import encode_salvaging
from llmtrace.store.spool import release_handoffs, write_handoff
from llmtrace.testing import make_spans

HEAVY = ("pandas", "numpy", "pyarrow")
db = Path(sys.argv[1])
document, _ = encode_salvaging(make_spans(3_000, 14))
before = [m for m in HEAVY if m in sys.modules]
if sys.argv[2] in ("exit", "reprice"):  # as an exiting process with no merger merges
    from llmtrace.exporters.duckdb.merge_here import merge_spool_here
    release_handoffs([write_handoff(db, document)])
    ok = merge_spool_here(db, 5.0)
if sys.argv[2] == "reprice":  # llmtrace reprice: the new costs go to DuckDB as Arrow
    from llmtrace.pricing import PriceTable
    from llmtrace.store.connection import connect_write
    from llmtrace.store.reprice import reprice
    conn = connect_write(db, 5.0)
    conn.execute("UPDATE spans SET cost_usd = NULL")
    before = [m for m in HEAVY if m in sys.modules]  # after the merge: repricing alone
    ok = ok and reprice(conn, PriceTable.from_overrides_json(None)).priced == 3_000
    ok = ok and conn.execute("SELECT count(cost_usd) FROM spans").fetchall() == [(3_000,)]
    conn.close()
elif sys.argv[2] == "read-many":  # small files of several processes: stored together
    from llmtrace.store.query import open_store_for_read
    release_handoffs([write_handoff(db, encode_salvaging(make_spans(600, 14))[0])
                      for _ in range(5)])
    with open_store_for_read(db) as reader:
        ok = reader.execute("SELECT count(*) FROM spans").fetchall() == [(3_000,)]
elif sys.argv[2] != "exit":  # as a reader merges every hand-off file first (llmtrace sql)
    from llmtrace.store.query import open_store_for_read
    write_handoff(db, document)
    with open_store_for_read(db) as reader:
        ok = reader.execute("SELECT count(*) FROM spans").fetchall() == [(3_000,)]
print(json.dumps({"ok": ok, "before": before, "after": [m for m in HEAVY if m in sys.modules]}))
"""


def _merge_in_a_process(db: Path, how: str) -> dict[str, object]:
    done = run_python(_MERGE, args=[str(db), how])
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_a_process_that_merges_its_spool_itself_loads_no_pandas_numpy_or_pyarrow(tmp_path):
    db = tmp_path / "exit.duckdb"
    assert _merge_in_a_process(db, "exit") == {"ok": True, "before": [], "after": []}
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute(
            "SELECT count(DISTINCT span_id), count(cost_usd) FROM spans"
        ).fetchall() == [(3_000, 3_000)]


def test_a_reader_that_merges_hand_off_files_loads_no_pandas_numpy_or_pyarrow(tmp_path):
    db = tmp_path / "read.duckdb"
    assert _merge_in_a_process(db, "read") == {"ok": True, "before": [], "after": []}


def test_small_files_stored_together_load_no_pandas_numpy_or_pyarrow(tmp_path):
    """Several small files go in with one INSERT over registered chunks (store/together.py)."""
    db = tmp_path / "read-many.duckdb"
    assert _merge_in_a_process(db, "read-many") == {"ok": True, "before": [], "after": []}


def test_repricing_loads_no_pandas_numpy_or_pyarrow(tmp_path):
    db = tmp_path / "reprice.duckdb"
    assert _merge_in_a_process(db, "reprice") == {"ok": True, "before": [], "after": []}
