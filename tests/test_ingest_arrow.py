"""Hand-off files reach DuckDB as Arrow streams (store/json_batch.py, nanoarrow): a row group
fits the merger's first memory limit, a file prepared on another thread inserts chunk by chunk
(and again, from the file, after a rollback), and the batches carry the id keys."""

from __future__ import annotations

import threading

import duckdb
import pytest

from llmtrace.exporters.duckdb.gathering import Document
from llmtrace.exporters.duckdb.reading import encode_salvaging
from llmtrace.store import connect_write, json_batch
from llmtrace.store.batch_sql import insert_sql
from llmtrace.store.json_batch import Prepared, insert_documents
from llmtrace.store.spool import ROW_GROUP_ROWS, write_handoff
from llmtrace.store.writer import StoreWriter
from llmtrace.testing import make_spans


def _handoff(db, spans):
    documents = []
    for start in range(0, len(spans), 1_024):
        document, unreadable = encode_salvaging(spans[start : start + 1_024])
        assert document is not None and unreadable == 0
        documents.append(document.data)
    return write_handoff(db, Document(b"\n".join(documents), len(spans)))


def test_a_row_group_of_fourteen_attribute_spans_fits_the_first_memory_limit(tmp_path):
    """Read as JSON lines, a row group needed 160 MB of DuckDB's memory and every merger's
    first full file failed once and doubled the cap; scanned from Arrow it fits the first."""
    db = tmp_path / "rg.duckdb"
    path = _handoff(db, make_spans(ROW_GROUP_ROWS, 14))
    writer = StoreWriter(db)
    first = writer.memory_limit_mb
    try:
        assert writer.merge(path)
    finally:
        writer.release()
    assert writer.committed_spans == ROW_GROUP_ROWS
    assert writer.memory_limit_mb == first
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("SELECT count(DISTINCT span_id) FROM spans").fetchall() == [
            (ROW_GROUP_ROWS,)
        ]


def test_a_file_prepared_on_a_thread_inserts_in_chunks_and_again_from_the_file(
    tmp_path, monkeypatch
):
    """The preparer hands chunks over as the insert takes them (a few in memory, never the
    file); after a rollback the same file inserts again, read afresh."""
    db = tmp_path / "again.duckdb"
    path = _handoff(db, make_spans(2_500))
    monkeypatch.setattr(json_batch, "CHUNK_ROWS", 2_048)  # documents of 1,024, 1,024 and 452
    assert [c.rows for c in json_batch.chunks(path, None)] == [2_048, 452]
    prepared = Prepared(path, None)
    producer = threading.Thread(target=prepared.produce)
    producer.start()
    conn = connect_write(db, 5)
    try:
        conn.execute("BEGIN TRANSACTION")
        assert insert_documents(conn, path, None, prepared) == 2_500
        conn.execute("ROLLBACK")
        producer.join(5)
        assert not producer.is_alive()
        conn.execute("BEGIN TRANSACTION")
        assert insert_documents(conn, path, None, prepared) == 2_500  # read from the file
        conn.execute("COMMIT")
        rows = conn.execute(
            "SELECT count(*), count(DISTINCT span_id), count(model), count(cost_usd) FROM spans"
        ).fetchall()
    finally:
        conn.close()
        prepared.discard()
    assert rows == [(2_500, 2_500, 2_500, 2_500)]


def test_a_discarded_preparation_stops_its_thread(tmp_path, monkeypatch):
    """A preparation nobody takes (the store was busy) stops at once when discarded, with at
    most a chunk waiting, instead of preparing the whole file."""
    monkeypatch.setattr(json_batch, "CHUNK_ROWS", 1_024)
    db = tmp_path / "discard.duckdb"
    path = _handoff(db, make_spans(5_000))
    prepared = Prepared(path, None)
    producer = threading.Thread(target=prepared.produce)
    producer.start()
    producer.join(0.5)
    assert producer.is_alive()  # waiting for room: one chunk is ready, the next one built
    prepared.discard()
    producer.join(5)
    assert not producer.is_alive()


_ODD_TRACE_IDS = [
    "0123456789abcdef0123456789abcdef",
    "ffffffffffffffffffffffffffffffff",
    "0123456789ABCDEF0123456789abcdef",  # upper case: no keys
    "0123",  # short: no keys
]
_GOOD_TRACE_IDS = [
    "0123456789abcdef0123456789abcdef",
    "ffffffffffffffffffffffffffffffff",
    "00000000000000000000000000000001",
    "80000000000000007fffffffffffffff",
]


@pytest.mark.parametrize("trace_ids", [_ODD_TRACE_IDS, _GOOD_TRACE_IDS], ids=["odd", "all-hex"])
def test_a_batch_carries_the_id_keys_the_insert_would_derive_from_its_hex_ids(tmp_path, trace_ids):
    """span_batch computes trace_hi/trace_lo/span_key/parent_key from the ids (DuckDB deriving
    them from the hex text cost ~0.6 us a span); they equal what keys.py derives, for a
    document's hex trace ids (odd ones included), integer ids and ids out of range."""
    from llmtrace.exporters.duckdb.rows import table
    from llmtrace.store.handoff import SpanFields
    from llmtrace.store.span_batch import fields_to_batch

    fields = SpanFields()
    fields.trace_ids = trace_ids  # type: ignore[assignment]
    fields.span_ids = [1, (1 << 64) - 1, 1 << 64, 42]
    fields.parents = [None, 7, (1 << 70) + 3, None]
    fields.names = ["a", "b", "c", "d"]
    fields.kinds = ["internal"] * 4
    fields.status_codes = ["UNSET"] * 4
    fields.status_messages = [None] * 4
    fields.starts = [1_000, 2_000, 3_000, 4_000]
    fields.ends = [2_000, 3_000, 4_000, 5_000]
    fields.attributes = [{}] * 4
    fields.events = [None] * 4
    fields.links = [None] * 4
    fields.resources = [{"service.name": "keys"}] * 4
    batch = table(fields_to_batch(fields))
    assert {"trace_hi", "trace_lo", "span_key", "parent_key"} <= set(batch.schema.names)
    conn = connect_write(tmp_path / "keys.duckdb", 5)
    try:
        conn.register("batch", batch)
        conn.execute(insert_sql("batch", batch.schema))
        without = batch.drop_columns(["trace_hi", "trace_lo", "span_key", "parent_key"])
        conn.register("without", without)
        conn.execute(insert_sql("without", without.schema))
        carried, derived = (
            conn.execute(
                "SELECT trace_id, span_id, trace_hi, trace_lo, span_key, parent_key FROM spans "
                f"WHERE rowid {op} 4 ORDER BY name"
            ).fetchall()
            for op in ("<", ">=")
        )
    finally:
        conn.close()
    assert carried == derived
    assert carried[0][2:] == (0x0123456789ABCDEF, 0x0123456789ABCDEF, 1, None)
    assert carried[2][4:] == (0, 3)  # 2**64 and 2**70 + 3 stored modulo 2**64
    if trace_ids is _ODD_TRACE_IDS:
        assert carried[2][2:4] == (None, None) and carried[3][2:4] == (None, None)
    else:
        assert carried[3][2:4] == (1 << 63, (1 << 63) - 1)
