"""The flow's direction, checked on the source: the store reads files and never calls back
into the tracing configuration (ARCHITECTURE.md); ``llmtrace.query`` does the asking."""

from __future__ import annotations

import ast
from pathlib import Path

import llmtrace
from llmtrace import _query
from llmtrace.store import query as store_query

STORE = Path(store_query.__file__).parent


def _imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth (inside functions too), resolved."""
    package = "llmtrace.store"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level else ""
            module = ".".join(p for p in (base, node.module or "") if p)
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def test_no_store_module_imports_the_tracing_configuration_or_runtime():
    """The store knows paths and price tables handed to it, never the tracing side's state."""
    tracing = ("llmtrace._config", "llmtrace._tracing")
    offenders = {
        path.name: sorted(m for m in _imported_modules(path) if m.startswith(tracing))
        for path in sorted(STORE.glob("*.py"))
    }
    assert {name: mods for name, mods in offenders.items() if mods} == {}


def test_the_import_resolver_would_see_a_call_back(tmp_path):
    sneaky = tmp_path / "sneaky.py"
    sneaky.write_text("def f():\n    from .._config import flush_store\n    flush_store()\n")
    assert "llmtrace._config.flush_store" in _imported_modules(sneaky)


def test_public_query_flushes_the_configured_handle_then_reads(tmp_path, monkeypatch):
    calls: list[str] = []
    import llmtrace._config as config

    monkeypatch.setattr(config, "flush_store", lambda: calls.append("flush") or True)

    def read(sql, params, path, format):
        calls.append(f"read {sql} {path.name} {format}")
        return [{"n": 1}]

    monkeypatch.setattr(_query, "read_query", read)
    rows = llmtrace.query("SELECT 1 AS n", db=tmp_path / "x.duckdb", format="records")
    assert (rows, calls) == ([{"n": 1}], ["flush", "read SELECT 1 AS n x.duckdb records"])


def _architecture_sections(*titles: str) -> str:
    text = (Path(llmtrace.__file__).parent.parent / "ARCHITECTURE.md").read_text()
    sections = text.split("\n## ")
    return "\n".join(s for s in sections if s.split("\n", 1)[0] in titles)


def test_where_to_add_things_names_files_and_names_that_exist():
    """ARCHITECTURE.md's change paths point at real files, and each name it places in a file
    (`file.py` (`NAME`...) or `file.py`'s `NAME`) is in that file."""
    import re

    package = Path(llmtrace.__file__).parent
    text = _architecture_sections("Where to add things", "Known debts")
    files = set(re.findall(r"`([\w/]+\.py)`", text))
    assert len(files) >= 15
    assert sorted(f for f in files if not (package / f).is_file()) == []
    placed = re.findall(r"`([\w/]+\.py)`(?:'s)? \(?`([A-Za-z_]\w*)`", text)
    assert len(placed) >= 8  # the pattern still finds what the table places
    missing = [(f, n) for f, n in placed if n not in (package / f).read_text()]
    assert missing == []


def _test_modules() -> list[Path]:
    return sorted((Path(llmtrace.__file__).parent.parent / "tests").glob("test_*.py"))


def test_no_test_module_imports_another_test_module():
    """Shared fixtures live in conftest.py and shared helpers in helper modules, so running or
    deleting one test module never depends on another."""
    offenders = []
    for path in _test_modules():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("tests.test_"):
                offenders.append(f"{path.name} imports {node.module}")
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("tests.test_")]
                offenders += [f"{path.name} imports {name}" for name in names]
    assert offenders == []


def test_no_test_is_over_60_lines():
    long_tests = [
        f"{path.name}::{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for path in _test_modules()
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
        and node.name.startswith("test_")
        and (node.end_lineno or 0) - node.lineno + 1 > 60
    ]
    assert long_tests == []


def test_default_store_path_follows_configure_then_env(tmp_path, monkeypatch):
    """Which store a call means when it names none: the argument, else the one configure()
    chose, else LLMTRACE_DB, else ./llmtrace.duckdb (decided outside store/)."""
    from llmtrace._store_path import default_db_path
    from llmtrace._tracing.runtime import runtime

    monkeypatch.setattr(runtime, "db_path", None)
    monkeypatch.delenv("LLMTRACE_DB", raising=False)
    assert default_db_path() == Path("llmtrace.duckdb")
    monkeypatch.setenv("LLMTRACE_DB", str(tmp_path / "env.duckdb"))
    assert default_db_path() == tmp_path / "env.duckdb"
    monkeypatch.setattr(runtime, "db_path", str(tmp_path / "configured.duckdb"))
    assert default_db_path() == tmp_path / "configured.duckdb"
    assert default_db_path(tmp_path / "named.duckdb") == tmp_path / "named.duckdb"
