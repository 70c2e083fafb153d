"""The shared merger: one process per store (and user) that stores what traced processes leave
at exit, so that many short processes share one DuckDB import and one open store instead of
each importing DuckDB and queueing for the file's lock in turn.

A traced process that ends with spans not yet stored (no merger of its own was running: it
lived less than a batch interval) writes them as spool files, as before, then tells this
process their names and waits for the answer (``hub_client``). The answer comes once the files
are stored and, unless another traced process is connected at that moment, the file is let
go of, so a plain ``duckdb.connect`` sees every span as soon as the traced process has ended.

It is found through a Linux abstract socket named after the user and the store's resolved path
(no socket file, so none goes stale: the name dies with the process) and is started by the
first traced process that looks for it (``hub_boot``). It answers only its own user. It holds
the store's file only while storing (and a moment after, while another traced process is
being served), and ends ``linger_s`` after its last client. It never owns a span: everything it
is told of is a spool file already, which anyone may merge exactly once (``spool``), so a
killed hub loses nothing, and whoever opens the store next stores what it left.

A young traced process (its first seconds, before it would start a merger of its own) also
hands it its spool files as it goes, so a process that lives a second or two starts no merger.

Protocol, one line each way: ``file <path>`` (a spool file to store, soon); ``sync``, answered
``synced ok|busy|unusable`` once every file the client gave is stored (ok), or the store stayed
held by another process for ``_FINAL_TRY_S`` (busy: the files stay beside the store, and the
hub goes on trying while it lingers), or can never be written (unusable); ``stop``, the same
answered ``stopped ...``, after which the connection closes.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from ...store.writer import StoreWriter
from .hub_client import peer_uid

__all__ = ["serve"]

# How long the hub tries to store a waiting client's files while the store is held elsewhere.
_FINAL_TRY_S = 1.0
_POLL_S = 0.05
# With nobody being served, the file is let go of after this long without a file to store.
_IDLE_RELEASE_S = 0.25
# A client that says nothing for this long is let go of (it connects again when it ends).
_SILENT_CLIENT_S = 60.0


@dataclass
class _Client:
    sock: socket.socket
    since: float = field(default_factory=time.monotonic)
    buffered: bytes = b""
    files: list[Path] = field(default_factory=list)
    waiting: str = ""  # "sync" (answer, and go on) or "stop" (answer, and close)


class Hub:
    """Serves the traced processes of one store, one waiting client at a time."""

    def __init__(self, listener: socket.socket, writer: StoreWriter, linger_s: float) -> None:
        self.listener = listener
        self.writer = writer
        self.linger_s = linger_s
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ, None)
        self.clients: dict[socket.socket, _Client] = {}
        self.left: list[Path] = []  # files whose client was answered busy, or went away
        self.last_activity = time.monotonic()
        self.last_stored = 0.0

    def run(self) -> None:
        while True:
            busy = (
                self.writer.holding
                or bool(self.left)
                or any(c.files for c in self.clients.values())
            )
            timeout = _POLL_S if busy else max(self._linger_left(), _POLL_S)
            for key, _ in self.selector.select(timeout):
                if key.data is None:
                    self._accept()
                else:
                    self._read(key.data)
            for client in [c for c in self.clients.values() if c.waiting]:
                self._serve(client)
            self._store_given()
            self._tend_lease()
            self._let_go_of_silent_clients()
            if not self.clients and not self.writer.holding and self._linger_left() <= 0:
                return  # what is left is spool files: the next writer or reader stores them

    def _linger_left(self) -> float:
        return self.last_activity + self.linger_s - time.monotonic()

    # --- clients ------------------------------------------------------------------------------
    def _accept(self) -> None:
        try:
            sock, _ = self.listener.accept()
        except OSError:
            return
        if peer_uid(sock) != os.getuid():  # another user's process: not ours to serve
            sock.close()
            return
        sock.setblocking(False)
        client = _Client(sock)
        self.clients[sock] = client
        self.selector.register(sock, selectors.EVENT_READ, client)
        self.last_activity = time.monotonic()

    def _read(self, client: _Client) -> None:
        try:
            chunk = client.sock.recv(65_536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        self.last_activity = time.monotonic()
        if not chunk:  # it went away (killed, or gave up waiting): its files are anyone's
            self.left.extend(client.files)
            self._drop(client)
            return
        client.buffered += chunk
        *lines, client.buffered = client.buffered.split(b"\n")
        for raw in lines:
            verb, _, argument = raw.decode(errors="replace").strip().partition(" ")
            if verb == "file" and argument:
                client.files.append(Path(argument))
            elif verb in ("sync", "stop"):
                client.waiting = verb

    def _drop(self, client: _Client) -> None:
        self.clients.pop(client.sock, None)
        with contextlib.suppress(KeyError, ValueError):
            self.selector.unregister(client.sock)
        client.sock.close()

    def _answer(self, client: _Client, word: str) -> None:
        verb, client.waiting = client.waiting, ""
        try:
            client.sock.setblocking(True)
            client.sock.sendall(f"{'stopped' if verb == 'stop' else 'synced'} {word}\n".encode())
            client.sock.setblocking(False)
        except OSError:
            verb = "stop"
        if verb == "stop":
            self._drop(client)

    def _let_go_of_silent_clients(self) -> None:
        now = time.monotonic()
        for client in list(self.clients.values()):
            if not client.waiting and not client.files and now - client.since > _SILENT_CLIENT_S:
                self._drop(client)

    # --- storing ------------------------------------------------------------------------------
    def _serve(self, client: _Client) -> None:
        """Store a waiting client's files, let go of the file unless another client is
        connected, and answer."""
        deadline = time.monotonic() + _FINAL_TRY_S
        while not self._store(client.files):
            if self.writer.unusable is not None or time.monotonic() >= deadline:
                break
            time.sleep(_POLL_S)
        others = any(c is not client for c in self.clients.values())
        if not others:
            self.writer.release()  # merges what else waits in the spool, then closes
        client.files = [p for p in client.files if p.exists()]
        unusable = self.writer.unusable is not None
        self._answer(client, "unusable" if unusable else "busy" if client.files else "ok")
        self.last_activity = time.monotonic()

    def _store(self, files: list[Path]) -> bool:
        """Merge ``files`` (each exactly once, whoever else merges them); False when the store
        could not be had."""
        if not self.writer.acquire():  # acquiring also merges whatever else is spooled
            return False
        for path in files:
            if path.exists() and not self.writer.merge(path):
                return False
        self.last_stored = time.monotonic()
        return True

    def _store_given(self) -> None:
        """Store the files clients gave without waiting, and those of clients that went away
        (tried again now and then while the store is held elsewhere)."""
        self.left = [p for p in self.left if p.exists()]
        for client in self.clients.values():
            client.files = [p for p in client.files if p.exists()]
        files = self.left + [p for c in self.clients.values() for p in c.files]
        if files and self._store(files):
            self.left = []

    def _tend_lease(self) -> None:
        if not self.writer.holding:
            return
        if not self.clients or time.monotonic() - self.last_stored >= _IDLE_RELEASE_S:
            self.writer.release()
        elif self.writer.wanted():
            self.writer.release(stay_out=True)


def serve(listener: socket.socket, db: Path, linger_s: float) -> None:
    """Serve the store at ``db`` on ``listener`` until nobody came for ``linger_s``."""
    from ...store import json_batch  # noqa: F401  # loaded before the first client ends

    writer = StoreWriter(db, lock_timeout_s=0.5, max_hold_s=5.0, yield_s=0.15, threads=1)
    hub = Hub(listener, writer, linger_s)
    try:
        hub.run()
    finally:
        listener.close()  # nobody new connects from here on: they start a hub of their own
        writer.release()
