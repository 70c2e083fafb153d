"""A connection to the shared merger says which store before any file, whichever thread gives
the file. The warm-up thread connects while the exporter's thread may hand a file over
(``hand_to_hub``); when the connection was published before its ``store`` line went out, the
file reached the hub first, the hub ignored it (no store yet) and answered the flush's sync
"ok" with the file unstored, so the traced process stored it itself, loading DuckDB
(test_app_lean's warning; 1 cold start in ~7 reproduced it).

The hub here is a real Unix socket read by the test; the connection's first send is held back
(a socket subclass) to open the window that the scheduler opened by chance."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from llmtrace.exporters.duckdb import hub_client
from llmtrace.exporters.duckdb.hub_client import HubSession, hand_to_hub

_HELD_S = 0.5


class _HeldSocket(socket.socket):
    """Holds back its first ``sendall`` (the ``store`` line) until ``_HELD_S`` passed or
    another line was sent by the other thread meanwhile."""

    def hold(self, started: threading.Event) -> None:
        self._held = True  # (set before any send; instance attributes of a subclass are fine)
        self._started = started
        self._others = threading.Event()

    def sendall(self, data, flags=0):  # type: ignore[no-untyped-def, override]
        if self._held:
            self._held = False
            self._started.set()
            self._others.wait(_HELD_S)
        else:
            self._others.set()
        return super().sendall(data, flags)


def _lines_heard(server: socket.socket, lines: int) -> list[str]:
    conn, _ = server.accept()
    conn.settimeout(5)
    heard = b""
    with conn:
        while heard.count(b"\n") < lines:
            chunk = conn.recv(4096)
            if not chunk:
                break
            heard += chunk
    return [line.split(" ", 1)[0] for line in heard.decode().splitlines()]


def test_a_file_given_while_the_connection_is_made_reaches_the_hub_after_the_store(
    tmp_path: Path, monkeypatch
) -> None:
    address = str(tmp_path / "hub.sock")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(address)
    server.listen(1)
    started = threading.Event()

    def find_or_start(name: str, wait_s: float) -> socket.socket:
        sock = _HeldSocket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.hold(started)
        sock.connect(address)
        return sock

    monkeypatch.setattr(hub_client, "_find_or_start", find_or_start)
    db = tmp_path / "order.duckdb"
    session = HubSession(db)
    assert session.name is not None
    heard: list[str] = []
    reader = threading.Thread(target=lambda: heard.extend(_lines_heard(server, 2)))
    reader.start()
    warm_up = threading.Thread(target=session.connect, kwargs={"start": True})
    warm_up.start()
    assert started.wait(5)  # the warm-up thread is sending its first line
    handoff = tmp_path / "order.duckdb.spool" / "1-abc.handoff"
    handoff.parent.mkdir()
    handoff.write_text("{}\n")
    assert hand_to_hub(session, handoff)  # the exporter's thread, meanwhile
    warm_up.join(5)
    reader.join(5)
    session.close()
    server.close()
    assert heard == ["store", "file"]
