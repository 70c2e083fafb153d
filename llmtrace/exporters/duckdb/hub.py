"""The shared merger: one process per user (and llmtrace installation) that stores what traced
processes leave at exit, so that many short processes share one DuckDB import and one open
store instead of each importing DuckDB and queueing for the file's lock in turn.

A traced process that ends with spans not yet stored (no merger of its own was running: it
lived less than a batch interval) writes them as spool files, as before, then tells this
process their names and waits for the answer (``hub_client``). The answer comes once the files
are stored and, unless another traced process of the same store is connected at that moment,
the file is let go of, so a plain ``duckdb.connect`` sees every span as soon as the traced
process has ended. A young traced process (its first seconds, before it would start a merger
of its own) also hands it its spool files as it goes, so a process that lives a second or two
starts no merger.

It is found through a Linux abstract socket named after the user and the installation (no
socket file, so none goes stale: the name dies with the process), and is started by the first
traced process that looks for it (``hub_boot``). It answers only its own user. A traced
process connects at ``configure()`` and stays connected until it ends, so the hub knows which
processes of a store are alive. It serves any number of stores, one lease each (``writer``),
holding a store's file only while storing (and a moment after, while another traced process
of that store is connected: processes that end one after another then cost one open of the
file, not one each), and ends ``linger_s`` after its last client. The files of every client
of a store that waits at once (processes that end together) go into the store in one
transaction (``spool.merge_files``; one file at a time if that fails, so a bad file fails
only itself), and then each is answered. It never owns a span: everything it is told of is a spool
file already, which anyone may merge exactly once (``spool``), so a killed hub loses nothing,
and whoever opens the store next stores what it left.

Protocol, one line each way: ``store <db path>`` first; ``file <path>`` (a spool file to
store, soon); ``sync``, answered ``synced ok|busy|unusable`` once every file the client gave is
stored (ok), or the store stayed held by another process for ``_FINAL_TRY_S`` (busy: the files
stay beside the store, and the hub goes on trying only while another traced process of that
store is connected: with none, nothing of llmtrace's takes the file behind the user's back, and
the next writer or reader stores them), or can never be written
(unusable); ``stop``, the same answered ``stopped ...``, after which the connection closes.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import socket
import time
from collections.abc import Collection
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
    store: Path | None = None
    files: list[Path] = field(default_factory=list)
    waiting: str = ""  # "sync" (answer, and go on) or "stop" (answer, and close)


class Hub:
    """Serves the traced processes of any number of stores, one waiting client at a time."""

    def __init__(self, listener: socket.socket, linger_s: float) -> None:
        self.listener = listener
        listener.setblocking(False)  # (accepting takes every connection waiting)
        self.linger_s = linger_s
        self.selector = selectors.DefaultSelector()
        self.selector.register(listener, selectors.EVENT_READ, None)
        self.clients: dict[socket.socket, _Client] = {}
        self.writers: dict[Path, StoreWriter] = {}
        self.left: dict[Path, list[Path]] = {}  # per store: files of clients that went away
        self.last_activity = time.monotonic()
        self.last_stored: dict[Path, float] = {}

    def run(self) -> None:
        while True:
            holding = any(w.holding for w in self.writers.values())
            busy = holding or any(self.left.values()) or any(c.files for c in self.clients.values())
            timeout = _POLL_S if busy else max(self._linger_left(), _POLL_S)
            for key, _ in self.selector.select(timeout):
                if key.data is None:
                    self._accept()
                else:
                    self._read(key.data)
            self._serve_waiting()
            self._store_given()
            self._tend_leases()
            self._let_go_of_silent_clients()
            if not self.clients and not holding and self._linger_left() <= 0:
                self._accept()  # one that came as the linger ran out: serve it, stay
                if not self.clients:
                    return  # what is left is spool files: the next writer or reader stores them

    def close(self) -> None:
        self.listener.close()  # nobody new connects from here on: they start a hub of their own
        for writer in self.writers.values():
            writer.release()

    def _linger_left(self) -> float:
        return self.last_activity + self.linger_s - time.monotonic()

    def _writer(self, store: Path) -> StoreWriter:
        if store not in self.writers:
            self.writers[store] = StoreWriter(
                store, lock_timeout_s=0.5, max_hold_s=5.0, yield_s=0.15, threads=1
            )
        return self.writers[store]

    # --- clients ------------------------------------------------------------------------------
    def _accept(self) -> None:
        """Take every connection waiting, and what each has said already: processes that end
        at once are then served together (``_serve_waiting``)."""
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:  # none left (or a transient failure: the next select says)
                return
            if peer_uid(sock) != os.getuid():  # another user's process: not ours to serve
                sock.close()
                continue
            sock.setblocking(False)
            client = _Client(sock)
            self.clients[sock] = client
            self.selector.register(sock, selectors.EVENT_READ, client)
            self.last_activity = time.monotonic()
            self._read(client)

    def _read(self, client: _Client) -> None:
        try:
            chunk = client.sock.recv(65_536)
        except BlockingIOError:
            return
        except OSError:
            chunk = b""
        self.last_activity = time.monotonic()
        if not chunk:  # it went away (killed, or gave up waiting): its files are anyone's
            if client.store is not None:
                self.left.setdefault(client.store, []).extend(client.files)
            self._drop(client)
            return
        client.buffered += chunk
        *lines, client.buffered = client.buffered.split(b"\n")
        for raw in lines:
            verb, _, argument = raw.decode(errors="replace").strip().partition(" ")
            if verb == "store" and argument:
                client.store = Path(argument)
            elif verb == "file" and argument and client.store is not None:
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

    def _others(self, store: Path, but: Collection[_Client] = ()) -> bool:
        """Whether a client of ``store`` other than ``but`` is connected."""
        answered = {id(c) for c in but}
        return any(id(c) not in answered and c.store == store for c in self.clients.values())

    # --- storing ------------------------------------------------------------------------------
    def _serve_waiting(self) -> None:
        """Answer every waiting client, a store at a time: the files of all the clients of a
        store that wait (several processes that ended at once) are stored together, in one
        transaction, before any of them is answered."""
        waiting: dict[Path | None, list[_Client]] = {}
        for client in self.clients.values():
            if client.waiting:
                waiting.setdefault(client.store, []).append(client)
        for store, clients in waiting.items():
            if store is None:
                for client in clients:
                    self._answer(client, "ok")
            else:
                self._serve(store, clients)

    def _serve(self, store: Path, clients: list[_Client]) -> None:
        """Store the files of a store's waiting ``clients``, let go of the file unless
        another client of the store is connected, and answer them."""
        writer = self._writer(store)
        files = list(dict.fromkeys(p for client in clients for p in client.files))
        deadline = time.monotonic() + _FINAL_TRY_S
        # (Nothing given and the file not held: nothing to do, and no reason to open it.)
        while (files or writer.holding) and not self._store(writer, files):
            if writer.unusable is not None or time.monotonic() >= deadline:
                break
            time.sleep(_POLL_S)
        if not self._others(store, clients):
            writer.release()  # merges what else waits in the spool, then closes
        unusable = writer.unusable is not None
        for client in clients:
            client.files = [p for p in client.files if p.exists()]
            self._answer(client, "unusable" if unusable else "busy" if client.files else "ok")
        self.last_activity = time.monotonic()

    def _store(self, writer: StoreWriter, files: list[Path]) -> bool:
        """Merge ``files`` (each exactly once, whoever else merges them); False when the store
        could not be had."""
        if not writer.acquire():  # acquiring also merges whatever else is spooled
            return False
        present = [path for path in files if path.exists()]
        if present and not writer.merge_all(present):  # one transaction, if they all go in
            return False
        self.last_stored[writer.path] = time.monotonic()
        return True

    def _store_given(self) -> None:
        """Store the files clients gave without waiting, and those of clients that went away
        (tried again now and then while a store is held elsewhere, but only while another
        client of that store is connected: a plain ``duckdb.connect`` after the last traced
        process has ended must never meet the hub holding the file)."""
        given: dict[Path, list[Path]] = {}
        for store, files in self.left.items():
            if self._others(store):  # else they stay in the spool for the next reader
                given[store] = [p for p in files if p.exists()]
        for client in self.clients.values():
            client.files = [p for p in client.files if p.exists()]
            if client.store is not None:
                given.setdefault(client.store, []).extend(client.files)
        self.left = {}
        for store, listed in given.items():
            files, writer = list(dict.fromkeys(listed)), self._writer(store)
            if writer.unusable is not None:  # never writable: they stay for the user to see
                continue
            if files and not self._store(writer, files):
                self.left[store] = [p for p in files if p.exists()]

    def _tend_leases(self) -> None:
        now = time.monotonic()
        for store, writer in self.writers.items():
            if not writer.holding:
                continue
            idle = now - self.last_stored.get(store, 0.0) >= _IDLE_RELEASE_S
            if not self._others(store) or idle:
                writer.release()
            elif writer.wanted():
                writer.release(stay_out=True)


def serve(listener: socket.socket, linger_s: float) -> None:
    """Serve on ``listener`` until nobody came for ``linger_s``."""
    from ...store import json_batch  # noqa: F401  # loaded before the first client ends

    hub = Hub(listener, linger_s)
    try:
        hub.run()
    finally:
        hub.close()
