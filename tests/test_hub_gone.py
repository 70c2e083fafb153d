"""A shared merger (hub) that goes away after a process gave it files and before it answered
(killed, or ending just as the process came): the files are spool files still, and the
process asks a hub again (one is started) instead of loading DuckDB to store them itself.
Real processes and a real SIGKILL; the hub is stopped (SIGSTOP) first so that it cannot store
the files before it dies."""

from __future__ import annotations

import json
import os
import socket
import threading
from pathlib import Path
from typing import Any

from llmtrace.exporters.duckdb import hub as hub_module
from llmtrace.exporters.duckdb import hub_client
from tests.conftest import count_spans_read_write, run_python

_APP = """
import json, os, signal, sys, threading
import llmtrace
from llmtrace.exporters.duckdb import DuckDBSpanExporter, hub_client

handle = llmtrace.configure(service_name="gone", db=sys.argv[1])
exporter = next(e for e in handle.exporters if isinstance(e, DuckDBSpanExporter))
exporter._hub.warming.join()  # connected to the hub this process started
hub = hub_client._started[-1]
os.kill(hub.pid, signal.SIGSTOP)  # it takes the files, and stores nothing


@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(i):
    return {"usage": {"prompt_tokens": 10, "completion_tokens": 5}}


for i in range(50):
    call(i)
threading.Timer(float(sys.argv[2]), os.kill, (hub.pid, signal.SIGKILL)).start()
ok = handle.flush()
print(json.dumps({
    "ok": ok,
    "lost": sum(handle.dropped_spans.values()),
    "merged_here": "llmtrace.exporters.duckdb.merge_here" in sys.modules,
    "duckdb": "duckdb" in sys.modules,
}))
"""


def _run(tmp_path: Path, kill_after_s: float) -> tuple[dict[str, object], Path]:
    db = tmp_path / "gone.duckdb"
    done = run_python(
        _APP,
        args=[str(db), str(kill_after_s)],
        env={"LLMTRACE_MERGER_LINGER_S": "0.5", "LLMTRACE_CACHE_DIR": str(tmp_path / "c")},
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1]), db


def test_a_hub_that_dies_before_answering_is_asked_again_and_nothing_is_lost(tmp_path):
    result, db = _run(tmp_path, 0.5)
    assert result == {"ok": True, "lost": 0, "merged_here": False, "duckdb": False}
    assert count_spans_read_write(db) == (50, 50)


_EXITING_APP = """
import atexit, os, signal, sys, threading, time


@atexit.register  # before llmtrace's: runs after it
def said():
    print("merged_here", "llmtrace.exporters.duckdb.merge_here" in sys.modules, flush=True)


import llmtrace
from llmtrace.exporters.duckdb import DuckDBSpanExporter, hub_client

handle = llmtrace.configure(service_name="gone", db=sys.argv[1])
exporter = next(e for e in handle.exporters if isinstance(e, DuckDBSpanExporter))
exporter._hub.warming.join()
hub = hub_client._started[-1]
os.kill(hub.pid, signal.SIGSTOP)


@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(i):
    return {"usage": {"prompt_tokens": 10, "completion_tokens": 5}}


for i in range(50):
    call(i)


def kill_later():  # a daemon: it runs on while the process exits, unlike a Timer
    time.sleep(float(sys.argv[2]))
    os.kill(hub.pid, signal.SIGKILL)


threading.Thread(target=kill_later, daemon=True).start()
"""


def test_a_process_ending_as_its_hub_dies_asks_another_hub(tmp_path):
    db = tmp_path / "gone.duckdb"
    done = run_python(
        _EXITING_APP,
        args=[str(db), "0.5"],
        env={"LLMTRACE_MERGER_LINGER_S": "0.5", "LLMTRACE_CACHE_DIR": str(tmp_path / "c")},
    )
    assert done.returncode == 0, done.stderr
    assert "not stored" not in done.stderr, done.stderr
    assert done.stdout.split() == ["merged_here", "False"], done.stdout
    assert count_spans_read_write(db) == (50, 50)


def _serving(tmp_path: Path, *, close: bool) -> tuple[hub_client.HubSession, list[socket.socket]]:
    """A session connected to a real listening socket standing in for a hub that either
    closes the connection at once (it died) or keeps it and never answers (a slow one)."""
    session = hub_client.HubSession(tmp_path / "s.duckdb")
    session.name = f"llmtrace-test-hub-{os.getpid()}-{id(session)}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + session.name)
    listener.listen(1)
    assert session.connect(start=False)
    peer, _ = listener.accept()
    if close:
        peer.close()
    return session, [listener, peer]


def test_a_hub_that_went_away_and_one_that_is_slow_are_told_apart(tmp_path):
    gone, sockets = _serving(tmp_path, close=True)
    assert gone.sync(2.0) is None and gone.went_away
    slow, more = _serving(tmp_path, close=False)
    assert slow.sync(0.2) is None and not slow.went_away  # no second hub for a slow one
    for sock in sockets + more:
        sock.close()


def test_a_client_that_comes_as_the_hub_decides_to_end_is_served(tmp_path):
    """The linger runs out between the hub's last look at its socket and its end: a
    connection queued meanwhile is taken and answered, not reset. (The first look is made to
    see nothing, so the connection is the one that came just after it.)"""
    name = f"llmtrace-test-hub-end-{os.getpid()}"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0" + name)
    listener.listen(8)
    hub = hub_module.Hub(listener, linger_s=0.0)
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect("\0" + name)
    client.sendall(b"sync\n")
    looks: list[float] = []
    real_select = hub.selector.select

    def select(timeout: float | None = None) -> list[Any]:
        looks.append(timeout or 0.0)
        return [] if len(looks) == 1 else real_select(timeout)

    hub.selector.select = select  # type: ignore[method-assign]
    serving = threading.Thread(target=hub.run, daemon=True)
    serving.start()
    client.settimeout(5)
    try:
        assert client.recv(64) == b"synced ok\n"
    finally:
        client.close()
        serving.join(5)
        hub.close()
    assert not serving.is_alive()
