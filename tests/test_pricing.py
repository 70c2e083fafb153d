"""Cost arithmetic equals genai-prices' own calculation; overrides; unknown models."""

from __future__ import annotations

import json

import pytest
from genai_prices import Usage as GPUsage
from genai_prices import calc_price

from llmtrace.pricing import PriceTable, load_user_prices
from llmtrace.usage import Usage


@pytest.mark.parametrize(
    ("model", "provider", "usage"),
    [
        ("gpt-4o-mini", "openai", Usage(1000, 500)),
        ("gpt-4o", "openai", Usage(5000, 700, cache_read_input_tokens=4000)),
        (
            "claude-sonnet-4-5",
            "anthropic",
            Usage(3025, 12, cache_read_input_tokens=2000, cache_creation_input_tokens=1000),
        ),
        ("claude-sonnet-4-5", "anthropic", Usage(250_000, 1000)),  # above the 200k tier
        ("gemini-2.5-flash", "google", Usage(1234, 567)),
    ],
)
def test_cost_equals_genai_prices(model, provider, usage):
    ours = PriceTable().cost(usage, model, provider)
    theirs = calc_price(
        GPUsage(
            input_tokens=usage.input_tokens,
            output_tokens=usage.output_tokens,
            cache_read_tokens=usage.cache_read_input_tokens,
            cache_write_tokens=usage.cache_creation_input_tokens,
        ),
        model,
        provider_id=provider,
    )
    assert ours is not None
    assert ours.total_usd == pytest.approx(float(theirs.total_price), rel=1e-9)
    assert ours.input_usd == pytest.approx(float(theirs.input_price), rel=1e-9)
    assert ours.output_usd == pytest.approx(float(theirs.output_price), rel=1e-9)
    assert ours.source.startswith("genai-prices ")


def test_unknown_model_and_missing_counts_cost_none():
    table = PriceTable()
    assert table.cost(Usage(10, 10), "no-such-model-anywhere", "nobody") is None
    assert table.cost(Usage(None, 10), "gpt-4o-mini", "openai") is None
    assert table.cost(Usage(10, 10), None) is None


def test_user_prices_override_and_add(tmp_path):
    table = PriceTable(
        load_user_prices(
            {
                "gpt-4o-mini": {"input": 1.0, "output": 2.0},
                "in-house-7b": {"input": 0.1, "output": 0.1},
            }
        )
    )
    cost = table.cost(Usage(1_000_000, 500_000), "gpt-4o-mini", "openai")
    assert cost.total_usd == pytest.approx(2.0) and cost.source.startswith("user:")
    assert table.cost(Usage(1_000_000, 0), "in-house-7b").total_usd == pytest.approx(0.1)
    path = tmp_path / "prices.yaml"
    path.write_text("in-house-7b:\n  input: 0.5\n  output: 1.5\n  cache_read: 0.05\n")
    rates = load_user_prices(path)["in-house-7b"]
    assert (rates.input.base, rates.output.base, rates.cache_read.base) == (0.5, 1.5, 0.05)
    json_path = tmp_path / "prices.json"
    json_path.write_text(json.dumps({"m": {"input": 1, "output": 1}}))
    assert "m" in load_user_prices(json_path)


@pytest.mark.parametrize(
    ("prices", "message"),
    [
        ({"m": {"output": 1}}, r"prices\['m'\].*missing \['input'\]"),
        ({"m": {"input": 1, "output": "cheap"}}, r"prices\['m'\].output.*not a number: 'cheap'"),
        ({"m": {"input": 1, "output": 1, "per_call": 2}}, r"unknown field\(s\) \['per_call'\]"),
        ({"m": {"input": -1, "output": 1}}, "negative price"),
    ],
)
def test_bad_user_prices_name_the_field(prices, message):
    with pytest.raises(ValueError, match=message):
        load_user_prices(prices)


def test_bad_price_file_names_file_and_line(tmp_path):
    path = tmp_path / "p.json"
    path.write_text('{\n  "m": {"input": 1,}\n}')
    with pytest.raises(ValueError, match=r"p.json:2: invalid JSON"):
        load_user_prices(path)
