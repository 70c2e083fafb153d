"""A merger that dies while a flush waits on it: what it had becomes spool files, which the
flush merges itself, so the flush succeeds and every span lands (it used to say False: seen as a
flaky test_store_faults run in CI)."""

from __future__ import annotations

import json
import stat

import duckdb

from tests.conftest import run_python

_APP = """
import json, sys, llmtrace
handle = llmtrace.configure(service_name="dies", db=sys.argv[1])
for i in range(3_000):
    with llmtrace.tool("step"):
        pass
ok = handle.flush(30_000)
print(json.dumps({"ok": ok, "dropped": handle.dropped_spans}))
"""


def test_a_merger_that_dies_during_a_flush_leaves_the_flush_true_and_everything_stored(tmp_path):
    # A stand-in merger (the real one cannot be made to die at this moment): it starts, reads
    # nothing, answers nothing and exits with an error after a while, while the flush waits.
    stand_in = tmp_path / "dying-merger"
    stand_in.write_text("#!/bin/sh\nsleep 2\nexit 1\n")
    stand_in.chmod(stand_in.stat().st_mode | stat.S_IEXEC)
    db = tmp_path / "dies.duckdb"
    env = {"LLMTRACE_MERGER_PYTHON": str(stand_in), "LLMTRACE_SHARED_MERGER": "0"}
    done = run_python(_APP, args=[str(db)], env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result == {"ok": True, "dropped": {"DuckDBSpanExporter": 0}}, done.stderr
    assert "exited (code 1)" in done.stderr  # the stand-in did run and die
    conn = duckdb.connect(str(db), read_only=True)
    try:
        assert conn.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchone() == (
            3_000,
            3_000,
        )
    finally:
        conn.close()
