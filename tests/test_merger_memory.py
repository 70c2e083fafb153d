"""The merger's DuckDB memory: a small cap while it keeps up (its peak RSS), more while files
wait behind the one being stored (a backlog is stored faster), and a cap a batch that did not
fit raised stays raised."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import duckdb

from llmtrace.exporters.duckdb.gathering import Document
from llmtrace.exporters.duckdb.merger import Merger
from llmtrace.exporters.duckdb.reading import encode_salvaging
from llmtrace.store.spool import write_handoff
from llmtrace.store.writer import StoreWriter
from llmtrace.testing import make_spans


def _setting(writer: StoreWriter) -> str:
    conn: Any = writer._conn
    return str(conn.execute("SELECT current_setting('memory_limit')").fetchall()[0][0])


def _handoff(db: Path, spans: int) -> Path:
    document, _ = encode_salvaging(make_spans(spans, 14))
    assert isinstance(document, Document)
    return write_handoff(db, document)


def test_a_writer_behind_gets_more_memory_and_gives_it_back(tmp_path):
    writer = StoreWriter(tmp_path / "m.duckdb")
    try:
        assert writer.acquire()
        usual, usual_mb = _setting(writer), writer.memory_limit_mb
        writer.set_behind(True)
        assert writer.memory_limit_mb > usual_mb and _setting(writer) != usual
        writer.set_behind(False)
        assert writer.memory_limit_mb == usual_mb and _setting(writer) == usual
    finally:
        writer.release()


def test_a_limit_raised_by_a_batch_that_did_not_fit_stays(tmp_path):
    db = tmp_path / "raised.duckdb"
    writer = StoreWriter(db)
    writer.memory_limit_mb = 1  # far too little for 3,000 spans: raised until they fit
    try:
        assert writer.merge(_handoff(db, 3_000))
        raised = writer.memory_limit_mb
        assert raised > 1
        writer.set_behind(False)
        assert writer.memory_limit_mb == raised
        writer.set_behind(True)
        assert writer.memory_limit_mb >= raised
    finally:
        writer.release()


class _Recording(StoreWriter):
    def __init__(self, path: Path) -> None:
        super().__init__(path)
        self.behind: list[bool] = []

    def set_behind(self, behind: bool) -> None:
        self.behind.append(behind)
        super().set_behind(behind)


def test_a_merger_behind_gets_more_memory_until_it_lets_go(tmp_path):
    db = tmp_path / "backlog.duckdb"
    files = [_handoff(db, 50) for _ in range(3)]
    writer = _Recording(db)
    usual = writer.memory_limit_mb
    merger = Merger(writer, idle_release_s=1.0, out=io.StringIO())
    merger.pending.extend(files)
    try:
        assert merger.merge_pending()
        assert writer.behind == [True, True]  # two files waited behind the first, one behind
        assert writer.memory_limit_mb > usual
    finally:
        merger.finish()
    assert writer.memory_limit_mb == usual
    merger.pending.append(_handoff(db, 50))  # one file alone: not behind
    try:
        assert merger.merge_pending()
        assert writer.behind == [True, True] and writer.memory_limit_mb == usual
    finally:
        merger.finish()
    with duckdb.connect(str(db), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM spans").fetchall() == [(200,)]
