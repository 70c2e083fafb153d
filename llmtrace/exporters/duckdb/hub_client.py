"""A traced process's side of the shared merger (``hub``): find it, or start it, and have it
store the spool files this process leaves at exit.

:func:`warm_up` starts the hub for a store in the background when none runs (at
``configure()``), so that by the time a short process ends, DuckDB is imported and waiting in
the hub rather than in the exiting process. :func:`store_at_exit` gives the hub this process's
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
from pathlib import Path

from .merger_client import _python_executable

try:  # CPython's own BLAKE2: hashlib would load OpenSSL (~4 MiB) into every traced process
    from _blake2 import blake2b
except ImportError:  # an interpreter built without it
    from hashlib import blake2b

__all__ = ["HUB_ENV", "address", "peer_uid", "store_at_exit", "warm_up"]

HUB_ENV = "LLMTRACE_SHARED_MERGER"
# How long the hub stays after its last client (LLMTRACE_MERGER_LINGER_S).
_LINGER_S = 5.0
# How long a hub just started may take to take its name (a busy machine: many at once).
_START_S = 5.0

_started: list[subprocess.Popen[bytes]] = []  # kept, so none is collected while it runs
_lock = threading.Lock()


def peer_uid(sock: socket.socket) -> int:
    """The user id of the process at the other end of a Unix socket."""
    creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def address(db: Path) -> str | None:
    """The hub's abstract socket name for ``db`` and this user (None: no hub here)."""
    if not sys.platform.startswith("linux") or os.environ.get(HUB_ENV, "").strip() == "0":
        return None
    digest = blake2b(str(db.resolve()).encode(), digest_size=16).hexdigest()
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


def _start(db: Path, name: str) -> subprocess.Popen[bytes] | None:
    python = _python_executable()
    if python is None:
        return None
    log = os.environ.get("LLMTRACE_MERGER_LOG")
    linger = os.environ.get("LLMTRACE_MERGER_LINGER_S") or str(_LINGER_S)
    try:
        with open(log or os.devnull, "ab") as errors:
            # No stdout or stderr of the application's: a caller that reads them to their end
            # (subprocess.run) would wait for the hub, which outlives the process.
            process = subprocess.Popen(
                [python, str(Path(__file__).with_name("hub_boot.py")), str(db), name, linger],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=errors,
                start_new_session=True,  # a terminal's Ctrl-C is for the application
            )
    except OSError:
        return None
    with _lock:
        _started[:] = [p for p in _started if p.poll() is None] + [process]
    return process


def _find_or_start(db: Path, name: str, wait_s: float) -> socket.socket | None:
    """A connection to the hub, starting one when none answers; None after ``wait_s``."""
    sock = _connect(name)
    if sock is not None:
        return sock
    process = _start(db, name)
    if process is None:
        return None
    deadline = time.monotonic() + wait_s
    delay = 0.002
    while time.monotonic() < deadline:
        sock = _connect(name)
        if sock is not None:
            return sock
        if process.poll() is not None:  # it lost the race for the name (the winner answers)
            return _connect(name)
        time.sleep(delay)
        delay = min(delay * 2, 0.02)
    return None


def warm_up(db: Path) -> None:
    """Start the store's hub in the background if none runs (never waits)."""
    name = address(db)
    if name is None:
        return

    def start() -> None:
        with contextlib.suppress(Exception):  # best effort: exit starts one if this did not
            sock = _connect(name)
            if sock is not None:
                sock.close()
            else:
                _start(db, name)

    threading.Thread(target=start, name="llmtrace-merger-warm-up", daemon=True).start()


def store_at_exit(db: Path, files: list[Path], timeout_s: float) -> str | None:
    """Have the hub store ``files`` (spool files); the hub's answer (``ok``, ``busy``,
    ``unusable``), or None when no hub answered in time (the files are still spool files)."""
    name = address(db)
    if name is None or not files:
        return None
    deadline = time.monotonic() + timeout_s
    sock = _find_or_start(db, name, min(_START_S, timeout_s))
    if sock is None:
        return None
    try:
        sock.sendall(b"".join(f"file {p}\n".encode() for p in files) + b"stop\n")
        answer = b""
        while not answer.endswith(b"\n"):
            sock.settimeout(max(deadline - time.monotonic(), 0.001))
            chunk = sock.recv(256)
            if not chunk:  # the hub died: what it had not stored is still on disk
                return None
            answer += chunk
    except OSError:  # no answer in time: the hub goes on storing them
        return None
    finally:
        sock.close()
    verb, _, word = answer.decode().strip().partition(" ")
    return word if verb == "stopped" else None
