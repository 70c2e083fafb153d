"""Shared fixtures. llmtrace's own internal errors are raised in tests, so bugs are seen."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

os.environ["LLMTRACE_RAISE_INTERNAL_ERRORS"] = "1"

# A suite started as a shell's background job (``make test &``) has SIGINT ignored, and so
# would every process it starts (an ignored signal stays ignored across exec): the Ctrl-C
# tests' processes would then never see it. A handler here makes it the default there again.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

import llmtrace
from llmtrace._tracing.processors import ContextStampingProcessor
from llmtrace._tracing.runtime import runtime
from llmtrace.exporters import DuckDBSpanExporter
from llmtrace.testing import CapturedSpans, FakeClock, capture_spans

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def spans() -> Iterator[CapturedSpans]:
    with capture_spans() as captured:
        yield captured


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed_spans(clock: FakeClock) -> Iterator[CapturedSpans]:
    """Captured spans whose times come from ``clock``: records carry exact ``start_ns`` /
    ``end_ns`` and latency attributes, so a test compares whole records."""
    with capture_spans(clock=clock) as captured:
        yield captured


def run_python(
    code: str,
    *,
    args: Sequence[str] = (),
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    """Run ``code`` (with ``args`` as its sys.argv[1:]) in a fresh interpreter: global
    OpenTelemetry state starts clean, and no OTEL_/LLMTRACE_ setting of this process leaks in
    (``env`` adds settings)."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=timeout,
    )


def count_spans_read_write(db: Path) -> tuple[int, int]:
    """(spans, distinct span ids) through a plain read-write ``duckdb.connect``: it fails if
    anybody (a merger, the shared merger) still holds the file."""
    conn = duckdb.connect(str(db))
    try:
        count, distinct = conn.execute(
            "SELECT count(*), count(DISTINCT span_id) FROM spans"
        ).fetchall()[0]
        return int(count), int(distinct)
    finally:
        conn.close()


def run_json(code: str, **kwargs: Any) -> Any:
    """Run ``code`` in a subprocess; its last stdout line is parsed as JSON."""
    done = run_python(code, **kwargs)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "simulation: gate calibration by simulation (tens of seconds; -m 'not simulation' skips)",
    )


@pytest.fixture
def store(tmp_path, monkeypatch):
    """Route llmtrace spans straight into a real DuckDB file for the test."""
    path = tmp_path / "spans.duckdb"
    exporter = DuckDBSpanExporter(path)
    provider = TracerProvider(resource=Resource.create({"service.name": "store-test"}))
    provider.add_span_processor(ContextStampingProcessor())
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    saved = runtime.tracer
    runtime.tracer = provider.get_tracer("llmtrace")
    # query() flushes the store that configure() set up; this provider is the test's own.
    unflushed_query = llmtrace.query

    def query(*args, **kwargs):
        assert exporter.force_flush()  # SimpleSpanProcessor.force_flush does not reach it
        return unflushed_query(*args, **kwargs)

    monkeypatch.setattr(llmtrace, "query", query)
    yield path
    runtime.tracer = saved
    provider.shutdown()


def _support_bot(clock: FakeClock | None = None):
    """A traced support bot: a workflow over retrieval, a tool, a guardrail, an llm call and a
    judge. Given a clock, retrieval takes 10 ms, the tool 20 ms, the llm call 300 ms and the
    judge 50 ms."""
    prompt = llmtrace.Prompt("answer", template="Q: {q}")
    advance = clock.advance if clock is not None else lambda seconds: None

    @llmtrace.retrieval(index="kb", index_version="2026-11-01")
    def search(q):
        advance(0.01)
        return [{"id": "d1"}, {"id": "d2"}]

    @llmtrace.tool("lookup_order", call_id="call_9")
    def lookup(order_id):
        advance(0.02)
        return {"status": "late"}

    @llmtrace.guardrail(policy="pii", version="3")
    def pii(text):
        return llmtrace.Decision(action="redact", score=0.5, reason="email")

    @llmtrace.llm(model="gpt-4o-mini", provider="openai", prompt=prompt)
    def call(messages):
        advance(0.3)
        return {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 100, "completion_tokens": 20}}

    @llmtrace.judge(model="gpt-4o", version="helpful-v2")
    def helpful(answer):
        advance(0.05)
        return 0.9

    @llmtrace.workflow("handle_ticket")
    def handle(q):
        search(q)
        lookup(1)
        pii(q)
        helpful(call(q))
        return "ok"

    with llmtrace.context(
        dataset_version="qa@1", eval_run_id="run-1", eval_example_id="ex-1", tenant="acme"
    ):
        handle("where is my order?")


def hold_the_store(path: Path) -> subprocess.Popen[str]:
    """Another process that holds the store until told to let go."""
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
            import sys, time
            from pathlib import Path
            from llmtrace.store import connect_write
            conn = connect_write(Path({str(path)!r}))
            print("locked", flush=True)
            sys.stdin.readline()
            conn.close()
        """),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout.readline().strip() == "locked"
    return holder


def cli_in_process(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """Run ``llmtrace ARGS`` in this process: its exit code (0 when it exits without one),
    stdout and stderr."""
    from llmtrace.cli import main

    with pytest.raises(SystemExit) as exit_info:
        main(list(args))
    out, err = capsys.readouterr()
    code = exit_info.value.code
    return int(code) if isinstance(code, int) else 0, out, err
