"""Issue 19, the write path: the traced application only reads its spans and writes hand-off
documents (JSON); whoever merges them normalises, prices and stores. The application never
loads pyarrow, numpy, DuckDB or the price table; odd values, old Arrow files, user prices and
exit all still come out right."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import duckdb
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext

from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.exporters.duckdb.gathering import Document, Gathered
from llmtrace.exporters.duckdb.reading import encode_salvaging
from llmtrace.exporters.duckdb.rows import spans_to_batch
from llmtrace.store import connect_write
from llmtrace.store.handoff import decode, is_handoff_json
from llmtrace.store.spool import (
    ROW_GROUP_ROWS,
    merge_spool,
    spans_in,
    spool_files,
    write_handoff,
    write_spool,
)
from llmtrace.testing import make_spans

ROOT = Path(__file__).resolve().parents[1]

_APP = """
import json, sys
import llmtrace

handle = llmtrace.configure(service_name="thin", db=sys.argv[1],
                            prices={"house-model": {"input": 1.0, "output": 2.0}})


@llmtrace.llm(model=sys.argv[2], provider="openai")
def call(i):
    return {"usage": {"prompt_tokens": 1000, "completion_tokens": 500}}


for i in range(1000):
    call(i)
ok = handle.flush()
heavy = ("pyarrow", "numpy", "duckdb", "genai_prices", "tiktoken", "pandas")
print(json.dumps({"ok": ok, "loaded": [m for m in heavy if m in sys.modules]}))
for i in range(int(sys.argv[3])):  # spans left for exit to store
    call(i)
"""


def _run_app(db: Path, model: str, at_exit: int) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    done = subprocess.run(
        [sys.executable, "-c", _APP, str(db), model, str(at_exit)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_the_traced_application_loads_no_storage_or_pricing_and_exit_stores_everything(
    tmp_path,
):
    """1,000 spans traced and flushed: the application process has imported none of pyarrow,
    numpy, DuckDB, genai-prices, tiktoken (the merger did the work); then 300 more spans at
    exit, which a plain DuckDB client sees as soon as the process has ended, priced."""
    db = tmp_path / "thin.duckdb"
    result = _run_app(db, "gpt-4o-mini", 300)
    assert result == {"ok": True, "loaded": []}
    with duckdb.connect(str(db), read_only=True) as conn:
        count, priced, version = conn.execute(
            "SELECT count(*), count(cost_usd), any_value(price_table_version) FROM spans"
        ).fetchall()[0]
    assert (count, priced) == (1300, 1300)
    assert str(version).startswith("genai-prices ")
    assert not spool_files(db)


def test_the_prices_configure_was_given_price_the_spans_wherever_they_are_merged(tmp_path):
    """User prices travel in the hand-off documents: the merger process (for the flushed
    spans) and the exiting process (for the rest) both price with them."""
    db = tmp_path / "prices.duckdb"
    assert _run_app(db, "house-model", 10)["ok"] is True
    with duckdb.connect(str(db), read_only=True) as conn:
        rows = conn.execute(
            "SELECT count(*), min(cost_usd), max(cost_usd), any_value(price_table_version) "
            "FROM spans"
        ).fetchall()
    # 1,000 input tokens at $1/MTok and 500 output at $2/MTok: $0.002 a call.
    assert rows == [(1010, pytest.approx(0.002), pytest.approx(0.002), rows[0][3])]
    assert str(rows[0][3]).startswith("user:")


class _Odd:
    def __str__(self) -> str:
        return "odd-object"


def _odd_spans() -> list[ReadableSpan]:
    spans = make_spans(5)
    odd = spans[2]
    odd._attributes = {  # type: ignore[assignment]
        **dict(odd.attributes or {}),
        "big": 2**70,
        "raw": b"\xffbytes",
        "surrogate": "file-\udcff",
        "object": _Odd(),
    }
    odd._name = b"bytes-name"  # type: ignore[assignment]
    return spans


def test_a_handoff_file_with_odd_values_merges_with_the_rest_intact(tmp_path):
    db = tmp_path / "odd.duckdb"
    document, lost = encode_salvaging(_odd_spans())
    assert document is not None and (document.num_rows, lost) == (5, 0)
    write_spool(db, document)
    conn = connect_write(db)
    try:
        assert merge_spool(conn, db) == 5
        rows = conn.execute(
            "SELECT name, a->>'big', a->>'raw', a->>'surrogate', a->>'object' "
            "FROM (SELECT name, attributes::JSON AS a FROM spans) WHERE a->>'big' IS NOT NULL"
        ).fetchall()
        total = conn.execute("SELECT count(*), count(cost_usd) FROM spans").fetchall()
    finally:
        conn.close()
    assert rows == [("bytes-name", str(2**70), "\\xffbytes", "file-\\udcff", "odd-object")]
    assert total == [(5, 5)]


def test_an_unreadable_span_costs_only_itself_and_is_counted(tmp_path, monkeypatch, caplog):
    from llmtrace import _internal

    monkeypatch.setenv("LLMTRACE_RAISE_INTERNAL_ERRORS", "0")
    monkeypatch.setattr(_internal, "_counts", Counter())  # said once a process: keep it so
    good = make_spans(3)
    broken = ReadableSpan(name="no context", context=None, start_time=5, end_time=6)
    path = tmp_path / "salvage.duckdb"
    exporter = DuckDBSpanExporter(path)
    try:
        with caplog.at_level(logging.WARNING, logger="llmtrace"):
            exporter.export([good[0], broken, good[1], good[2]])
            assert exporter.force_flush() is False  # a span was lost: flush says so
    finally:
        exporter.shutdown()
    assert exporter.lost_spans == 1
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(3,)]


def test_old_arrow_spool_files_merge_beside_new_json_ones(tmp_path):
    """Arrow IPC files (every spool file of earlier versions, and llmtrace serve's) and JSON
    hand-off documents merge alike, each exactly once, and store the same rows."""
    db = tmp_path / "mixed.duckdb"
    spans = make_spans(4)
    old = write_spool(db, spans_to_batch(spans[:2]))
    document, _ = encode_salvaging(spans[2:])
    assert document is not None
    new = write_handoff(db, document)
    assert not is_handoff_json(old.read_bytes()[:16]) and is_handoff_json(new.read_bytes()[:16])
    assert (spans_in(old), spans_in(new)) == (2, 2)
    conn = connect_write(db)
    try:
        assert merge_spool(conn, db, include_live=True) == 4
        assert merge_spool(conn, db, include_live=True) == 0
        stored = conn.execute(
            "SELECT span_id, name, kind, model, input_tokens, cost_usd, service_name, "
            "attributes::JSON::VARCHAR FROM spans ORDER BY start_time"
        ).fetchall()
    finally:
        conn.close()
    with duckdb.connect() as direct:  # the same spans through the Arrow path alone
        from llmtrace.store.batch_sql import insert_sql
        from llmtrace.store.schema import apply_migrations

        apply_migrations(direct)
        batch = spans_to_batch(spans)
        direct.register("b", batch)
        direct.execute(insert_sql("b", batch.schema))
        expected = direct.execute(
            "SELECT span_id, name, kind, model, input_tokens, cost_usd, service_name, "
            "attributes::JSON::VARCHAR FROM spans ORDER BY start_time"
        ).fetchall()
    assert stored == expected


def test_documents_gather_into_files_of_at_most_a_row_group():
    gathered = Gathered()
    quarter = Document(b'{"n":1}', ROW_GROUP_ROWS // 4)
    for _ in range(4):
        assert gathered.accepts(quarter)
        gathered.add(quarter)
    assert not gathered.accepts(Document(b'{"n":1}', 1))  # would pass a row group
    taken = gathered.take(ROW_GROUP_ROWS)
    assert taken.num_rows == ROW_GROUP_ROWS and taken.data.count(b"\n") == 3
    assert gathered.rows == 0


def test_a_document_reads_back_as_the_fields_it_was_made_of():
    spans = make_spans(3)
    parented = spans[1]
    parented._parent = SpanContext(trace_id=1, span_id=0xABC, is_remote=False)
    document, _ = encode_salvaging(spans)
    assert document is not None
    [(fields, prices)] = decode(document.data)
    assert prices is None
    assert fields.trace_ids == [f"{s.context.trace_id:032x}" for s in spans]  # type: ignore[union-attr]
    assert fields.parents == [None, 0xABC, None]
    assert fields.attributes == [json.loads(json.dumps(dict(s.attributes or {}))) for s in spans]


def _every_kind_of_span() -> list[ReadableSpan]:
    """Spans of every convention the store normalises, with events, links, a parent, odd
    values and two resources in one batch."""
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event
    from opentelemetry.trace import Link

    from tests.foreign_spans_helpers import FIXTURES, load, make_spans_for

    spans: list[ReadableSpan] = []
    for fixture in sorted(FIXTURES.glob("*.json")):
        spans += make_spans_for(load(fixture.stem))
    own = make_spans(3)
    linked = ReadableSpan(
        "with events",
        context=SpanContext(7, 8, False),
        parent=SpanContext(7, 9, False),
        attributes={"llmtrace.span.kind": "tool", "gen_ai.usage.input_tokens": "not a number"},
        events=[Event("retry", {"attempt": 2}, 1_500)],
        links=[Link(SpanContext(10, 11, False), {"why": "batch"})],
        resource=Resource.create({"service.name": "other"}),
        start_time=1_000,
        end_time=2_000,
    )
    return [*spans, *own, linked]


def _stored_rows(db: Path) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as conn:
        return conn.execute(
            "SELECT * EXCLUDE (attributes), attributes::JSON::VARCHAR FROM spans "
            "ORDER BY trace_id, span_id"
        ).fetchall()


def test_json_documents_store_exactly_what_arrow_batches_store(tmp_path):
    """The same spans through the application's JSON documents (DuckDB reads them) and
    through an Arrow batch (llmtrace serve's path): every column of every row is equal, for
    every convention the store normalises."""
    spans = _every_kind_of_span()
    stores = {}
    for way in ("json", "arrow"):
        db = tmp_path / f"{way}.duckdb"
        if way == "json":
            document, lost = encode_salvaging(spans)
            assert document is not None and lost == 0
            write_spool(db, document)
        else:
            write_spool(db, spans_to_batch(spans))
        conn = connect_write(db)
        try:
            assert merge_spool(conn, db) == len(spans)
        finally:
            conn.close()
        stores[way] = _stored_rows(db)
    assert len(stores["json"]) == len(spans)
    assert stores["json"] == stores["arrow"]


_PRICE_ONE = """
import json, sys
from llmtrace.pricing import PriceTable
from llmtrace.usage import Usage
table = PriceTable()
cost = table.cost(Usage(1000, 500), "gpt-4o-mini", "openai")
print(json.dumps({"cost": cost.total_usd, "source": cost.source,
                  "unknown": table.rates("no-such-model-at-all") is None,
                  "loaded": "genai_prices" in sys.modules}))
"""


def test_rates_looked_up_once_are_reused_by_other_processes_without_genai_prices(tmp_path):
    """The merger and an exiting process price from the rates cache on disk: the second
    process prices the same without loading genai-prices (~0.3 s, ~26 MiB)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    env["LLMTRACE_CACHE_DIR"] = str(tmp_path / "cache")
    runs = []
    for _ in range(2):
        done = subprocess.run(
            [sys.executable, "-c", _PRICE_ONE], capture_output=True, text=True, env=env, cwd=ROOT
        )
        assert done.returncode == 0, done.stderr
        runs.append(json.loads(done.stdout.strip().splitlines()[-1]))
        assert "no price known for model 'no-such-model-at-all'" in done.stderr  # both times
    first, second = runs
    assert first["loaded"] is True and second["loaded"] is False
    assert {k: v for k, v in first.items() if k != "loaded"} == {
        k: v for k, v in second.items() if k != "loaded"
    }
    assert first["cost"] == pytest.approx(1000 * 0.15e-6 + 500 * 0.6e-6)
    env["LLMTRACE_CACHE_DIR"] = "off"
    done = subprocess.run(
        [sys.executable, "-c", _PRICE_ONE], capture_output=True, text=True, env=env, cwd=ROOT
    )
    assert json.loads(done.stdout.strip().splitlines()[-1])["loaded"] is True


def test_a_batch_that_does_not_fit_the_mergers_memory_limit_gets_more_room(tmp_path):
    """The merger caps DuckDB's memory; a batch that does not fit raises the cap (doubling)
    and is stored, rather than failing again and again."""
    from llmtrace.store.writer import StoreWriter

    db = tmp_path / "cap.duckdb"
    document, _ = encode_salvaging(make_spans(3_000, 14))
    assert document is not None
    handoff = write_handoff(db, document)
    writer = StoreWriter(db)
    writer.memory_limit_mb = 1  # far too little for 3,000 spans
    try:
        assert writer.merge(handoff)
    finally:
        writer.release()
    assert writer.committed_spans == 3_000 and writer.memory_limit_mb > 1
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(3_000,)]


def test_the_merger_prepares_the_next_file_while_storing_one_and_leaves_nothing_behind(
    tmp_path,
):
    """Several hand-off files waiting: each is stored exactly once (the next one prepared on a
    thread meanwhile), a busy store leaves them waiting, and no scratch file is left."""
    import io

    from llmtrace.exporters.duckdb.merger import Merger
    from llmtrace.store.spool import spool_dir
    from llmtrace.store.writer import StoreWriter

    db = tmp_path / "ahead.duckdb"
    files = []
    for size in (700, 1_500, 30, 2_048):
        document, _ = encode_salvaging(make_spans(size))
        assert document is not None
        files.append(write_handoff(db, document))
    old = write_handoff(db, spans_to_batch(make_spans(5)))  # an Arrow file among them
    merger = Merger(StoreWriter(db), idle_release_s=0.6, out=io.StringIO())
    merger.pending.extend([*files[:2], old, *files[2:]])
    try:
        assert merger.merge_pending()
    finally:
        merger.finish()
    assert merger.writer.committed_spans == 700 + 1_500 + 30 + 2_048 + 5
    assert sorted(p.name for p in spool_dir(db).iterdir()) == []
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(4_283,)]
