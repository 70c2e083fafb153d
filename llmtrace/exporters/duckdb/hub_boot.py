"""The shared merger's entry point, run as a script: ``python hub_boot.py <address>
<linger_s> [<listening fd>]`` (``hub_client`` starts it, with the socket it bound and listened
on already, so a traced process connects as soon as the hub is asked for and the kernel queues
the connection while DuckDB imports; without one it binds the name itself first, and of two
hubs started at once the second finds the name taken and ends at once). Then it keeps
llmtrace's outer packages out, as the merger does (``merger_boot``), and serves (``hub``).
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path

__all__: list[str] = []


def _listener(address: str, inherited_fd: str | None) -> socket.socket | None:
    """The socket to serve on: the one the starting process bound and handed down, or one
    bound here (None: another hub has the name)."""
    if inherited_fd is not None:
        listener = socket.socket(fileno=int(inherited_fd))
    else:
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            listener.bind("\0" + address)
        except OSError:  # another hub runs already
            listener.close()
            return None
    listener.listen(256)  # (again, for an inherited one: its peers then see this process)
    return listener


def _main() -> int:
    address, linger_s = sys.argv[1], float(sys.argv[2])
    listener = _listener(address, sys.argv[3] if len(sys.argv) > 3 else None)
    if listener is None:
        return 0
    here = Path(__file__).resolve().parent
    package_root = here.parents[2]
    sys.path[0] = str(package_root)
    spec = importlib.util.spec_from_file_location("_llmtrace_merger_boot", here / "merger_boot.py")
    assert spec is not None and spec.loader is not None
    boot = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(boot)
    boot.bare_packages(package_root)
    from llmtrace.exporters.duckdb.hub import serve

    serve(listener, linger_s)
    return 0


if __name__ == "__main__":
    sys.exit(_main())
