"""``llmtrace reprice``: stored calls, from any instrumentation, re-priced with a given table."""

from __future__ import annotations

import json

import pytest

from llmtrace.cli import main
from llmtrace.store.connection import connect_write
from tests.foreign_spans_helpers import list_price, load, make_spans_for, store_spans


@pytest.fixture
def db(tmp_path):
    path = tmp_path / "spans.duckdb"
    conn = connect_write(path)
    try:
        store_spans(conn, make_spans_for(load("otel_genai_openai_v2") + load("anthropic_sdk")))
        conn.execute("UPDATE spans SET cost_usd = NULL, price_table_version = NULL")
    finally:
        conn.close()
    return path


def costs(path):
    conn = connect_write(path)
    try:
        return conn.execute(
            "SELECT model, input_tokens, output_tokens, cost_usd, price_table_version "
            "FROM spans WHERE kind = 'llm' ORDER BY model, cost_usd"
        ).fetchall()
    finally:
        conn.close()


def run(capsys, *args):
    with pytest.raises(SystemExit) as exit_info:
        main(["reprice", *args])
    out, err = capsys.readouterr()
    return exit_info.value.code, out.strip(), err


def test_reprice_fills_every_call_with_the_installed_table(db, capsys):
    code, out, _ = run(capsys, "--db", str(db))
    assert code == 0
    assert out.startswith("repriced 5 calls with genai-prices ")
    assert out.endswith(": 5 changed, 0 with no known price")
    for model, inp, outp, cost, version in costs(db):
        provider = "anthropic" if model.startswith("claude") else "openai"
        assert cost == pytest.approx(list_price(model, provider, inp, outp or 0), rel=1e-9)
        assert version.startswith("genai-prices ")
    code, out, _ = run(capsys, "--db", str(db))  # again: nothing changes
    assert ": 0 changed" in out


def test_reprice_with_your_prices_and_since(db, tmp_path, capsys):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"gpt-4o-mini": {"input": 1.0, "output": 2.0}}))
    code, out, _ = run(capsys, "--db", str(db), "--prices", str(prices), "--since", "1970-01-01")
    assert code == 0 and "5 changed" in out
    chat = [row for row in costs(db) if row[0] == "gpt-4o-mini"]
    assert [(cost, version) for *_, cost, version in chat] == [
        (pytest.approx(12e-6 + 10e-6), f"user:{prices}")
    ] * 2
    code, out, _ = run(capsys, "--db", str(db), "--since", "1h")  # the fixture spans are old
    assert out.startswith("repriced 0 calls with no table")


def test_bad_prices_file_is_a_usage_error(db, tmp_path, capsys):
    prices = tmp_path / "prices.json"
    prices.write_text(json.dumps({"m": {"output": 1}}))
    code, _, err = run(capsys, "--db", str(db), "--prices", str(prices))
    assert code == 2 and "missing ['input']" in err
