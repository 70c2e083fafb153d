"""``llmtrace.instrument``: the real clients traced in-process, without decorators."""

from __future__ import annotations

from collections.abc import Iterator

import openai
import pytest

import llmtrace
from llmtrace._instrument import uninstrument
from tests.fake_llm_server import fake_llm_server


@pytest.fixture
def client() -> Iterator[openai.OpenAI]:
    with fake_llm_server() as url:
        llmtrace.instrument("openai")
        try:
            yield openai.OpenAI(base_url=url + "/v1", api_key="test-key", max_retries=0)
        finally:
            uninstrument()


def test_a_chat_call_is_one_llm_span_with_usage(spans, client):
    reply = client.chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}]
    )
    assert reply.choices[0].message.content == "Hello there"  # the client's own object
    (record,) = spans.records()
    assert record["name"] == "chat gpt-4o-mini"
    attributes = record["attributes"]
    assert attributes["llmtrace.span.kind"] == "llm"
    assert attributes["gen_ai.provider.name"] == "openai"
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (
        12,
        5,
    )


def test_a_stream_keeps_the_span_open_until_it_ends(spans, client):
    stream = client.chat.completions.create(
        model="gpt-4o-mini",
        messages=[{"role": "user", "content": "hi"}],
        stream=True,
        stream_options={"include_usage": True},
    )
    assert spans.records() == []
    with stream:
        text = "".join(c.choices[0].delta.content or "" for c in stream if c.choices)
    assert text == "Hello there"
    (record,) = spans.records()
    assert record["attributes"]["gen_ai.usage.output_tokens"] == 5


def test_instrument_twice_traces_once_and_uninstrument_undoes_it(spans, client):
    llmtrace.instrument("openai")
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert len(spans.records()) == 1
    uninstrument()
    spans.clear()
    client.embeddings.create(model="text-embedding-3-small", input="hello")
    assert spans.records() == []


def test_an_unknown_library_is_named():
    with pytest.raises(
        ValueError, match=r"unknown library 'cohere'; choose from \['anthropic', 'openai'\]"
    ):
        llmtrace.instrument("openai", "cohere")


def test_configure_instrument_and_its_mistakes():
    from tests.conftest import run_json

    result = run_json("""
        import json, openai, llmtrace
        from openai.resources.chat.completions.completions import Completions
        try:
            llmtrace.configure(db=None, instrument=["opnai"])
        except ValueError as exc:
            error = str(exc)
        llmtrace.configure(db=None, instrument=["openai"])
        traced = hasattr(Completions.create, "__llmtrace_original__")
        print(json.dumps({"error": error, "traced": traced}))
    """)
    assert result["traced"] is True
    assert result["error"] == (
        "configure(instrument=...): unknown library 'opnai'; choose from ['anthropic', 'openai']"
    )
