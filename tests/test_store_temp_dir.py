"""Where the merger's DuckDB spills: beside the store (``<store>.tmp``, as a file connection
does), never ``.tmp`` in the working directory, which is the traced application's (the
merger's store is attached to an in-memory instance, whose default is ``.tmp`` there)."""

from __future__ import annotations

import json

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
