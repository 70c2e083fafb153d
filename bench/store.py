"""Issue 3: exporter ingest, end-to-end throughput against a dropping exporter, query latency
over 1M and 10M spans, a filter on a non-promoted attribute, and size on disk."""

from __future__ import annotations

import gc
import statistics
import tempfile
import time
from pathlib import Path

import duckdb
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from llmtrace._processors import CountingBatchSpanProcessor
from llmtrace.cli.stats import stats_sql
from llmtrace.exporters.duckdb_exporter import RECOMMENDED_BATCH, DuckDBSpanExporter
from llmtrace.store import connect_write
from llmtrace.store.rows import INSERT_BATCH_SQL, spans_to_batch
from llmtrace.testing import make_spans

from .common import DroppingExporter, line

# The query `llmtrace stats --by model,prompt_version` runs.
STATS_SQL, STATS_PARAMS = stats_sql(["model", "prompt_version"], "llm", None)
FILTER_SQL = "SELECT count(*) FROM spans WHERE attributes['app.extra_1']::VARCHAR = 'value-42'"


def ingest(folder: Path, spans_count: int = 60_000) -> float:
    spans = make_spans(spans_count)
    batch = RECOMMENDED_BATCH["max_export_batch_size"]
    rates = []
    for attempt in range(3):
        exporter = DuckDBSpanExporter(folder / f"ingest-{attempt}.duckdb")
        exporter.export(spans[:10])  # create the schema outside the timing
        exporter.force_flush()
        start = time.perf_counter()
        for i in range(0, len(spans), batch):
            exporter.export(spans[i : i + batch])
        exporter.force_flush()  # every span committed, the lease released (a checkpoint)
        rates.append(len(spans) / (time.perf_counter() - start))
        exporter.shutdown()
    return statistics.median(rates)


def ingest_parts(folder: Path, spans_count: int = 60_000) -> tuple[float, float]:
    """The two halves of ingest apart: Python conversion alone, and DuckDB alone inserting the
    already converted batches (one connection, then the closing checkpoint)."""
    spans = make_spans(spans_count)
    batch = RECOMMENDED_BATCH["max_export_batch_size"]
    conversion, database = [], []
    for attempt in range(3):
        start = time.perf_counter()
        tables = [spans_to_batch(spans[i : i + batch]) for i in range(0, len(spans), batch)]
        conversion.append(len(spans) / (time.perf_counter() - start))
        conn = connect_write(folder / f"parts-{attempt}.duckdb")
        conn.execute("SET wal_autocheckpoint = '1GB'")  # as the exporter's lease does
        start = time.perf_counter()
        for table in tables:
            conn.register("span_batch", table)
            conn.execute(INSERT_BATCH_SQL.format(source="span_batch"))
        conn.close()
        database.append(len(spans) / (time.perf_counter() - start))
    return statistics.median(conversion), statistics.median(database)


class ConvertingExporter(DroppingExporter):
    """Converts each batch as the DuckDB exporter does, then drops it: the ceiling for any
    writer that converts in the traced process, with DuckDB's own work taken away."""

    def export(self, spans: list[ReadableSpan]) -> SpanExportResult:  # type: ignore[override]
        spans_to_batch(spans)
        return super().export(spans)


def end_to_end(
    folder: Path, spans_count: int = 150_000, pairs: int = 3
) -> tuple[float, float, float, float, int]:
    """Median spans/s of the dropping and DuckDB sides, and the median per-trio ratios of the
    DuckDB and converting-only sides to dropping; trios interleaved so that the machine's slow
    moments hit every side."""

    def run(exporter: SpanExporter) -> float:
        provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
        provider.add_span_processor(CountingBatchSpanProcessor(exporter, **RECOMMENDED_BATCH))
        tracer = provider.get_tracer("bench")
        attributes = {f"attr.{i}": f"value-{i}" for i in range(10)}
        gc.collect()
        start = time.perf_counter()
        for _ in range(spans_count):
            tracer.start_span("work", attributes=attributes).end()
        provider.force_flush()  # for the DuckDB side: every span committed to the file
        elapsed = time.perf_counter() - start
        provider.shutdown()
        return spans_count / elapsed

    dropping, stored, ratios, converting = [], [], [], []
    for attempt in range(pairs):
        dropping.append(run(DroppingExporter()))
        stored.append(run(DuckDBSpanExporter(folder / f"e2e-{attempt}.duckdb")))
        ratios.append(stored[-1] / dropping[-1])
        converting.append(run(ConvertingExporter()) / dropping[-1])
    rows = (
        duckdb.connect(str(folder / "e2e-0.duckdb"), read_only=True)
        .execute("SELECT count(*) FROM spans")
        .fetchall()[0][0]
    )
    return (
        statistics.median(dropping),
        statistics.median(stored),
        statistics.median(ratios),
        statistics.median(converting),
        rows,
    )


def build_store(path: Path, millions: int, seed_spans: int = 100_000) -> None:
    """Real spans through the exporter, then replicated in SQL with fresh ids and times."""
    exporter = DuckDBSpanExporter(path)
    spans = make_spans(seed_spans)
    for i in range(0, len(spans), 8192):
        exporter.export(spans[i : i + 8192])
    exporter.force_flush()  # merges what was spooled during the lease's yield windows
    conn = duckdb.connect(str(path))
    copies = millions * 1_000_000 // seed_spans - 1
    conn.execute(f"""
        INSERT INTO spans SELECT s.* REPLACE (
            md5(s.trace_id || c::VARCHAR) AS trace_id,
            left(md5(s.span_id || c::VARCHAR), 16) AS span_id,
            s.start_time + INTERVAL (c) SECOND AS start_time,
            s.end_time + INTERVAL (c) SECOND AS end_time,
            s.duration_ms * (1 + (c % 7) / 10.0) AS duration_ms)
        FROM spans AS s, range(1, {copies + 1}) AS r(c)""")
    conn.execute("CHECKPOINT")
    conn.close()


def p95_ms(
    conn: duckdb.DuckDBPyConnection, sql: str, params: list[object] | None = None, runs: int = 20
) -> float:
    conn.execute(sql, params).fetchall()  # warm
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        conn.execute(sql, params).fetchall()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.quantiles(times, n=20)[18]


def run(with_ten_million: bool = True) -> dict[str, float]:
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        print("span store (issue 3)")
        rate = ingest(folder)
        figures["ingest_spans_per_s"] = rate
        line(
            "exporter ingest in isolation (conversion included)",
            f"{rate:,.0f} spans/s",
            "(target >= 100,000/s)",
        )
        conversion, database = ingest_parts(folder)
        figures["conversion_spans_per_s"] = conversion
        figures["duckdb_insert_spans_per_s"] = database
        line("  of which: conversion alone (Python, GIL held)", f"{conversion:,.0f} spans/s")
        line("  of which: DuckDB insert + checkpoint alone", f"{database:,.0f} spans/s")
        dropping, stored, ratio, converting, rows = end_to_end(folder)
        figures["e2e_ratio"] = ratio
        figures["e2e_ratio_conversion_only"] = converting
        line("end to end, SDK + dropping exporter", f"{dropping:,.0f} spans/s")
        line("end to end, SDK + DuckDB exporter", f"{stored:,.0f} spans/s")
        line(
            f"ratio DuckDB / dropping, median of 3 pairs ({rows:,} of 150,000 stored)",
            f"{ratio:.2f}x",
            "(target >= 0.80x)",
        )
        line("  ceiling: converting exporter that drops / dropping", f"{converting:.2f}x")
        sizes = [1, 10] if with_ten_million else [1]
        for millions in sizes:
            path = folder / f"store-{millions}m.duckdb"
            build_store(path, millions)
            conn = duckdb.connect(str(path), read_only=True)
            count = conn.execute("SELECT count(*) FROM spans").fetchall()[0][0]
            stats_ms = p95_ms(conn, STATS_SQL, STATS_PARAMS)
            figures[f"stats_p95_ms_{millions}m"] = stats_ms
            target = "< 50 ms" if millions == 1 else "< 300 ms"
            line(
                f"stats query p95 over {count:,} spans", f"{stats_ms:.1f} ms", f"(target {target})"
            )
            if millions == 1:
                mb = path.stat().st_size / 1e6
                figures["mb_per_million"] = mb
                line(
                    "on-disk size per million spans (10 attributes each)",
                    f"{mb:.1f} MB",
                    "(target < 80 MB)",
                )
            if millions == 10 or not with_ten_million:
                filter_ms = p95_ms(conn, FILTER_SQL)
                figures["filter_p95_ms"] = filter_ms
                line(
                    f"filter on a non-promoted attribute over {count:,} spans",
                    f"{filter_ms:.1f} ms",
                    "(target < 100 ms)",
                )
            conn.close()
            path.unlink()
    return figures


if __name__ == "__main__":
    run()
