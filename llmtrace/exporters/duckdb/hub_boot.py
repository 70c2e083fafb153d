"""The shared merger's entry point, run as a script: ``python hub_boot.py <address>
<linger_s>`` (``hub_client`` starts it).

It takes the store's address first, before importing anything heavy: a traced process that
looks for the hub connects as soon as the name is bound (the kernel queues the connection while
DuckDB imports), and of two hubs started at once the second finds the name taken and ends at
once. Then it keeps llmtrace's outer packages out, as the merger does
(``merger_boot``), and serves (``hub``).
"""

from __future__ import annotations

import importlib.util
import socket
import sys
from pathlib import Path

__all__: list[str] = []


def _main() -> int:
    address, linger_s = sys.argv[1], float(sys.argv[2])
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind("\0" + address)
    except OSError:  # another hub runs already
        return 0
    listener.listen(256)
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
