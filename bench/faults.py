"""Issue #7: each store fault, made for real, with spans made vs stored vs reported lost,
duplicates, the application's time and its exit time.

Every scenario runs the traced application in a fresh interpreter against the llmtrace found on
``PYTHONPATH`` (or installed), and only public names, so the same table can be printed for an
older checkout: ``PYTHONPATH=/path/to/old/checkout python -m bench.faults``.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pyarrow as pa

# The traced application: N spans, one odd value if asked, flush, report, exit.
_APP = """
import json, os, signal, sys, threading, time
import llmtrace
db, total, odd, kill_every = sys.argv[1], int(sys.argv[2]), sys.argv[3], float(sys.argv[4])
handle = llmtrace.configure(service_name="faults", db=db)
exporter = handle.exporters[0] if handle.exporters else None
kills = []
stop = threading.Event()
def killer():
    while not stop.wait(kill_every):
        merger = getattr(exporter, "_merger", None)
        process = getattr(merger, "_process", None)
        if process is not None and process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            kills.append(process.pid)
if kill_every > 0:
    threading.Thread(target=killer, daemon=True).start()
start = time.perf_counter()
for i in range(total):
    with llmtrace.tool("step") as span:
        span.set_attribute("i", i)
        if odd == "surrogate" and i == total // 2:
            span.set_attribute("file", b"caf\\xe9.txt".decode("utf-8", "surrogateescape"))
    if kill_every > 0 and i % 5000 == 0:
        time.sleep(0.01)
stop.set()
app_s = time.perf_counter() - start
try:
    ok = handle.flush(30_000)
except Exception as exc:
    ok = f"raised {type(exc).__name__}"
flush_s = time.perf_counter() - start - app_s
print(json.dumps({"ok": ok, "dropped": sum(handle.dropped_spans.values()), "app_s": app_s,
                  "flush_s": flush_s, "kills": len(kills)}), flush=True)
"""

_FORK_APP = """
import json, multiprocessing, sys, time, llmtrace
handle = llmtrace.configure(service_name="forked", db=sys.argv[1])
def work(i):
    with llmtrace.tool("child"):
        pass
    return i
if __name__ == "__main__":
    start = time.perf_counter()
    pool = multiprocessing.get_context("fork").Pool(3)
    pool.map(work, range(int(sys.argv[2])))
    pool.close()
    pool.join()
    app_s = time.perf_counter() - start
    ok = handle.flush(30_000)
    flush_s = time.perf_counter() - start - app_s
    print(json.dumps({"ok": ok, "dropped": sum(handle.dropped_spans.values()), "app_s": app_s,
                      "flush_s": flush_s, "kills": 0}), flush=True)
"""


@dataclass
class Outcome:
    made: int
    stored: int
    distinct: int
    kept_on_disk: int
    reported_lost: int
    flush: object
    app_s: float
    flush_s: float
    exit_s: float
    note: str = ""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    if "PYTHONPATH" not in env:  # run from a checkout: measure that checkout
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
    env.update(extra)
    return env


def _spool_rows(db: Path) -> int:
    total = 0
    for path in db.with_name(db.name + ".spool").glob("*.arrow"):
        with pa.memory_map(str(path), "r") as source:
            total += pa.ipc.open_file(source).read_all().num_rows
    return total


def _stored(db: Path) -> tuple[int, int]:
    if not db.is_file() or db.stat().st_size == 0:
        return 0, 0
    try:
        with duckdb.connect(str(db), read_only=True) as conn:
            row = conn.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchall()
            return int(row[0][0]), int(row[0][1])
    except duckdb.Error:
        return 0, 0


def _run(
    code: str, db: Path, args: list[str], env: dict[str, str], prefix: list[str] | None = None
) -> tuple[dict[str, object], float, str]:
    """Run the app; returns its report, the seconds from its report to its exit, and a note."""
    process = subprocess.Popen(
        [*(prefix or []), sys.executable, "-c", code, str(db), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=db.parent,  # never this checkout: PYTHONPATH chooses the llmtrace measured
    )
    assert process.stdout is not None and process.stderr is not None
    result: dict[str, object] = {}
    for line in process.stdout:
        if line.startswith("{"):
            result = json.loads(line)
            break
    reported = time.perf_counter()
    _, stderr = process.communicate(timeout=900)
    exit_s = time.perf_counter() - reported
    tracebacks = stderr.count("Traceback")
    return result, exit_s, f"exit {process.returncode}, {tracebacks} traceback(s)"


def _outcome(db: Path, made: int, result: dict[str, object], exit_s: float, note: str) -> Outcome:
    stored, distinct = _stored(db)
    return Outcome(
        made=made,
        stored=stored,
        distinct=distinct,
        kept_on_disk=_spool_rows(db),
        reported_lost=int(result.get("dropped", -1)),  # type: ignore[call-overload]
        flush=result.get("ok", "no answer"),
        app_s=float(result.get("app_s", 0.0)),  # type: ignore[arg-type]
        flush_s=float(result.get("flush_s", 0.0)),  # type: ignore[arg-type]
        exit_s=exit_s,
        note=note,
    )


def surrogate(folder: Path) -> Outcome:
    db = folder / "odd.duckdb"
    result, elapsed, note = _run(_APP, db, ["1000", "surrogate", "0"], _env())
    return _outcome(db, 1000, result, elapsed, note)


def killed_mergers(folder: Path) -> Outcome:
    db = folder / "killed.duckdb"
    result, elapsed, note = _run(_APP, db, ["100000", "", "0.3"], _env())
    return _outcome(db, 100_000, result, elapsed, f"{result.get('kills', 0)} kills; {note}")


def text_file_store(folder: Path) -> Outcome:
    db = folder / "text.duckdb"
    db.write_text("not a database\n" * 100)
    result, elapsed, note = _run(_APP, db, ["1000", "", "0"], _env())
    return _outcome(db, 1000, result, elapsed, note)


def foreign_duckdb(folder: Path) -> Outcome:
    db = folder / "foreign.duckdb"
    with duckdb.connect(str(db)) as conn:
        conn.execute("CREATE TABLE spans (id INTEGER)")  # their own table named spans
    result, elapsed, note = _run(_APP, db, ["1000", "", "0"], _env())
    outcome = _outcome(db, 1000, result, elapsed, note)
    outcome.stored = 0  # their `spans` table is not ours
    return outcome


def sqlite_file(folder: Path) -> Outcome:
    db = folder / "lite.duckdb"
    conn = sqlite3.connect(db)
    conn.execute("CREATE TABLE notes (body TEXT)")
    conn.commit()
    conn.close()
    result, elapsed, note = _run(_APP, db, ["1000", "", "0"], _env())
    return _outcome(db, 1000, result, elapsed, note)


def held_store(folder: Path) -> Outcome:
    db = folder / "held.duckdb"
    duckdb.connect(str(db)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys, time; c = duckdb.connect(sys.argv[1]); print('held', "
            "flush=True); time.sleep(600)",
            str(db),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        holder.stdout.readline()
        result, elapsed, note = _run(_APP, db, ["1000", "", "0"], _env())
    finally:
        holder.kill()
        holder.wait()
    return _outcome(db, 1000, result, elapsed, note)


def full_disk(folder: Path) -> Outcome:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return Outcome(20_000, 0, 0, 0, 0, "skipped", 0, 0, "needs root and unshare")
    mount = folder / "small"
    mount.mkdir()
    db = mount / "full.duckdb"
    after = folder / "after"
    script = (
        f"mount -t tmpfs -o size=4m tmpfs {mount} && "
        f'{sys.executable} -c "$0" "$@"; s=$?; cp -r {mount} {after}; exit $s'
    )
    start = time.perf_counter()
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", script, _APP, str(db), "20000", "", "0"],
        capture_output=True,
        text=True,
        env=_env(),
        cwd=folder,
        timeout=900,
    )
    elapsed = time.perf_counter() - start
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    result = json.loads(lines[-1]) if lines else {}
    note = f"exit {done.returncode}, {done.stderr.count('Traceback')} traceback(s)"
    spent = float(result.get("app_s", 0.0)) + float(result.get("flush_s", 0.0))  # type: ignore[arg-type]
    outcome = _outcome(after / "full.duckdb", 20_000, result, max(elapsed - spent, 0.0), note)
    tmp_files = len(list((after / "full.duckdb.spool").glob("*.tmp")))
    outcome.note += f", {tmp_files} .tmp file(s) left"
    return outcome


def fork_pool(folder: Path) -> Outcome:
    db = folder / "forked.duckdb"
    result, elapsed, note = _run(_FORK_APP, db, ["300"], _env())
    return _outcome(db, 300, result, elapsed, note)


SCENARIOS: list[tuple[str, Callable[[Path], Outcome]]] = [
    ("lone surrogate in one attribute", surrogate),
    ("merger SIGKILLed every 0.3 s", killed_mergers),
    ("store path is a text file", text_file_store),
    ("store path is a SQLite file", sqlite_file),
    ("store is another app's DuckDB", foreign_duckdb),
    ("store held by another process", held_store),
    ("4 MiB disk fills up", full_disk),
    ("fork pool, 3 workers", fork_pool),
]


def filter_on_mixed_row_groups(folder: Path) -> str:
    """40,000 spans under tenant=acme then 500 under beta, from two processes; what a plain
    DuckDB connection's filter answers."""
    db = folder / "tenants.duckdb"
    code = (
        "import sys, llmtrace\n"
        "llmtrace.configure(service_name='t', db=sys.argv[1])\n"
        "with llmtrace.context(tenant=sys.argv[2]):\n"
        "    for i in range(int(sys.argv[3])):\n"
        "        with llmtrace.tool('x'):\n"
        "            pass\n"
    )
    for tenant, count in (("acme", "40000"), ("beta", "500")):
        subprocess.run(
            [sys.executable, "-c", code, str(db), tenant, count],
            env=_env(),
            cwd=folder,
            check=True,
        )
    sql = "SELECT count(*) FROM spans WHERE attributes['llmtrace.context.tenant']::VARCHAR = ?"
    with duckdb.connect(str(db), read_only=True) as conn:
        beta = conn.execute(sql, ["beta"]).fetchall()[0][0]
        acme = conn.execute(sql, ["acme"]).fetchall()[0][0]
    return f"beta {beta} (truth 500), acme {acme} (truth 40,000)"


def run() -> None:
    print("store faults (issue 7): made / stored (distinct) / kept on disk / reported lost")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print(f"  filter on mixed row groups: {filter_on_mixed_row_groups(folder)}")
        for name, scenario in SCENARIOS:
            sub = folder / name.replace(" ", "_").replace("'", "")
            sub.mkdir()
            o = scenario(sub)
            print(
                f"  {name:32} made {o.made:>7,} stored {o.stored:>7,} ({o.distinct:,})"
                f" disk {o.kept_on_disk:>6,} lost {o.reported_lost:>6,} flush {o.flush!s:5}"
                f" app {o.app_s:5.1f}s flush {o.flush_s:5.1f}s exit {o.exit_s:5.1f}s  {o.note}"
            )


if __name__ == "__main__":
    run()
