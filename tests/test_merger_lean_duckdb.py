"""The merger imports DuckDB's C extension without the duckdb package's ``__init__``
(merger_boot.lean_duckdb, issue #19: 9 MiB less RSS at import). Each test runs a real Python
process, since what is imported is a process's state: the merger stores both kinds of spool
file through it, and a DuckDB it was not checked for takes the whole package."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

from llmtrace.exporters.duckdb import merger_boot
from llmtrace.exporters.duckdb.gathering import Document
from llmtrace.exporters.duckdb.reading import encode_salvaging
from llmtrace.exporters.duckdb.rows import spans_to_batch
from llmtrace.store.connection import connect_write
from llmtrace.store.spool import spool_files, write_handoff, write_spool
from llmtrace.testing import make_spans
from tests.conftest import ROOT, count_spans_read_write, run_python

BOOT = Path(merger_boot.__file__)


def _python(code: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter (merger_boot loaded first, as ``boot``) and return
    the JSON it prints last."""
    prelude = (
        "import sys, json\n"
        "import importlib.util\n"
        f"spec = importlib.util.spec_from_file_location('boot', {str(BOOT)!r})\n"
        "boot = importlib.util.module_from_spec(spec); spec.loader.exec_module(boot)\n"
    )
    done = run_python(prelude + code)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_installed_duckdb_is_one_the_lean_import_was_checked_for():
    """When this fails, DuckDB was upgraded: check that the package's __init__ still does no
    more for connect/execute and the Arrow scan than ``_set_arrow_sources(_sources)``, then
    add the version to LEAN_DUCKDB_VERSIONS (the merger takes the whole package until then)."""
    minor = ".".join(duckdb.__version__.split(".")[:2])
    assert minor in merger_boot.LEAN_DUCKDB_VERSIONS, duckdb.__version__


def test_lean_duckdb_imports_no_relational_api_and_scans_arrow():
    """``import duckdb`` after lean_duckdb: the extension's classes, none of the package's
    Python API, and both kinds of Arrow object the merger scans (nanoarrow's, pyarrow's)."""
    result = _python(
        "lean = boot.lean_duckdb()\n"
        "import duckdb, _duckdb\n"
        "import nanoarrow as na, pyarrow as pa\n"
        "conn = duckdb.connect()\n"
        "small = na.Array([1, 2, 3], na.int64())\n"
        "conn.register('n', small)\n"
        "table = pa.table({'s': ['a', None, 'c']})\n"
        "conn.register('p', table)\n"
        "print(json.dumps({'lean': lean,\n"
        "  'same_connect': duckdb.connect is _duckdb.connect,\n"
        "  'same_error': duckdb.Error is _duckdb.Error,\n"
        "  'version': duckdb.__version__,\n"
        "  'relational': 'duckdb._relation' in sys.modules,\n"
        "  'metadata': 'importlib.metadata' in sys.modules,\n"
        "  'nanoarrow_sum': conn.execute('SELECT sum(value) FROM n').fetchone()[0],\n"
        "  'pyarrow_rows': conn.execute('SELECT count(s) FROM p').fetchone()[0]}))\n"
    )
    assert result == {
        "lean": True,
        "same_connect": True,
        "same_error": True,
        "version": duckdb.__version__,
        "relational": False,
        "metadata": False,
        "nanoarrow_sum": 6,
        "pyarrow_rows": 2,
    }


def test_a_duckdb_not_listed_takes_the_whole_package():
    result = _python(
        "boot.LEAN_DUCKDB_VERSIONS = ('0.1',)\n"
        "lean = boot.lean_duckdb()\n"
        "import duckdb\n"
        "print(json.dumps({'lean': lean, 'relational': 'duckdb._relation' in sys.modules,\n"
        "  'sql': hasattr(duckdb.connect(), 'sql')}))\n"
    )
    assert result == {"lean": False, "relational": True, "sql": True}


def test_a_duckdb_imported_already_is_left_as_it_is():
    result = _python(
        "import duckdb\n"
        "print(json.dumps({'lean': boot.lean_duckdb(), 'same': sys.modules['duckdb'] is duckdb}))\n"
    )
    assert result == {"lean": False, "same": True}


def _merge_with_the_merger(db: Path, path: Path) -> list[str]:
    """Run the real merger on ``path``, with Python's import log; the modules it imported."""
    process = subprocess.Popen(
        [sys.executable, "-X", "importtime", str(BOOT), str(db), f"--parent={os.getpid()}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=ROOT,
    )
    out, err = process.communicate(f"file {path}\nstop\n", timeout=120)
    assert process.returncode == 0, err
    assert out.splitlines()[0].split()[:1] == ["done"], (out, err)
    return [line.rsplit("|", 1)[-1].strip() for line in err.splitlines() if "|" in line]


def test_the_merger_stores_a_json_handoff_through_the_lean_import(tmp_path):
    db = tmp_path / "lean.duckdb"
    connect_write(db).close()
    document, _ = encode_salvaging(make_spans(300))
    assert isinstance(document, Document)
    modules = _merge_with_the_merger(db, write_handoff(db, document))
    assert count_spans_read_write(db) == (300, 300) and not spool_files(db)
    assert "nanoarrow" in modules and "duckdb._sources" in modules
    assert "duckdb._relation" not in modules and "importlib.metadata" not in modules


def test_the_merger_stores_an_arrow_spool_file_through_the_lean_import(tmp_path):
    """An Arrow spool file (``llmtrace serve``'s): the merger loads pyarrow and DuckDB scans
    its table through the sources the lean import set up."""
    db = tmp_path / "lean.duckdb"
    connect_write(db).close()
    modules = _merge_with_the_merger(db, write_spool(db, spans_to_batch(make_spans(120))))
    assert count_spans_read_write(db) == (120, 120) and not spool_files(db)
    assert "pyarrow" in modules and "duckdb._relation" not in modules
    assert not list(tmp_path.glob("**/*.unmergeable"))
