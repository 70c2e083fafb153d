"""OTLP export over the wire to receivers started by the test, beside the DuckDB store."""

from __future__ import annotations

import json
import socket

import pytest

import llmtrace
from tests.conftest import run_python
from tests.otlp_receivers import TRACED_APP, GrpcReceiver, HttpReceiver


def run_app(db, kwargs=None, env=None):
    argv = ["app", str(db), json.dumps(kwargs or {}), "test"]
    done = run_python(f"import sys; sys.argv = {argv!r}\n" + TRACED_APP, env=env)
    assert done.returncode == 0, done.stderr
    return done


def check_spans(spans):
    by_name = {s["name"]: s for s in spans}
    assert set(by_name) == {
        "invoke_workflow flow",
        "execute_tool lookup",
        "chat gpt-4o-mini",
        "execute_tool broken",
    }
    root = by_name["invoke_workflow flow"]
    assert root["parent_span_id"] is None
    for name in ("execute_tool lookup", "chat gpt-4o-mini", "execute_tool broken"):
        assert by_name[name]["parent_span_id"] == root["span_id"]
        assert by_name[name]["trace_id"] == root["trace_id"]
    llm = by_name["chat gpt-4o-mini"]["attributes"]
    assert llm["gen_ai.request.model"] == "gpt-4o-mini"
    assert llm["gen_ai.provider.name"] == "openai"
    assert llm["gen_ai.usage.input_tokens"] == 10
    assert llm["llmtrace.cost.usd"] == pytest.approx(10 * 0.15e-6 + 2 * 0.6e-6)
    assert llm["user.id"] == "u-7"
    broken = by_name["execute_tool broken"]
    assert broken["status"] == 2  # STATUS_CODE_ERROR
    assert broken["events"] == ["exception"]
    assert root["resource"]["service.name"] == "otlp-app"


def test_http_protobuf_end_to_end_beside_duckdb(tmp_path):
    with HttpReceiver() as receiver:
        run_app(
            tmp_path / "a.duckdb",
            {
                "otlp_endpoint": f"http://127.0.0.1:{receiver.port}",
                "otlp_protocol": "http/protobuf",
            },
        )
        check_spans(receiver.wait_for(4))
    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=tmp_path / "a.duckdb") == [{"n": 4}]


def test_grpc_end_to_end_beside_duckdb(tmp_path):
    with GrpcReceiver() as receiver:
        run_app(
            tmp_path / "g.duckdb",
            {"otlp_endpoint": f"http://127.0.0.1:{receiver.port}", "otlp_protocol": "grpc"},
        )
        check_spans(receiver.wait_for(4))
    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=tmp_path / "g.duckdb") == [{"n": 4}]


def test_standard_variables_traces_specific_wins_and_headers_and_compression(tmp_path):
    with HttpReceiver() as receiver:
        run_app(
            tmp_path / "e.duckdb",
            env={
                "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9",  # generic: would fail
                "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": f"http://127.0.0.1:{receiver.port}/v1/traces",
                "OTEL_EXPORTER_OTLP_HEADERS": "x-team=search,authorization=Bearer%20t0k",
                "OTEL_EXPORTER_OTLP_COMPRESSION": "gzip",
            },
        )
        check_spans(receiver.wait_for(4))
        assert receiver.headers[0]["x-team"] == "search"
        assert receiver.headers[0]["content-encoding"] == "gzip"
    with GrpcReceiver() as receiver:
        run_app(
            tmp_path / "e2.duckdb",
            env={
                "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
                "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{receiver.port}",
                "OTEL_EXPORTER_OTLP_HEADERS": "x-team=grpc",
            },
        )
        check_spans(receiver.wait_for(4))
        assert receiver.headers[0]["x-team"] == "grpc"


LOAD = """
import json, resource, sys, time
import llmtrace
kwargs = json.loads(sys.argv[2])
handle = llmtrace.configure(db=sys.argv[1] or None, **kwargs)

@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(messages):
    return {"usage": {"prompt_tokens": 10, "completion_tokens": 2}}

for _ in range(2000):
    call("warm")
total = int(sys.argv[3])
start = time.perf_counter()
for i in range(total):
    call("hi")
    if i == 10_000:
        rss_at_10k = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
per_call_us = (time.perf_counter() - start) / total * 1e6
growth_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_at_10k
handle.flush(timeout_millis=5000)
print(json.dumps({"us": per_call_us, "growth_kb": growth_kb, "dropped": handle.dropped_spans}))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_dead_collector_costs_no_latency_loses_nothing_locally_and_stays_bounded(tmp_path):
    spans = 50_000

    def load(db, kwargs):
        argv = ["app", "" if db is None else str(db), json.dumps(kwargs), str(spans)]
        code = f"import sys; sys.argv = {argv!r}\n" + LOAD
        done = run_python(code, env={"OTEL_EXPORTER_OTLP_TIMEOUT": "1"}, timeout=300)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1]), done.stderr

    dead = f"http://127.0.0.1:{_free_port()}"  # nothing listens: connection refused
    # Alternate the two set-ups and compare the faster of two runs each: the machine is shared.
    local, _ = load(tmp_path / "local.duckdb", {})
    down, stderr = load(tmp_path / "down.duckdb", {"otlp_endpoint": dead})
    local_again, _ = load(tmp_path / "local2.duckdb", {})
    down_again, _ = load(tmp_path / "down2.duckdb", {"otlp_endpoint": dead})
    ratio = min(down["us"], down_again["us"]) / min(local["us"], local_again["us"])
    # Memory with the store off, so the only difference is the dead collector's backlog.
    nothing, _ = load(None, {})
    only_dead, _ = load(None, {"otlp_endpoint": dead})
    print(
        f"\nper call: DuckDB only {local['us']:.1f} us, DuckDB + dead collector "
        f"{down['us']:.1f} us ({ratio:.2f}x); RSS growth from 10k to {spans} spans: "
        f"{nothing['growth_kb'] // 1024} MB with no exporter, {only_dead['growth_kb'] // 1024} "
        f"MB with only a dead collector; dropped {down['dropped']}"
    )
    # A collector that blocked the application would cost 10x or more; 2x leaves room for a
    # loaded 2-core machine (1.63x was seen there against an earlier 1.5x limit).
    assert ratio < 2.0
    for db in ("local.duckdb", "down.duckdb", "local2.duckdb", "down2.duckdb"):
        assert llmtrace.query("SELECT count(*) AS n FROM llm_calls", db=tmp_path / db) == [
            {"n": spans + 2000}
        ]
    assert down["dropped"]["DuckDBSpanExporter"] == 0
    assert down["dropped"]["OTLPSpanExporter"] > 0  # its bounded queue overflowed
    # Bounded: 40,000 more spans behind a dead collector cost no more memory than none at all
    # (an unbounded backlog would hold ~40,000 spans: tens of MB).
    assert only_dead["growth_kb"] - nothing["growth_kb"] < 8 * 1024
    assert stderr.count("queue is full") == 1  # warned once, not once per span


def test_query_does_not_wait_on_a_dead_collector(tmp_path):
    done = run_python(
        f"""
        import json, time
        import llmtrace
        llmtrace.configure(db={str(tmp_path / "q.duckdb")!r},
                           otlp_endpoint="http://127.0.0.1:{_free_port()}")

        @llmtrace.tool("t")
        def t():
            return 1

        for _ in range(600):
            t()
        start = time.perf_counter()
        rows = llmtrace.query("SELECT count(*) AS n FROM spans")
        print(json.dumps({{"rows": rows, "seconds": time.perf_counter() - start}}))
    """,
        env={"OTEL_EXPORTER_OTLP_TIMEOUT": "10"},
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["rows"] == [{"n": 600}]
    assert result["seconds"] < 5  # the OTLP export may retry for 10 s; the query does not wait
