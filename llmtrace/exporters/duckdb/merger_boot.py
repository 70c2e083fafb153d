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

And it imports DuckDB's C extension without the ``duckdb`` package's ``__init__``: that one
imports over a hundred modules (importlib.metadata, email, inspect, the relational and
expression API) for 9 MiB of the merger's RSS, where the merger calls only ``connect``,
``execute`` and the exception classes, which are the extension's own. The Arrow scan's Python
sources (``duckdb._sources``) are set up as the package sets them up. This leans on how DuckDB
2.0 lays its package out, so it is done only for the versions in ``LEAN_DUCKDB_VERSIONS``
(tests/test_merger_lean_duckdb.py stores through it, and fails when the installed DuckDB is
not listed); any other takes the whole package.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import types
from pathlib import Path

__all__ = ["LEAN_DUCKDB_VERSIONS", "bare_packages", "lean_duckdb"]

_PACKAGES = ("llmtrace", "llmtrace.exporters", "llmtrace.exporters.duckdb")
# DuckDB releases (major.minor) whose package was checked to need no more of its __init__ for
# what the merger does than the Arrow scan's sources (see lean_duckdb).
LEAN_DUCKDB_VERSIONS = ("2.0",)


def _package(name: str, path: list[str]) -> types.ModuleType:
    """An empty package module: its submodules, found on ``path``, import as usual, and its
    ``__init__`` never runs."""
    module = types.ModuleType(name)
    module.__path__ = path
    module.__package__ = name
    return module


def lean_duckdb() -> bool:
    """Make ``import duckdb`` give DuckDB's C extension (``_duckdb``) with the Arrow scan's
    sources set up, without running the package's ``__init__``. False (nothing changed) for a
    DuckDB not in LEAN_DUCKDB_VERSIONS or laid out otherwise: ``import duckdb`` then imports
    the whole package as usual."""
    if "duckdb" in sys.modules:
        return False
    try:
        import _duckdb
    except ImportError:
        return False
    version = str(getattr(_duckdb, "__version__", ""))
    spec = importlib.util.find_spec("duckdb")
    set_sources = getattr(_duckdb, "_set_arrow_sources", None)
    if (
        ".".join(version.split(".")[:2]) not in LEAN_DUCKDB_VERSIONS
        or spec is None
        or not spec.submodule_search_locations
        or set_sources is None
    ):
        return False
    module = _package("duckdb", list(spec.submodule_search_locations))
    module.__dict__.update((k, v) for k, v in vars(_duckdb).items() if not k.startswith("__"))
    module.__version__ = version  # type: ignore[attr-defined]
    module.__file__ = spec.origin
    sys.modules["duckdb"] = module
    try:
        from duckdb import _sources  # type: ignore[attr-defined]

        set_sources(_sources)
    except Exception:  # not laid out as checked: the whole package after all
        for name in [n for n in sys.modules if n == "duckdb" or n.startswith("duckdb.")]:
            del sys.modules[name]
        return False
    return True


def bare_packages(root: Path) -> None:
    """Register llmtrace's outer packages, found under ``root``, without running their
    ``__init__`` modules; keep numpy from being imported, DuckDB's package ``__init__`` too
    (lean_duckdb), and pyarrow (if an Arrow file loads it) off jemalloc."""
    for name in _PACKAGES:
        sys.modules.setdefault(name, _package(name, [str(root.joinpath(*name.split(".")))]))
    sys.modules.setdefault("numpy", None)  # type: ignore[arg-type]  # import numpy -> ImportError
    lean_duckdb()
    os.environ.setdefault("ARROW_DEFAULT_MEMORY_POOL", "system")  # read when pyarrow loads


if __name__ == "__main__":
    package_root = Path(__file__).resolve().parents[3]
    # Run as a script, Python put this script's folder first on the path: its modules are not
    # top-level modules. The folder that holds the llmtrace package goes there instead.
    sys.path[0] = str(package_root)
    bare_packages(package_root)
    from llmtrace.exporters.duckdb.merger import main

    sys.exit(main())
