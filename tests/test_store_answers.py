"""The store gives right answers: attribute filters over mixed row groups, odd attribute values
kept readable instead of losing their batch (issue #7, items 1 and 2)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from llmtrace.exporters.duckdb.exporter import DuckDBSpanExporter
from llmtrace.store.connection import connect_write
from llmtrace.store.schema import MIGRATIONS, apply_migrations
from tests.conftest import ROOT, run_python

TENANT_SQL = "SELECT count(*) FROM spans WHERE attributes['llmtrace.context.tenant']::VARCHAR = ?"

_TRACE_TENANT = """
import sys, llmtrace
llmtrace.configure(service_name="tenants", db=sys.argv[1])
with llmtrace.context(tenant=sys.argv[2]):
    for i in range(int(sys.argv[3])):
        with llmtrace.tool("lookup"):
            pass
"""


def _trace(db: Path, tenant: str, count: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", _TRACE_TENANT, str(db), tenant, str(count)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr


def _tenant_counts(db: Path) -> tuple[int, int, dict[str, int]]:
    """What a user's own plain DuckDB connection answers, filtered and grouped."""
    conn = duckdb.connect(str(db), read_only=True)
    try:
        beta = conn.execute(TENANT_SQL, ["beta"]).fetchall()[0][0]
        acme = conn.execute(TENANT_SQL, ["acme"]).fetchall()[0][0]
        grouped = conn.execute(
            "SELECT attributes['llmtrace.context.tenant']::VARCHAR, count(*) FROM spans GROUP BY 1"
        ).fetchall()
    finally:
        conn.close()
    return beta, acme, dict(grouped)


def test_attribute_filter_is_right_when_row_groups_differ_in_size(tmp_path):
    """Two processes, 40,000 spans then 500: a full row group beside a small one."""
    db = tmp_path / "tenants.duckdb"
    _trace(db, "acme", 40_000)
    _trace(db, "beta", 500)
    beta, acme, grouped = _tenant_counts(db)
    assert grouped == {"acme": 40_000, "beta": 500}
    assert (beta, acme) == (500, 40_000)


def test_a_store_written_before_the_fix_answers_right_after_migration(tmp_path):
    """A store written with DuckDB's default shredding (as llmtrace did before schema 4) holds
    mixed row groups; opening it for writing migrates it so that plain SQL answers right."""
    db = tmp_path / "old.duckdb"
    conn = duckdb.connect(str(db))
    apply_migrations(conn, MIGRATIONS[:3])
    for tenant, count in (("acme", 40_000), ("beta", 1_000)):
        conn.execute(
            """INSERT INTO spans (trace_id, span_id, name, status, start_time, end_time,
                   duration_ms, attributes)
               SELECT md5(i::VARCHAR || ?), left(md5(i::VARCHAR), 16), 'old', 'UNSET', now(),
                   now(), 0, json_object('llmtrace.context.tenant', ?)::JSON::VARIANT
               FROM range(?) r(i)""",
            [tenant, tenant, count],
        )
        conn.execute("CHECKPOINT")
    conn.close()
    assert _tenant_counts(db)[:2] != (1_000, 40_000)  # the upstream bug, as it was stored
    connect_write(db).close()
    assert _tenant_counts(db) == (1_000, 40_000, {"acme": 40_000, "beta": 1_000})


def test_the_upstream_reproduction_runs(tmp_path):
    """The minimal reproduction kept for DuckDB's tracker runs with plain DuckDB, and with every
    row group shredded (llmtrace's setting) it answers right whatever the upstream status."""
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "upstream" / "duckdb_variant_shredding.py")],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stderr
    assert "every row group shredded:   beta=1000 acme=40000" in done.stdout


def _span(name: str, attributes: dict[str, object], span_id: int) -> ReadableSpan:
    context = SpanContext(0xABC, span_id, is_remote=False, trace_flags=TraceFlags(1))
    return ReadableSpan(
        name=name,
        context=context,
        attributes=attributes,  # type: ignore[arg-type]
        resource=Resource.create({"service.name": "odd"}),
        start_time=1_000,
        end_time=2_000,
    )


class _Unprintable:
    def __str__(self) -> str:
        raise RuntimeError("no text for you")


def _stored(db: Path) -> list[tuple[object, ...]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(
            "SELECT name, attributes::JSON::VARCHAR FROM spans ORDER BY span_id"
        ).fetchall()
    finally:
        conn.close()


def test_odd_attribute_values_are_kept_readable_and_never_lose_the_batch(tmp_path):
    db = tmp_path / "odd.duckdb"
    surrogate = b"caf\xe9.txt".decode("utf-8", "surrogateescape")
    exporter = DuckDBSpanExporter(db)
    spans = [
        _span("plain", {"n": 1}, 1),
        _span("file", {"file.name": surrogate}, 2),
        _span(surrogate, {"blob": b"caf\xe9", "text": b"ok"}, 3),
        _span("dict", {"meta": {"a": 1, "b": [1, 2]}}, 4),
    ]
    exporter.export(spans)
    assert exporter.force_flush() is True
    exporter.shutdown()
    assert exporter.lost_spans == 0
    rows = _stored(db)
    assert [r[0] for r in rows] == ["plain", "file", "caf\\udce9.txt", "dict"]
    assert '"file.name":"caf\\\\udce9.txt"' in str(rows[1][1])
    assert '"blob":"caf\\\\xe9"' in str(rows[2][1]) and '"text":"ok"' in str(rows[2][1])
    assert '"meta":{"a":1,"b":[1,2]}' in str(rows[3][1])


def test_a_span_that_cannot_be_converted_costs_only_itself_and_is_counted(tmp_path, monkeypatch):
    monkeypatch.setenv("LLMTRACE_RAISE_INTERNAL_ERRORS", "0")
    db = tmp_path / "bad.duckdb"
    exporter = DuckDBSpanExporter(db)
    spans = [_span(f"s{i}", {"i": i}, i + 1) for i in range(10)]
    spans[4] = _span("bad", {"x": _Unprintable()}, 5)
    exporter.export(spans)
    assert exporter.force_flush() is False  # something did not land, and flush says so
    assert exporter.force_flush() is True  # ...once: later flushes report later losses
    exporter.shutdown()
    assert exporter.lost_spans == 1
    assert [r[0] for r in _stored(db)] == [f"s{i}" for i in range(10) if i != 4]


def test_handle_dropped_spans_counts_spans_the_exporter_lost(tmp_path):
    done = run_python(
        """
        import json, sys, llmtrace
        from opentelemetry import trace
        handle = llmtrace.configure(service_name="lost", db=sys.argv[1] if len(sys.argv) > 1
                                    else "lost.duckdb")
        class Unprintable:
            def __str__(self):
                raise RuntimeError("no")
        with llmtrace.tool("t") as span:  # past the SDK's own checks, as another SDK might
            span.span._attributes._dict["x"] = Unprintable()
        with llmtrace.tool("fine"):
            pass
        ok = handle.flush()
        print(json.dumps({"ok": ok, "dropped": handle.dropped_spans}))
        """,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    last = done.stdout.strip().splitlines()[-1]
    result = json.loads(last)
    assert result == {"ok": False, "dropped": {"DuckDBSpanExporter": 1}}
    assert "could not be stored" in done.stderr


def test_a_reader_sees_spans_still_waiting_beside_a_store_not_yet_created(tmp_path):
    """In an application's first second the spans may sit in hand-off files of a live process
    before any store file exists: a reader merges them instead of saying there is no store."""
    import pyarrow as pa

    from llmtrace.exporters.duckdb import convert
    from llmtrace.store.query import open_store_for_read
    from llmtrace.store.spool import write_handoff

    db = tmp_path / "early.duckdb"
    batch: pa.Table = convert([_span(f"s{i}", {"i": i}, i + 1) for i in range(7)])
    write_handoff(db, batch)  # named after this (live) process: its merger's, normally
    assert not db.exists()
    conn = open_store_for_read(db)
    try:
        assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(7,)]
    finally:
        conn.close()
    again = open_store_for_read(db)  # exactly once: the ledger knows the file
    assert again.execute("SELECT count(*) FROM spans").fetchall() == [(7,)]
    again.close()


@pytest.mark.parametrize(
    "sql",
    [
        "COPY spans TO '{tmp}/out.csv'",
        "SELECT * FROM read_csv('/etc/passwd')",
        "EXPORT DATABASE '{tmp}/dump'",
        "INSTALL sqlite",
        "ATTACH '{tmp}/other.duckdb' AS other",
        "SET enable_external_access = true",
    ],
)
def test_a_sandboxed_reader_touches_no_other_file_and_no_network(tmp_path, sql):
    from llmtrace.store.connection import connect_read

    db = tmp_path / "sandbox.duckdb"
    connect_write(db).close()
    conn = connect_read(db, sandboxed=True)
    try:
        assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(0,)]
        with pytest.raises(duckdb.Error):
            conn.execute(sql.format(tmp=tmp_path))
    finally:
        conn.close()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sandbox.duckdb"]


def test_no_connection_llmtrace_opens_loads_extensions_or_draws_progress(tmp_path):
    from llmtrace.store.connection import connect_read

    db = tmp_path / "settings.duckdb"
    for conn in (connect_write(db),):
        conn.close()
    conn = connect_read(db)
    settings = dict(
        conn.execute(
            "SELECT name, value FROM duckdb_settings() WHERE name IN ('enable_progress_bar', "
            "'autoload_known_extensions', 'autoinstall_known_extensions', "
            "'variant_minimum_shredding_size')"
        ).fetchall()
    )
    conn.close()
    assert settings == {
        "enable_progress_bar": "false",
        "autoload_known_extensions": "false",
        "autoinstall_known_extensions": "false",
        "variant_minimum_shredding_size": "0",
    }


def test_a_migration_skipped_by_an_earlier_build_is_applied_later(tmp_path):
    """A store recorded 1-3 and 5+ (a build that had 5 before 4 landed): 4 still runs."""
    from llmtrace.store.schema import MIGRATIONS

    db = tmp_path / "skipped.duckdb"
    conn = duckdb.connect(str(db))
    apply_migrations(conn, [m for m in MIGRATIONS if m[0] != 4])
    assert 4 not in {r[0] for r in conn.execute("SELECT version FROM schema_migrations").fetchall()}
    assert apply_migrations(conn) == MIGRATIONS[-1][0]
    versions = [r[0] for r in conn.execute("SELECT version FROM schema_migrations").fetchall()]
    conn.close()
    assert sorted(versions) == [m[0] for m in MIGRATIONS]
