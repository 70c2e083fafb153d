"""The store never loses a span silently, under faults made for real: SIGKILLed mergers, files
that are not stores, another application's database, a full disk, forked workers (issue #7)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from llmtrace.store.spool import spool_dir
from tests.conftest import ROOT

# Traces N spans in batches through the real pipeline; a thread SIGKILLs the merger process
# every `kill_every` seconds. Prints made / lost counts and the kills as JSON.
_KILLED_MERGERS = """
import json, os, signal, sys, threading, time
import llmtrace
from llmtrace._config import _pipeline
db, total, kill_every = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
handle = llmtrace.configure(service_name="faults", db=db)
exporter = handle.exporters[0]
kills = []
stop = threading.Event()
def killer():
    while not stop.wait(kill_every):
        process = exporter._merger._process
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills.append(process.pid)
threading.Thread(target=killer, daemon=True).start()
for i in range(total):
    with llmtrace.tool("step", ) as span:
        span.set_attribute("i", i)
    if i % 1000 == 0:  # an application that also waits (and lets the killer's clock run)
        time.sleep(0.02)
stop.set()
ok = handle.flush(60_000)
print(json.dumps({"kills": len(kills), "ok": ok, "dropped": handle.dropped_spans}))
"""


def _python(code: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=timeout,
    )


def _counts(db: Path) -> tuple[int, int]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchall()[0]
    finally:
        conn.close()


def test_mergers_killed_again_and_again_lose_nothing_and_duplicate_nothing(tmp_path):
    db = tmp_path / "killed.duckdb"
    done = _python(_KILLED_MERGERS, str(db), "100000", "0.2")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["kills"] >= 3, result  # the fault really happened, repeatedly
    assert result["dropped"] == {"DuckDBSpanExporter": 0}
    assert "Traceback" not in done.stderr
    # Whatever a killed merger left beside the store is merged by the next reader.
    from llmtrace.store.query import open_store_for_read

    open_store_for_read(db).close()
    assert _counts(db) == (100_000, 100_000)
    assert not list(spool_dir(db).glob("*.arrow"))


_TRACE_AND_EXIT = """
import sys, time, llmtrace
handle = llmtrace.configure(service_name="unusable", db=sys.argv[1])
for i in range(50):
    with llmtrace.tool("step"):
        pass
start = time.monotonic()
ok = handle.flush(5_000)
handle.shutdown()
print("flush", ok, "dropped", handle.dropped_spans, "seconds", round(time.monotonic() - start, 2))
"""


def _foreign_duckdb(path: Path) -> None:
    conn = duckdb.connect(str(path))
    conn.execute("CREATE TABLE orders (id INTEGER, total DOUBLE)")
    conn.execute("INSERT INTO orders VALUES (1, 9.5)")
    conn.close()


def _sqlite(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()


@pytest.mark.parametrize(
    ("make", "says"),
    [
        (lambda p: p.write_text("hello\n" * 100), "is not a DuckDB file"),
        (_sqlite, "is a SQLite database"),
        (lambda p: p.mkdir(), "is a directory"),
        (_foreign_duckdb, "another application's DuckDB database"),
    ],
    ids=["text-file", "sqlite", "directory", "foreign-duckdb"],
)
def test_a_path_that_cannot_be_a_store_is_refused_quickly_and_keeps_the_spans(tmp_path, make, says):
    db = tmp_path / "store.duckdb"
    make(db)
    before = db.read_bytes() if db.is_file() else None
    start = time.monotonic()
    done = _python(_TRACE_AND_EXIT, str(db), timeout=120)
    elapsed = time.monotonic() - start
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert says in done.stderr
    assert len([line for line in done.stderr.splitlines() if line.strip()]) <= 3, done.stderr
    assert "flush False dropped {'DuckDBSpanExporter': 0}" in done.stdout
    assert elapsed < 15, elapsed  # never the 30 s wait of before
    kept = list(spool_dir(db).glob("*.arrow"))
    assert kept, "the spans must stay on disk for a later writer"
    assert sum(_rows_in(p) for p in kept) == 50
    if before is not None:
        assert db.read_bytes() == before  # the file itself is untouched


def _rows_in(path: Path) -> int:
    from llmtrace.store.spool import spans_in

    return spans_in(path)


def test_another_applications_database_may_be_shared_when_the_user_opts_in(tmp_path):
    db = tmp_path / "shared.duckdb"
    _foreign_duckdb(db)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    env["LLMTRACE_ALLOW_FOREIGN_DB"] = "1"
    done = subprocess.run(
        [sys.executable, "-c", _TRACE_AND_EXIT, str(db)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "flush True" in done.stdout
    assert _counts(db) == (50, 50)
    conn = duckdb.connect(str(db), read_only=True)
    assert conn.execute("SELECT total FROM orders").fetchall() == [(9.5,)]
    conn.close()


def test_a_zero_byte_store_left_by_a_killed_creation_is_started_afresh(tmp_path):
    db = tmp_path / "blank.duckdb"
    db.touch()
    done = _python(_TRACE_AND_EXIT, str(db), timeout=120)
    assert done.returncode == 0, done.stderr
    assert "flush True" in done.stdout
    assert _counts(db) == (50, 50)


def test_a_store_held_by_another_process_at_exit_leaves_the_spans_on_disk_quickly(tmp_path):
    """Exit does not wait out a busy store: the batches are on disk, and it says so once."""
    db = tmp_path / "held.duckdb"
    duckdb.connect(str(db)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); time.sleep(120)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        start = time.monotonic()
        done = _python(_TRACE_AND_EXIT, str(db), timeout=120)
        elapsed = time.monotonic() - start
    finally:
        holder.kill()
        holder.wait()
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert "flush False dropped {'DuckDBSpanExporter': 0}" in done.stdout
    assert elapsed < 20, elapsed
    assert "waiting in" in done.stderr
    from llmtrace.store.query import open_store_for_read

    open_store_for_read(db).close()  # the next reader stores them
    assert _counts(db) == (50, 50)


_FULL_DISK = """
import json, sys, llmtrace
db = sys.argv[1]
handle = llmtrace.configure(service_name="full", db=db)
for i in range(20_000):
    with llmtrace.tool("step") as span:
        span.set_attribute("payload", "x" * 200)
ok = handle.flush(20_000)
handle.shutdown()
print(json.dumps({"ok": ok, "dropped": handle.dropped_spans}))
"""


@pytest.mark.parametrize(
    ("size", "outcome"),
    [("1m", "lost"), ("12m", "kept")],
    ids=["1MiB-no-room-for-a-batch", "12MiB-no-room-to-commit"],
)
def test_a_full_disk_loses_nothing_silently_and_what_was_kept_lands_later(tmp_path, size, outcome):
    """A small tmpfs (mounted in a private mount namespace) fills while 20,000 spans are traced.
    With no room for even one batch file the lot is lost and counted; with room for the files
    but not for DuckDB's commit they are kept, and land once there is space. Either way every
    span is stored, kept on disk, or counted, flush() says False, and no traceback."""
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare to mount a small tmpfs")
    mount = tmp_path / "small"
    mount.mkdir()
    db = mount / "full.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    script = (
        f"mount -t tmpfs -o size={size} tmpfs {mount} && "
        f'{sys.executable} -c "$0" {db}; status=$?; '
        f"cp -r {mount} {tmp_path}/after; exit $status"
    )
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, _FULL_DISK],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    if "mount:" in done.stderr and "permission denied" in done.stderr.lower():
        pytest.skip("this sandbox does not allow mounting a tmpfs")
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    lost = result["dropped"]["DuckDBSpanExporter"]
    after = tmp_path / "after"
    stored = _counts(after / "full.duckdb")[0] if (after / "full.duckdb").exists() else 0
    kept = sum(_rows_in(p) for p in (after / "full.duckdb.spool").glob("*.arrow"))
    assert result["ok"] is False
    assert stored + kept + lost == 20_000, (stored, kept, lost)
    assert (lost > 0) if outcome == "lost" else (lost == 0 and kept > 0), (stored, kept, lost)
    assert not list((after / "full.duckdb.spool").glob("*.tmp"))
    if kept:  # space returns (the same files on a disk with room): what was kept lands once
        from llmtrace.store.query import open_store_for_read

        open_store_for_read(after / "full.duckdb").close()
        assert _counts(after / "full.duckdb") == (stored + kept, stored + kept)


_FORK_POOL = """
import json, multiprocessing, sys, llmtrace
handle = llmtrace.configure(service_name="forked", db=sys.argv[1])
with llmtrace.tool("parent"):
    pass

def work(i):
    with llmtrace.tool("child") as span:
        span.set_attribute("i", i)
    return i

if __name__ == "__main__":
    pool = multiprocessing.get_context("fork").Pool(3)
    assert sorted(pool.map(work, range(300))) == list(range(300))
    pool.close()
    pool.join()
    print(json.dumps({"ok": handle.flush()}))
"""


def test_spans_from_fork_pool_workers_are_stored(tmp_path):
    db = tmp_path / "forked.duckdb"
    done = _python(_FORK_POOL, str(db), timeout=120)
    assert done.returncode == 0, done.stderr
    conn = duckdb.connect(str(db), read_only=True)
    rows = dict(conn.execute("SELECT name, count(*) FROM spans GROUP BY 1").fetchall())
    conn.close()
    assert rows == {"execute_tool parent": 1, "execute_tool child": 300}


def test_four_apps_sharing_a_store_with_their_mergers_killed_lose_nothing(tmp_path):
    db = tmp_path / "shared.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    apps = [
        subprocess.Popen(
            [sys.executable, "-c", _KILLED_MERGERS, str(db), "15000", "0.5"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for _ in range(4)
    ]
    results = []
    for app in apps:
        out, err = app.communicate(timeout=600)
        assert app.returncode == 0, err
        assert "Traceback" not in err
        results.append(json.loads(out.strip().splitlines()[-1]))
    assert all(r["dropped"] == {"DuckDBSpanExporter": 0} for r in results), results
    from llmtrace.store.query import open_store_for_read

    open_store_for_read(db).close()
    assert _counts(db) == (60_000, 60_000)


_NO_MERGER = """
import json, os, sys, llmtrace
from llmtrace.store.spool import spool_dir
handle = llmtrace.configure(service_name="nomerger", db=sys.argv[1])
most = 0
for i in range(60_000):
    with llmtrace.tool("step"):
        pass
    if i % 2_000 == 0:
        folder = spool_dir(handle.db_path)
        most = max(most, len(os.listdir(folder)) if folder.exists() else 0)
ok = handle.flush(30_000)
print(json.dumps({"ok": ok, "most_files": most, "dropped": handle.dropped_spans}))
"""


def test_without_a_merger_the_spool_stays_bounded_and_everything_lands(tmp_path):
    """A merger that can never start (no interpreter for it): the writer thread merges the
    spool itself once a few files wait, instead of letting files pile up until exit."""
    db = tmp_path / "nomerger.duckdb"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    env["LLMTRACE_MERGER_PYTHON"] = "/bin/false"
    done = subprocess.run(
        [sys.executable, "-c", _NO_MERGER, str(db)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["ok"] is True and result["dropped"] == {"DuckDBSpanExporter": 0}
    assert result["most_files"] <= 12, result
    assert _counts(db) == (60_000, 60_000)


def test_flush_says_false_after_the_queue_dropped_spans_and_true_after_a_clean_round() -> None:
    """Spans the full queue dropped did not land: the next flush says so, once."""
    import threading

    from opentelemetry.sdk.trace.export import SpanExportResult

    from llmtrace._tracing.processors import CountingBatchSpanProcessor
    from llmtrace.testing import make_spans

    release = threading.Event()

    class Stuck:  # holds the first batch until released, so the queue fills for sure
        def export(self, spans: object) -> SpanExportResult:
            release.wait(10)
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30_000) -> bool:
            return True

    processor = CountingBatchSpanProcessor(
        Stuck(), max_queue_size=10, max_export_batch_size=5, schedule_delay_millis=60_000
    )
    for span in make_spans(50):
        processor.on_end(span)
    release.set()
    assert processor.dropped_spans >= 50 - 10 - 5
    assert processor.force_flush() is False
    assert processor.force_flush() is True
    processor.shutdown()
