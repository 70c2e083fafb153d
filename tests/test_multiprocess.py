"""Real processes: several writers into one file while a reader queries; exit without flush."""

from __future__ import annotations

import subprocess
import sys
import time

import llmtrace
from llmtrace.store.spool import spool_dir
from tests.conftest import ROOT, run_python

# Each writer pauses halfway, so its first spans are exported (and its merger started) while
# it still runs: a process that ends first hands everything to the spool at exit instead.
WRITER = """
import os, sys, time
import llmtrace
llmtrace.configure(service_name=f"writer-{sys.argv[2]}", db=sys.argv[1])

@llmtrace.tool("work")
def work(i):
    return i

for i in range(int(sys.argv[3])):
    work(i)
    if i == int(sys.argv[3]) // 2:
        time.sleep(1.5)
"""


def test_four_writers_and_a_reader_lose_nothing(tmp_path):
    db = tmp_path / "shared.duckdb"
    per_writer = 3000
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(db), str(n), str(per_writer)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(4)
    ]
    reads = 0
    while any(w.poll() is None for w in writers):
        if db.exists() or spool_dir(db).exists():  # stored, or handed over to be
            done = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "llmtrace",
                    "sql",
                    "SELECT count(*) FROM spans",
                    "--db",
                    str(db),
                    "--format",
                    "csv",
                ],
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert done.returncode == 0, done.stderr
            reads += 1
        time.sleep(0.05)
    for writer in writers:
        _, stderr = writer.communicate(timeout=60)
        assert writer.returncode == 0
        assert stderr == ""  # no error printed in normal operation
    assert reads >= 1
    rows = llmtrace.query(
        "SELECT service_name, count(*) AS n, count(DISTINCT span_id) AS ids FROM spans "
        "GROUP BY 1 ORDER BY 1",
        db=db,
    )
    assert rows == [
        {"service_name": f"writer-{n}", "n": per_writer, "ids": per_writer} for n in range(4)
    ]


def test_interpreter_exit_without_flush_loses_nothing(tmp_path):
    db = tmp_path / "exit.duckdb"
    done = run_python(f"""
        import llmtrace
        llmtrace.configure(db={str(db)!r})

        @llmtrace.llm(model="gpt-4o-mini", provider="openai")
        def call(prompt):
            return {{"usage": {{"prompt_tokens": 3, "completion_tokens": 1}}}}

        for i in range(700):
            call("x")
        # no flush, no shutdown: the interpreter just ends
    """)
    assert done.returncode == 0, done.stderr
    assert llmtrace.query("SELECT count(*) AS n, sum(input_tokens) AS t FROM llm_calls", db=db) == [
        {"n": 700, "t": 2100}
    ]
