"""A traced process's side of the shared merger (``hub``): find it, or start it, and have it
store the spool files this process leaves at exit.

:func:`warm_up` connects to the hub in the background at ``configure()``, starting it when none
runs, so that by the time a short process ends, DuckDB is imported and waiting in the hub
rather than in the exiting process, and the hub knows which processes of a store are alive.
:func:`store_at_exit` gives the hub this process's
spool files and waits until they are stored and the file let go of; False when there is no hub
(not Linux, no Python to start one with, ``LLMTRACE_SHARED_MERGER=0``) or it could not answer
in time, and the caller merges the files itself, as before.
"""

from __future__ import annotations

import contextlib
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import weakref
from collections.abc import Mapping
from pathlib import Path

from ...store.spool import ledger_key, release_handoffs, spool_files
from .merger_client import _python_executable

try:  # CPython's own BLAKE2: hashlib would load OpenSSL (~4 MiB) into every traced process
    from _blake2 import blake2b
except ImportError:  # an interpreter built without it
    from hashlib import blake2b

__all__ = [
    "HUB_ENV",
    "HubSession",
    "address",
    "hand_to_hub",
    "peer_uid",
    "store_again",
    "store_at_exit",
    "sync_or_ask_again",
    "warm_up",
]

HUB_ENV = "LLMTRACE_SHARED_MERGER"
# How long the hub stays after its last client (LLMTRACE_MERGER_LINGER_S).
_LINGER_S = 5.0
# How long a hub just started may take to take its name (a busy machine: many at once).
_START_S = 5.0

_SETTINGS = ("HOME", "XDG_CACHE_HOME", "PYTHONPATH")
# The hub's own knobs, and the exiting process's: the same hub serves either way.
_HUB_KNOBS = ("LLMTRACE_MERGER_LINGER_S", "LLMTRACE_MERGER_LOG", "LLMTRACE_FAST_EXIT", HUB_ENV)
_started: list[subprocess.Popen[bytes]] = []  # kept, so none is collected while it runs
_lock = threading.Lock()


def peer_uid(sock: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def address(db: Path | None = None, env: Mapping[str, str] = os.environ) -> str | None:
    """The hub's abstract socket name for this user, this installation of llmtrace (its folder
    and interpreter: a hub runs the code of whoever started it) and these settings; None: no
    hub here, in the environment ``env``. One hub serves every store (``db`` is accepted for
    the callers' sake)."""
    if not sys.platform.startswith("linux") or env.get(HUB_ENV, "").strip() == "0":
        return None
    # A hub keeps the environment of the process that started it: processes whose llmtrace
    # settings differ (LLMTRACE_ALLOW_FOREIGN_DB, the cache folder, ...) get a hub each.
    settings = sorted(
        (k, v)
        for k, v in env.items()
        if (k.startswith("LLMTRACE_") or k in _SETTINGS) and k not in _HUB_KNOBS
    )
    here = f"{Path(__file__).resolve().parent}|{sys.executable}|{settings}"
    digest = blake2b(here.encode(), digest_size=16).hexdigest()
    return f"llmtrace-merger-{os.getuid()}-{digest}"


def _connect(name: str) -> socket.socket | None:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect("\0" + name)
        if peer_uid(sock) != os.getuid():  # someone else's process took the name: not ours
            raise OSError("the hub's name is held by another user")
    except OSError:
        sock.close()
        return None
    return sock


def _start(name: str) -> tuple[bool, subprocess.Popen[bytes] | None]:
    """Start a hub on ``name``. The name is bound and listened on here, before the hub starts,
    and the hub inherits the socket: of many processes starting at once exactly one starts a
    hub (the others find the name taken and need none), and a connection made meanwhile waits
    in the socket's queue until the hub's Python and DuckDB have loaded. Whether a hub is on
    its way (this one, or that of another process that took the name first), and the process
    started here."""
    python = _python_executable()
    if python is None:
        return False, None
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind("\0" + name)
        listener.listen(256)
    except OSError:  # another process has just taken the name: its hub answers
        listener.close()
        return True, None
    log = os.environ.get("LLMTRACE_MERGER_LOG")
    linger = os.environ.get("LLMTRACE_MERGER_LINGER_S") or str(_LINGER_S)
    boot = str(Path(__file__).with_name("hub_boot.py"))
    try:
        with open(log or os.devnull, "ab") as errors:
            # No stdout or stderr of the application's: a caller that reads them to their end
            # (subprocess.run) would wait for the hub, which outlives the process.
            process = subprocess.Popen(
                [python, boot, name, linger, str(listener.fileno())],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                pass_fds=(listener.fileno(),),
                start_new_session=True,  # a terminal's Ctrl-C is for the application
            )
    except OSError:
        return False, None
    finally:
        listener.close()  # the hub holds the name alone: it is free again once the hub ends
    with _lock:
        _started[:] = [p for p in _started if p.poll() is None] + [process]
    return True, process


def _find_or_start(name: str, wait_s: float) -> socket.socket | None:
    """A connection to the hub, starting one when none answers; None after ``wait_s``."""
    sock = _connect(name)
    if sock is not None:
        return sock
    coming, process = _start(name)
    if not coming:
        return None
    deadline = time.monotonic() + wait_s
    delay = 0.001
    while (sock := _connect(name)) is None and time.monotonic() < deadline:
        if process is not None and process.poll() is not None:  # it died at once
            return None
        time.sleep(delay)  # another process's hub, between taking the name and listening
        delay = min(delay * 2, 0.02)
    return sock


def warm_up(session: HubSession) -> None:
    """Connect ``session`` to its hub in the background, starting the hub if none runs (never
    waits). The connection stays: the hub then knows this process is alive (it holds the
    store's file between the exits of processes that end one after another, instead of
    opening and closing it for each), and exit finds it made."""
    if session.name is None:
        return

    def connect() -> None:
        with contextlib.suppress(Exception):  # best effort: exit connects if this did not
            session.connect(start=True)

    thread = threading.Thread(target=connect, name="llmtrace-merger-warm-up", daemon=True)
    session.warming = thread
    thread.start()


class HubSession:
    """One traced process's connection to its store's hub, made when first needed; used by
    the exporter's writer thread (and at exit), one call at a time. A forked child does not
    use its parent's connection."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.name = address(db)
        self._sock: socket.socket | None = None
        self._pid = 0
        self._lock = threading.Lock()
        self.warming: threading.Thread | None = None  # connecting in the background
        self.went_away = False  # the last sync found the hub gone (not just slow)
        _sessions.add(self)

    def settle(self, timeout_s: float) -> None:
        """Wait (up to ``timeout_s``) for a background connect to finish: at exit, a second
        connection made beside it would keep the hub holding the file after this process has
        ended, until it saw the first one close."""
        thread = self.warming
        if thread is not None and thread.ident != threading.get_ident():
            thread.join(timeout_s)

    @property
    def connected(self) -> bool:
        """Whether this process holds a live connection (a hub that ended, or let go of a
        client silent for long, has closed its end)."""
        sock = self._sock
        if sock is None or self._pid != os.getpid():
            return False
        timeout = sock.gettimeout()
        try:
            sock.setblocking(False)  # (with a timeout set, recv would wait for it)
            try:
                open_ = sock.recv(1, socket.MSG_PEEK) != b""
            except (BlockingIOError, InterruptedError):
                open_ = True  # nothing to read: open
            sock.settimeout(timeout)
        except OSError:
            open_ = False
        if not open_:
            self.close()
        return open_

    def connect(self, *, start: bool, wait_s: float = _START_S) -> bool:
        """Connect, if not yet, to a hub that runs (``start``: or one started now)."""
        if self.connected:
            return True
        if self.name is None:
            return False
        with self._lock:  # (the warm-up thread and the writer's may both come)
            if self.connected:
                return True
            sock = _find_or_start(self.name, wait_s) if start else _connect(self.name)
            if sock is None:
                return False
            # The hub hears which store before any file: the connection is published (and
            # ``connected`` says True to another thread, which then gives files without
            # the lock) only once that is sent. Published first, a file given meanwhile
            # reached the hub before the store, which ignored it and answered the sync
            # "ok" with the file unstored (1 cold start in ~7 here).
            try:
                sock.settimeout(_START_S)
                sock.sendall(f"store {self.db.resolve()}\n".encode())
            except OSError:
                sock.close()
                return False
            self._sock, self._pid = sock, os.getpid()
            return True

    def give(self, path: Path) -> bool:
        """Tell the hub of a spool file to store (without waiting); False when it is gone."""
        return self._send(f"file {path}\n".encode())

    def sync(self, timeout_s: float, *, stop: bool = False) -> str | None:
        """Wait until every file given is stored: the hub's answer (``ok``, ``busy``,
        ``unusable``), or None when it died or did not answer in time (the files are spool
        files still, anyone's to store; ``went_away`` says which). With ``stop`` the
        connection ends after."""
        deadline = time.monotonic() + timeout_s
        self.went_away = False
        if not self._send(b"stop\n" if stop else b"sync\n"):
            self.went_away = True
            return None
        sock = self._sock
        assert sock is not None
        answer = b""
        try:
            while not answer.endswith(b"\n"):
                sock.settimeout(max(deadline - time.monotonic(), 0.001))
                chunk = sock.recv(256)
                if not chunk:  # the hub died: what it had not stored is still on disk
                    raise ConnectionResetError("the hub went away")
                answer += chunk
        except OSError as exc:  # no answer in time: the hub goes on storing them
            self.went_away = not isinstance(exc, TimeoutError)
            self.close()
            return None
        if stop:
            self.close()
        verb, _, word = answer.decode().strip().partition(" ")
        return word if verb in ("synced", "stopped") else None

    def close(self) -> None:
        sock, self._sock = self._sock, None
        if sock is not None and self._pid == os.getpid():
            sock.close()

    def _send(self, data: bytes) -> bool:
        if not self.connected:
            return False
        assert self._sock is not None
        try:
            self._sock.settimeout(_START_S)
            self._sock.sendall(data)
        except OSError:
            self.close()
            return False
        return True


_sessions: weakref.WeakSet[HubSession] = weakref.WeakSet()


def _forget_in_child() -> None:
    """A forked child closes its copies of the parent's connections (the parent's stay open):
    else the hub would take a parent that died for alive until its children end."""
    for session in list(_sessions):
        sock, session._sock = session._sock, None
        session._lock = threading.Lock()  # (another thread may have held it at the fork)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_in_child)


def hand_to_hub(session: HubSession, handoff: Path) -> bool:
    """Give a hand-off file to the hub, which runs already (it becomes a spool file, anyone's
    to store, so a hub that dies meanwhile loses nothing); False when none answers."""
    if not session.connect(start=False):
        return False
    release_handoffs([handoff])
    session.give(handoff.with_name(ledger_key(handoff)))
    return True


def store_at_exit(
    db: Path, files: list[Path], timeout_s: float, session: HubSession | None = None
) -> str | None:
    """Have the hub store ``files`` (spool files), through ``session`` or a connection made
    now (starting a hub if none runs); the hub's answer (``ok``, ``busy``, ``unusable``), or
    None when no hub answered in time (the files are still spool files). A hub that went
    away before answering (it died, or it was ending as this process came) is asked again
    once: a hub started now stores them."""
    deadline = time.monotonic() + timeout_s
    if session is not None:
        session.settle(timeout_s)
    if session is None or not session.connected:  # (a connected one may hold the file: ask)
        session = HubSession(db)
        if not files or not session.connect(start=True, wait_s=min(_START_S, timeout_s)):
            return None
    for path in files:
        session.give(path)
    answer = session.sync(timeout_s, stop=True)
    if answer is None and session.went_away:
        return store_again(session, [p for p in files if p.exists()], deadline, stop=True)
    return answer


def sync_or_ask_again(session: HubSession, timeout_s: float) -> str | None:
    """``session.sync``; when the hub went away before answering (not a slow one: a gone
    one), the store's spool files are given to a hub again, once (``store_again``)."""
    deadline = time.monotonic() + timeout_s
    answer = session.sync(timeout_s)
    if answer is None and session.went_away:
        return store_again(session, spool_files(session.db), deadline)
    return answer


def store_again(
    session: HubSession, files: list[Path], deadline: float, *, stop: bool = False
) -> str | None:
    """After the hub went away without answering: connect ``session`` again (a hub is started
    if none runs), give it ``files`` (spool files still) and wait until ``deadline`` for the
    answer; None when no hub answered."""
    left = deadline - time.monotonic()
    if not files or left <= 0 or not session.connect(start=True, wait_s=min(_START_S, left)):
        return None
    for path in files:
        session.give(path)
    return session.sync(max(deadline - time.monotonic(), 0.001), stop=stop)
