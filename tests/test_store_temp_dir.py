"""Where the merger's DuckDB spills: beside the store (``<store>.tmp``, as a file connection
does), never ``.tmp`` in the working directory, which is the traced application's (the
merger's store is attached to an in-memory instance, whose default is ``.tmp`` there)."""

from __future__ import annotations

import json
import tempfile

from tests.conftest import run_python

_SPILL = """
import json, os, sys
from pathlib import Path
from llmtrace.store.connection import connect_write

db = Path(sys.argv[1])
conn = connect_write(db, timeout_s=5, row_group_size=122_880)  # as the merger opens it
conn.execute("SET memory_limit = '32MB'")
conn.execute("SET threads = 1")
conn.execute(
    "CREATE TEMP TABLE t AS SELECT (random() * 1e9)::BIGINT::VARCHAR || repeat('x', 30) AS s "
    "FROM range(1500000)"
)
(rows,) = conn.execute("SELECT count(*) FROM (SELECT s FROM t ORDER BY s)").fetchone()
print(json.dumps({"rows": rows, "here": sorted(os.listdir(".")),
                  "setting": conn.execute("SELECT current_setting('temp_directory')").fetchone()[0],
                  "beside": os.path.isdir(f"{db}.tmp")}))
"""


def test_the_merger_spills_beside_the_store_not_in_the_working_directory(tmp_path):
    app = tmp_path / "app"
    app.mkdir()
    db = tmp_path / "data" / "spill.duckdb"
    db.parent.mkdir()
    done = run_python(_SPILL, args=[str(db)], cwd=app)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["rows"] == 1_500_000
    assert said["here"] == []  # nothing in the application's working directory
    assert said["setting"] == f"{db}.tmp"
    assert said["beside"]  # it did spill, there


_PARQUET_SPILL = """
import json, os, sys
from pathlib import Path
import duckdb
from llmtrace.evals.production.source import open_source
from llmtrace.store.connection import connect_write

folder = Path(sys.argv[1])
store = connect_write(folder.parent / "store.duckdb")  # an empty store, exported as the CLI does
store.execute("COPY (SELECT * REPLACE (attributes::JSON AS attributes) FROM spans) "
              f"TO '{folder / 'spans.parquet'}' (FORMAT parquet)")
store.close()
conn = open_source(folder)
conn.execute("SET memory_limit = '32MB'")
conn.execute("SET threads = 1")
spill = conn.execute("SELECT current_setting('temp_directory')").fetchone()[0]
(rows,) = conn.execute(
    "SELECT count(*) FROM (SELECT (random() * 1e9)::BIGINT::VARCHAR || repeat('x', 30) AS s "
    "FROM range(1500000) ORDER BY s)"
).fetchone()
spilled = os.path.isdir(spill)
conn.close()
print(json.dumps({"rows": rows, "here": sorted(os.listdir(".")), "spill": spill,
                  "spilled": spilled, "left": os.path.exists(spill)}))
"""


def test_a_gate_over_parquet_spills_in_a_temporary_folder_it_removes(tmp_path):
    """The Parquet source (evals/production/source.py) is an in-memory DuckDB too: a gate or
    drift over an export that spills leaves nothing in the working directory, nor after it."""
    app = tmp_path / "app"
    app.mkdir()
    export = tmp_path / "export"
    export.mkdir()
    done = run_python(_PARQUET_SPILL, args=[str(export)], cwd=app)
    assert done.returncode == 0, done.stderr
    said = json.loads(done.stdout.strip().splitlines()[-1])
    assert said["rows"] == 1_500_000
    assert said["here"] == []
    assert said["spilled"] and not said["left"]
    assert said["spill"].startswith(tempfile.gettempdir()) and "llmtrace-" in said["spill"]
