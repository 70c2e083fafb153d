"""The shared merger (exporters/duckdb/hub.py): short processes of one store hand what they
leave at exit to one process, which stores it before they end; a hub that dies, hangs or is
missing loses nothing, and an idle hub does not hold the store's file."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from llmtrace.exporters.duckdb.hub_client import address
from llmtrace.store.spool import spool_files
from tests.conftest import count_spans_read_write

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

# Traces N spans and ends; at the very end (after llmtrace's exit handlers) it says whether
# DuckDB was ever loaded in this process.
_SHORT = """
import atexit, sys
atexit.register(lambda: print("duckdb loaded:", "duckdb" in sys.modules, file=sys.stderr))
import llmtrace
llmtrace.configure(service_name="short", db=sys.argv[1])

@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(i):
    return {"usage": {"prompt_tokens": 10, "completion_tokens": 2}}

for i in range(int(sys.argv[2])):
    call(i)
"""


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    return {**env, "LLMTRACE_MERGER_LINGER_S": "3", **extra}


def _short(db: Path, spans: int = 10, **extra: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _SHORT, str(db), str(spans)],
        cwd=ROOT,
        env=_env(**extra),
        stderr=subprocess.PIPE,
        text=True,
    )


def _finish(process: subprocess.Popen[str]) -> str:
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err
    return err


_count = count_spans_read_write  # read-write: nobody may hold the file


def _hub_pid(db: Path) -> int | None:
    name = address(db, _env())  # the traced processes' environment: their hub
    assert name is not None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect("\0" + name)
        creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        return int(struct.unpack("3i", creds)[0])
    except OSError:
        return None
    finally:
        sock.close()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _end_the_hub(db: Path) -> None:
    pid = _hub_pid(db)
    if pid is not None:
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while _alive(pid):
            assert time.monotonic() < deadline
            time.sleep(0.02)


def _wait_for_hub(db: Path, timeout_s: float = 30) -> int:
    deadline = time.monotonic() + timeout_s
    while (pid := _hub_pid(db)) is None:
        assert time.monotonic() < deadline, "no hub came up"
        time.sleep(0.02)
    return pid


def test_a_short_process_is_stored_by_the_hub_before_it_ends(tmp_path):
    """Its spans are in the file as soon as it has ended (a plain read-write connection opens
    it and sees them), it never loaded DuckDB itself, and it said nothing."""
    db = tmp_path / "hub.duckdb"
    err = _finish(_short(db, 1_000))
    assert "duckdb loaded: False" in err
    assert "llmtrace:" not in err
    assert _count(db) == (1_000, 1_000)
    assert spool_files(db) == []
    assert _hub_pid(db) is not None  # lingering, without holding the file (read above)


def test_twenty_parallel_processes_are_all_stored_through_one_hub(tmp_path):
    db = tmp_path / "many.duckdb"
    processes = [_short(db) for _ in range(20)]
    errors = [_finish(p) for p in processes]
    assert not [e for e in errors if "llmtrace:" in e], errors  # no "waiting" noise
    assert sum("duckdb loaded: False" in e for e in errors) >= 15, errors  # nearly all: the hub
    assert _count(db) == (200, 200)
    assert spool_files(db) == []


def test_the_hub_ends_after_lingering_and_the_next_process_starts_another(tmp_path):
    db = tmp_path / "linger.duckdb"
    _finish(_short(db, 5, LLMTRACE_MERGER_LINGER_S="0.5"))
    first = _hub_pid(db)  # asking it is a visit: it lingers from now on
    assert first is not None
    deadline = time.monotonic() + 30
    while _alive(first):
        assert time.monotonic() < deadline, "the hub outlived its linger"
        time.sleep(0.05)
    assert _hub_pid(db) is None
    _finish(_short(db, 5))
    assert _hub_pid(db) not in (None, first)
    assert _count(db) == (10, 10)


def test_a_killed_hub_loses_nothing(tmp_path):
    """SIGKILL to the hub between two processes: the next process starts another hub, and
    what the killed hub held (nothing but spool files) is stored once."""
    db = tmp_path / "killed.duckdb"
    _finish(_short(db, 7))
    os.kill(_wait_for_hub(db), signal.SIGKILL)
    err = _finish(_short(db, 5))
    assert "llmtrace:" not in err
    assert _count(db) == (12, 12)


def test_a_hub_killed_while_processes_end_together_loses_nothing(tmp_path):
    """SIGKILL to the hub while twelve processes end at once (it stores the files of those
    that wait together, in one transaction): whatever it had not committed is still spool
    files, which the processes or the next reader store; no span is lost or stored twice."""
    db = tmp_path / "killed-batch.duckdb"
    _end_the_hub(db)
    processes = [_short(db, 10) for _ in range(12)]
    ours = {p.pid for p in processes}
    deadline = time.monotonic() + 120
    # (A connection made before the hub listened names the process that bound its name.)
    while (hub := _wait_for_hub(db)) in ours:
        assert time.monotonic() < deadline
        time.sleep(0.005)
    while all(p.poll() is None for p in processes):  # the first has ended: the rest are ending
        assert time.monotonic() < deadline
        time.sleep(0.005)
    os.kill(hub, signal.SIGKILL)
    for process in processes:
        _finish(process)
    conn = duckdb.connect(str(db))
    try:
        from llmtrace.store.spool import merge_spool

        merge_spool(conn, db)  # what a reader through llmtrace does first
        counted = conn.execute("SELECT count(*), count(DISTINCT span_id) FROM spans").fetchall()
    finally:
        conn.close()
    assert counted[0] == (120, 120)


# A stand-in that takes the hub's name and dies as soon as a client has spoken (a hub killed
# in the middle of storing), or takes it and never answers (a hung hub).
_FAKE_HUB = """
import socket, sys, time
listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
listener.bind("\\0" + sys.argv[1])
listener.listen(16)
print("bound", flush=True)
if sys.argv[2] == "die":
    conn, _ = listener.accept()
    conn.recv(65536)
    sys.exit(0)
time.sleep(120)
"""


@pytest.mark.parametrize("how", ["die", "hang"])
def test_a_hub_that_dies_or_hangs_mid_way_loses_nothing(tmp_path, how):
    """The exiting process waits a bounded time for an answer, then stores its spans itself;
    it says nothing, and no span is lost or stored twice."""
    db = tmp_path / f"{how}.duckdb"
    name = address(db, _env())
    assert name is not None
    _end_the_hub(db)  # one from an earlier test may still linger: the stand-in takes its name
    fake = subprocess.Popen(
        [sys.executable, "-c", _FAKE_HUB, name, how], stdout=subprocess.PIPE, text=True
    )
    try:
        assert fake.stdout is not None and fake.stdout.readline().strip() == "bound"
        start = time.monotonic()
        err = _finish(_short(db, 9))
        elapsed = time.monotonic() - start
    finally:
        fake.kill()
        fake.wait()
    assert "llmtrace:" not in err
    assert elapsed < 60
    assert _count(db) == (9, 9)
    assert spool_files(db) == []


def test_one_hub_serves_several_stores(tmp_path):
    """Processes of two stores at once: one hub (a second would have found the name taken),
    each store gets its own spans, and neither file is held once they have ended."""
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    processes = [_short(one, 3), _short(two, 4), _short(one, 3), _short(two, 4)]
    for process in processes:
        _finish(process)
    assert _count(one) == (6, 6) and _count(two) == (8, 8)
    assert _hub_pid(one) == _hub_pid(two) is not None


def _hold(db: Path) -> subprocess.Popen[str]:
    """Another process that holds ``db`` (a blank DuckDB file) until it reads a line, says
    'released', and ends at the next line or the end of its input."""
    duckdb.connect(str(db)).close()
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import duckdb, sys; c = duckdb.connect(sys.argv[1]); "
            "print('held', flush=True); sys.stdin.readline(); c.close(); "
            "print('released', flush=True); sys.stdin.readline()",
            str(db),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
    return holder


def test_a_store_held_by_another_process_is_said_once_and_stored_later(tmp_path):
    """The hub cannot have the file at exit: the process ends within the bound, says how
    many of its files wait and why, and the next reader stores them."""
    db = tmp_path / "held.duckdb"
    holder = _hold(db)
    try:
        err = _finish(_short(db, 6))
    finally:
        holder.communicate("release\n", timeout=30)
    assert "1 batch file(s) of this process's spans were not stored" in err
    assert "held by another process" in err
    import llmtrace

    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=db) == [{"n": 6}]


def test_files_of_a_client_that_went_away_wait_for_the_next_reader(tmp_path):
    """A client that gives its files and goes away while the store is held: once the holder
    lets go, the hub (still lingering, no client of that store connected) leaves the file
    alone, so a plain DuckDB client gets in; the files wait in the spool for the next reader."""
    db = tmp_path / "left.duckdb"
    holder = _hold(db)
    try:
        _finish(_short(db, 6, LLMTRACE_MERGER_LINGER_S="30"))  # its files wait in the spool
        files = spool_files(db)
        assert files
        name = address(db, _env(LLMTRACE_MERGER_LINGER_S="30"))
        assert name is not None
        _wait_for_hub(db)
        client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        client.connect("\0" + name)
        lines = [f"store {db}", *(f"file {path}" for path in files)]
        client.sendall(("\n".join(lines) + "\n").encode())
        time.sleep(0.3)
        client.close()  # gone without waiting for an answer
        time.sleep(0.3)
        assert holder.stdin is not None
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "released"
        time.sleep(1.5)  # many of the hub's polls
        assert spool_files(db) == files
        duckdb.connect(str(db)).close()  # read-write: nobody holds the file
    finally:
        holder.communicate("end\n", timeout=30)
        _end_the_hub(db)
    import llmtrace

    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=db) == [{"n": 6}]


def test_without_the_hub_a_process_stores_its_spans_itself(tmp_path):
    db = tmp_path / "nohub.duckdb"
    err = _finish(_short(db, 8, LLMTRACE_SHARED_MERGER="0"))
    assert "duckdb loaded: True" in err  # it merged its spans itself
    assert _count(db) == (8, 8)


_YOUNG = """
import sys, time
import llmtrace
handle = llmtrace.configure(service_name="young", db=sys.argv[1])
exporter = handle.exporters[0]

@llmtrace.tool("step")
def step(i):
    return i

for i in range(int(sys.argv[2])):
    step(i)
time.sleep(2.5)  # exported (0.5 s) and handed over (1.5 s) while the process runs
print("flushed", handle.flush(), flush=True)
for i in range(int(sys.argv[2])):
    step(i)
print("merger starts", exporter._merger._starts, flush=True)
"""


@pytest.mark.parametrize(("spans", "own_merger"), [(50, False), (25_000, True)])
def test_a_young_process_hands_its_files_to_the_hub_and_starts_no_merger(
    tmp_path, spans, own_merger
):
    """A process that lives a few seconds hands its files to the hub as it goes (flush waits
    for them): it never starts a merger process of its own. Under load (more spans than a
    young process hands the hub) it starts its own, as before. Every span lands, once."""
    db = tmp_path / "young.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", _YOUNG, str(db), str(spans)],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "flushed True" in done.stdout
    starts = int(done.stdout.split("merger starts")[-1])
    assert (starts > 0) is own_merger, done.stdout
    assert "llmtrace:" not in done.stderr
    assert _count(db) == (2 * spans, 2 * spans)


_SHUTDOWN_THEN_CONNECT = """
import sys, time
import duckdb
import llmtrace
handle = llmtrace.configure(service_name="young", db=sys.argv[1])

@llmtrace.tool("step")
def step(i):
    return i

for i in range(30):
    step(i)
time.sleep(float(sys.argv[2]))  # handed to the hub at ~1.5 s, which stores it and holds a moment
handle.shutdown()
conn = duckdb.connect(sys.argv[1])  # read-write, in this process: nobody may hold the file
print("stored", conn.execute("SELECT count(*) FROM spans").fetchall()[0][0], flush=True)
conn.close()
"""


@pytest.mark.parametrize("pause", ["1.6", "1.8", "2.5"])
def test_after_shutdown_the_hub_holds_no_lock(tmp_path, pause):
    """shutdown() ends this process's session with the hub, which lets go of the file before
    it answers: a plain connection opened right after gets in and sees every span."""
    db = tmp_path / "released.duckdb"
    done = subprocess.run(
        [sys.executable, "-c", _SHUTDOWN_THEN_CONNECT, str(db), pause],
        cwd=ROOT,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "stored 30" in done.stdout


def test_a_session_whose_hub_closed_it_is_no_longer_connected(tmp_path, monkeypatch):
    """A hub that ended, or let go of a client silent for long, closed its end: the session
    says it is not connected, so the exporter connects afresh at exit instead of writing into
    a dead connection."""
    from llmtrace.exporters.duckdb.hub_client import HubSession

    monkeypatch.setenv("LLMTRACE_TEST_HUB", tmp_path.name)  # a hub name of this test's own
    db = tmp_path / "session.duckdb"
    name = address(db)
    assert name is not None
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + name)
    listener.listen(1)
    try:
        session = HubSession(db)
        assert session.connect(start=False)
        accepted, _ = listener.accept()
        assert accepted.recv(4096).startswith(b"store ")
        assert session.connected
        accepted.close()
        deadline = time.monotonic() + 10
        while session.connected:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not session.give(db)
    finally:
        listener.close()


def test_of_two_starters_one_starts_the_hub_and_it_serves_the_socket_bound_before(monkeypatch):
    """The starter binds the name before the hub's Python starts: a second starter finds it
    taken and starts nothing, and a connection made at once waits in the queue and is
    answered by the hub once it has loaded."""
    from llmtrace.exporters.duckdb import hub_client

    monkeypatch.setenv("LLMTRACE_MERGER_LINGER_S", "2")
    name = f"llmtrace-test-{os.getpid()}-{time.monotonic_ns()}"
    coming, hub = hub_client._start(name)
    try:
        assert coming and hub is not None
        assert hub_client._start(name) == (True, None)  # taken: no second hub
        sock = hub_client._connect(name)
        assert sock is not None
        with sock:
            sock.settimeout(60)
            sock.sendall(b"sync\n")
            assert sock.recv(64) == b"synced ok\n"
    finally:
        if hub is not None:
            hub.kill()
            hub.wait()
