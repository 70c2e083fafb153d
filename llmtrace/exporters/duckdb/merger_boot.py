"""The merger process's entry point, run as a script (``python <this file> <db> ...``).

``python -m llmtrace.exporters.duckdb.merger`` would first run the package's ``__init__``
modules: ``llmtrace`` (the tracing API), ``llmtrace.exporters`` and ``llmtrace.exporters.duckdb``
(the exporter, the OpenTelemetry SDK). The merger needs none of it: only DuckDB, nanoarrow and
``llmtrace.store``. So this script puts empty package modules in their place, with the right
``__path__`` so their submodules import as usual, and then runs ``merger.main``. Nothing else
ever runs in this process, so nobody else sees the empty packages.

The merger also keeps numpy out: nothing here converts to or from numpy, and DuckDB asks for it
when it scans Arrow. pyarrow loads only for an Arrow spool file (``llmtrace serve``'s, or an
earlier version's): then it allocates from the C library's heap instead of its bundled
jemalloc, which kept what the batches of earlier files had used.
"""

from __future__ import annotations

import os
import sys
import types
from pathlib import Path

__all__ = ["bare_packages"]

_PACKAGES = ("llmtrace", "llmtrace.exporters", "llmtrace.exporters.duckdb")


def bare_packages(root: Path) -> None:
    """Register llmtrace's outer packages, found under ``root``, without running their
    ``__init__`` modules; keep numpy from being imported, and pyarrow (if an Arrow file loads
    it) off jemalloc."""
    for name in _PACKAGES:
        module = types.ModuleType(name)
        module.__path__ = [str(root.joinpath(*name.split(".")))]
        module.__package__ = name
        sys.modules.setdefault(name, module)
    sys.modules.setdefault("numpy", None)  # type: ignore[arg-type]  # import numpy -> ImportError
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")  # read when pyarrow loads


if __name__ == "__main__":
    package_root = Path(__file__).resolve().parents[3]
    # Run as a script, Python put this script's folder first on the path: its modules are not
    # top-level modules. The folder that holds the llmtrace package goes there instead.
    sys.path[0] = str(package_root)
    bare_packages(package_root)
    from llmtrace.exporters.duckdb.merger import main

    sys.exit(main())
