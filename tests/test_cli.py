"""The trace CLI: whole outputs, formats, and exit codes with one-line reasons."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest

import llmtrace
from tests.conftest import ROOT, _support_bot
from tests.conftest import cli_in_process as cli


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "llmtrace", *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )


@pytest.fixture
def filled(store):
    _support_bot()
    _support_bot()
    llmtrace.query("SELECT 1", db=store)  # the fixture's query() flushes its exporter first
    return store


def test_sql_formats(filled, capsys):
    code, out, _ = cli(
        capsys,
        "sql",
        "SELECT kind, count(*) AS n FROM spans GROUP BY 1 ORDER BY 1",
        "--db",
        str(filled),
        "--format",
        "json",
    )
    assert code == 0, _
    assert json.loads(out) == [
        {"kind": k, "n": 2}
        for k in sorted(["guardrail", "judge", "llm", "retrieval", "tool", "workflow"])
    ]
    code, out, _ = cli(
        capsys, "sql", "SELECT model, input_tokens FROM llm_calls", "--db", str(filled), "-f", "csv"
    )
    assert code == 0
    assert list(csv.reader(io.StringIO(out))) == [
        ["model", "input_tokens"],
        ["gpt-4o-mini", "100"],
        ["gpt-4o-mini", "100"],
    ]
    code, out, _ = cli(capsys, "sql", "SELECT 'x' AS col", "--db", str(filled))
    assert code == 0 and "col" in out and "x" in out


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM spans", "llmtrace sql only reads"),
        ("CREATE TABLE t (a INT)", "llmtrace sql only reads"),
        ("SELEC 1", "Parser Error: syntax error"),
        ("SELECT nope FROM spans", 'Referenced column "nope" not found'),
    ],
)
def test_sql_user_errors_exit_2_with_one_line(filled, capsys, sql, message):
    code, out, err = cli(capsys, "sql", sql, "--db", str(filled))
    assert code == 2 and out == ""
    assert err.startswith("llmtrace: error: ") and message in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert llmtrace.query("SELECT count(*) AS n FROM spans", db=filled) == [{"n": 12}]


def test_missing_store_exits_2_and_is_not_created(tmp_path):
    missing = tmp_path / "nope.duckdb"
    done = run_cli("sql", "SELECT 1", "--db", str(missing))
    assert done.returncode == 2
    assert (
        done.stderr
        == f"llmtrace: error: no llmtrace store at {missing} (set --db or LLMTRACE_DB)\n"
    )
    assert not missing.exists()


def test_db_from_environment(filled):
    import os

    env = {**os.environ, "LLMTRACE_DB": str(filled)}
    done = run_cli("sql", "SELECT count(*) AS n FROM traces", "-f", "json", env=env)
    assert done.returncode == 0 and json.loads(done.stdout) == [{"n": 2}]


def test_traces_list_and_tree(filled, capsys):
    code, out, _ = cli(capsys, "traces", "--db", str(filled), "--format", "json")
    listed = json.loads(out)
    assert code == 0 and len(listed) == 2
    assert {t["root_name"] for t in listed} == {"invoke_workflow handle_ticket"}
    trace_id = listed[0]["trace_id"]
    code, out, _ = cli(capsys, "traces", trace_id[:10], "--db", str(filled))
    assert code == 0
    lines = out.splitlines()
    assert lines[0] == f"trace {trace_id}"
    assert "invoke_workflow handle_ticket" in lines[1]
    assert any("chat gpt-4o-mini" in line and "tokens 100->20" in line for line in lines)
    assert any("guardrail pii" in line and "action=redact" in line for line in lines)
    code, _, err = cli(capsys, "traces", "ffffffff", "--db", str(filled))
    assert (code, err) == (2, "llmtrace: error: no trace with id starting 'ffffffff'\n")


def test_stats_groups_and_validates(filled, capsys):
    code, out, _ = cli(
        capsys,
        "stats",
        "--by",
        "model,prompt_version",
        "--since",
        "1h",
        "--db",
        str(filled),
        "-f",
        "json",
    )
    [row] = json.loads(out)
    assert code == 0
    assert row["model"] == "gpt-4o-mini" and row["count"] == 2 and row["error_rate"] == 0
    assert row["input_tokens"] == 200 and row["p95_ms"] >= row["p50_ms"] >= 0
    code, _, err = cli(capsys, "stats", "--by", "model;DROP", "--db", str(filled))
    assert code == 2 and err.startswith("llmtrace: error: --by: unknown name 'model;DROP'; ")
    code, _, err = cli(capsys, "stats", "--since", "yesterday", "--db", str(filled))
    assert code == 2 and "--since 'yesterday'" in err


def test_stats_kind_takes_every_span_kind(filled, capsys):
    """--kind offers each kind in semconv.SPAN_KINDS (a new kind needs no CLI change)."""
    code, out, _ = cli(
        capsys, "stats", "--kind", "tool", "--by", "kind", "--db", str(filled), "-f", "json"
    )
    assert code == 0 and [r["kind"] for r in json.loads(out)] == ["tool"]
    code, _, err = cli(capsys, "stats", "--kind", "agent", "--db", str(filled))
    kinds = "all, workflow, llm, tool, retrieval, guardrail, judge"
    assert code == 2 and f"--kind 'agent': choose from {kinds}" in err


def test_export_parquet_partitions_by_day(filled, capsys, tmp_path):
    out_dir = tmp_path / "parquet"
    code, out, _ = cli(capsys, "export", "--parquet", str(out_dir), "--db", str(filled))
    assert code == 0 and out.strip() == f"wrote 12 spans to {out_dir}"
    files = list(out_dir.glob("date=*/*.parquet"))
    assert files
    import duckdb

    count = duckdb.sql(
        f"SELECT count(*), count(DISTINCT trace_id) FROM read_parquet('{out_dir}/*/*.parquet', "
        "hive_partitioning = true)"
    ).fetchall()
    assert count == [(12, 2)]


def test_usage_errors_exit_2():
    done = run_cli("frobnicate")
    assert done.returncode == 2 and "No such command" in done.stderr
    assert "Traceback" not in done.stderr
    done = run_cli("sql")
    assert done.returncode == 2


def test_stats_counts_a_wrapped_model_call_once(store, capsys):
    """A decorated function around a client that traces itself leaves two llm spans for one
    call; stats counts the call once, with the innermost span's usage."""

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def client_call(messages):  # the client's own span (an instrumentor's, say)
        return {"model": "gpt-4o-mini", "usage": {"prompt_tokens": 30, "completion_tokens": 5}}

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def answer(question):  # the user's decorator around it
        return client_call([{"role": "user", "content": question}])

    answer("hi")
    answer("hello")
    llmtrace.query("SELECT 1", db=store)  # flushes the fixture's exporter
    code, out, _ = cli(capsys, "stats", "--by", "model", "--db", str(store), "-f", "json")
    [row] = json.loads(out)
    assert code == 0
    assert (row["count"], row["input_tokens"], row["output_tokens"]) == (2, 60, 10)
