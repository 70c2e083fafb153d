"""New stores are copies of a migrated empty template (store/template.py): the same schema as
a store migrated step by step, safe with several creators at once and after a killed builder,
and made the old way when there is no cache folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from llmtrace.store import template
from llmtrace.store.connection import _prepare, connect_write
from llmtrace.store.schema import SCHEMA_VERSION, apply_migrations

ROOT = Path(__file__).resolve().parents[1]


def _shape(path: Path) -> list[tuple[object, ...]]:
    conn = duckdb.connect(str(path), read_only=True)
    try:
        columns = conn.execute(
            "SELECT table_name, column_name, data_type FROM information_schema.columns ORDER BY ALL"
        ).fetchall()
        ledger = conn.execute("SELECT version, name FROM schema_migrations ORDER BY 1").fetchall()
        return [*columns, *ledger]
    finally:
        conn.close()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    folder = tmp_path / "cache"
    monkeypatch.setenv("LLMTRACE_CACHE_DIR", str(folder))
    return folder


def test_a_store_from_the_template_is_the_store_migrations_make(tmp_path, cache):
    stepwise = tmp_path / "stepwise.duckdb"
    conn = _prepare(duckdb.connect(str(stepwise)))
    apply_migrations(conn)
    conn.close()

    made = tmp_path / "made.duckdb"
    connect_write(made).close()
    assert template.template_path() is not None and template.template_path().exists()
    assert _shape(made) == _shape(stepwise)
    second = tmp_path / "second.duckdb"
    assert template.create_from_template(second, _prepare)  # from the template, now cached
    assert _shape(second) == _shape(stepwise)
    assert not template.create_from_template(second, _prepare)  # never over a store
    conn = connect_write(second)
    conn.execute(
        "INSERT INTO datasets (name, version, row_count, content_hash) VALUES ('d', '1', 1, 'h')"
    )
    conn.close()
    assert _shape(made) == _shape(stepwise)  # the copies are files of their own
    assert not [p for p in tmp_path.rglob("*.tmp")]


def test_without_a_cache_folder_the_store_is_migrated_as_before(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMTRACE_CACHE_DIR", "off")
    path = tmp_path / "plain.duckdb"
    assert not template.create_from_template(path, _prepare)
    connect_write(path).close()
    assert _shape(path)[-1][0] == SCHEMA_VERSION


def test_an_unwritable_cache_folder_leaves_creation_as_before(tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("LLMTRACE_CACHE_DIR", str(blocker / "cache"))
    path = tmp_path / "plain.duckdb"
    assert not template.create_from_template(path, _prepare)
    connect_write(path).close()
    assert _shape(path)[-1][0] == SCHEMA_VERSION


def test_a_killed_builder_leaves_nothing_that_a_store_is_made_of(tmp_path, cache):
    """A builder killed mid-way leaves a temporary file (never the template's name): the next
    creator builds the template afresh, and removes temporary files once they are stale."""
    cache.mkdir()
    target = template.template_path()
    assert target is not None
    half = target.with_name(target.name + ".123-abc.tmp")
    half.write_bytes(b"half a database")
    os.utime(half, (1, 1))  # long ago: stale
    path = tmp_path / "after-kill.duckdb"
    connect_write(path).close()
    assert target.exists() and not half.exists()
    assert _shape(path)[-1][0] == SCHEMA_VERSION


_CREATE = """
import sys
from pathlib import Path
from llmtrace.store.connection import connect_write
conn = connect_write(Path(sys.argv[1]), timeout_s=60)
conn.execute("INSERT INTO datasets (name, version, row_count, content_hash) "
             "VALUES (?, '1', 1, 'h')", [sys.argv[2]])
conn.close()
"""


def test_several_processes_create_one_store_at_once(tmp_path, cache):
    """Eight processes create the same new store (and the template) at the same moment: each
    writes its row into the one store, migrated once."""
    path = tmp_path / "raced.duckdb"
    env = {**os.environ, "LLMTRACE_CACHE_DIR": str(cache)}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", _CREATE, str(path), f"p{i}"],
            cwd=ROOT,
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for i in range(8)
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    conn = duckdb.connect(str(path), read_only=True)
    try:
        assert conn.execute("SELECT count(*) FROM datasets").fetchall() == [(8,)]
        versions = conn.execute("SELECT version FROM schema_migrations ORDER BY 1").fetchall()
    finally:
        conn.close()
    assert [v for (v,) in versions] == sorted({v for (v,) in versions})
    assert versions[-1][0] == SCHEMA_VERSION
    assert not [p for p in tmp_path.rglob("*.tmp")]
    assert template.template_path() is not None and template.template_path().exists()


def _count_opens(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The files llmtrace's connections open from now on (":memory:" for an in-memory one)."""
    from llmtrace.store import connection

    opened: list[str] = []
    real = duckdb.connect

    def counting(*args: object, **kwargs: object) -> duckdb.DuckDBPyConnection:
        opened.append(str(args[0]) if args else ":memory:")
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(connection.duckdb, "connect", counting)
    return opened


@pytest.mark.parametrize("cached", [True, False])
def test_a_writer_opens_a_store_made_from_the_template_once(tmp_path, monkeypatch, cached):
    """A writer with a row group size of its own (the merger, the hub) that creates the store
    from the template does not open it a second time to check its schema: it is migrated
    already. Without a template the store is created and migrated as before."""
    from llmtrace.store import connection

    monkeypatch.setenv("LLMTRACE_CACHE_DIR", str(tmp_path / "cache") if cached else "off")
    monkeypatch.setattr(connection, "_migrated", set())
    if cached:
        template.create_from_template(tmp_path / "warm.duckdb", _prepare)  # the template
    opened = _count_opens(monkeypatch)
    db = tmp_path / "new.duckdb"
    conn = connect_write(db, row_group_size=30_720)
    try:
        version = conn.execute("SELECT max(version) FROM schema_migrations").fetchall()[0][0]
        assert version == SCHEMA_VERSION
        conn.execute("SELECT count(*) FROM spans").fetchall()
    finally:
        conn.close()
    assert opened.count(str(db)) == (0 if cached else 1)  # (the writer attaches it)
    assert ":memory:" in opened


def test_a_writer_checks_an_existing_store_through_its_own_connection(tmp_path, monkeypatch):
    """An existing store up to date is checked through the writer's connection (one open of
    the file, not a check-open and then the writer's); one a migration behind is migrated
    first, as before."""
    from llmtrace.store import connection
    from llmtrace.store.schema import MIGRATIONS

    current, behind = tmp_path / "current.duckdb", tmp_path / "behind.duckdb"
    connect_write(current).close()
    old = _prepare(duckdb.connect(str(behind)))
    apply_migrations(old, MIGRATIONS[:-1])
    old.close()
    monkeypatch.setattr(connection, "_migrated", set())
    opened = _count_opens(monkeypatch)
    for db, direct_opens in ((current, 0), (behind, 1)):
        conn = connect_write(db, row_group_size=30_720)
        try:
            version = conn.execute("SELECT max(version) FROM schema_migrations").fetchall()[0][0]
            assert version == SCHEMA_VERSION
        finally:
            conn.close()
        assert opened.count(str(db)) == direct_opens, opened
