"""Content capture with redaction, and versioned prompts."""

from __future__ import annotations

import json

import pytest

import llmtrace
from llmtrace import semconv as sc
from llmtrace.redaction import Redactor
from llmtrace.testing import capture_spans

SECRETS = {
    "sk-proj-AbCdEf0123456789XyZ0123456789": "api_key",
    "AKIAIOSFODNN7EXAMPLE": "api_key",
    "Bearer eyJhbGciOiJIUzI1NiJ9.payload.sig": "bearer_token",
    "jane.doe+support@example.co.uk": "email",
}


@pytest.mark.parametrize(("secret", "kind"), SECRETS.items())
def test_redaction_markers_never_echo_the_secret(secret, kind):
    text = f"prefix {secret} suffix"
    cleaned = Redactor().redact(text)
    assert f"[REDACTED:{kind}]" in cleaned
    assert cleaned.startswith("prefix ") and cleaned.endswith(" suffix")
    # The marker hides all of it: no 6-character run of the secret survives.
    core = secret.split()[-1]
    assert not any(core[i : i + 6] in cleaned for i in range(len(core) - 5))


def test_user_patterns_and_truncation():
    redactor = Redactor.with_extra({"order": r"ORD-\d+"}, max_chars=30)
    text, cut = redactor.apply("order ORD-12345 for x" + "y" * 50)
    assert text.startswith("order [REDACTED:order] for x") and cut and len(text) == 30
    with pytest.raises(ValueError, match="pattern 'bad' is not a valid regex"):
        Redactor.with_extra({"bad": "("}, 100)


def test_capture_off_by_default_and_on_redacts():
    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call(messages):
        return {
            "choices": [
                {"message": {"content": "mail me at bob@example.com"}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 3, "completion_tokens": 4},
        }

    messages = [{"role": "user", "content": "my key is sk-abcdefghijklmnopqrstuvwx"}]
    with capture_spans() as off:
        call(messages)
    assert sc.GEN_AI_INPUT_MESSAGES not in off.spans()[0].attributes
    with capture_spans(capture_content=True) as on:
        call(messages)
    attrs = on.spans()[0].attributes
    assert json.loads(attrs[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "my key is [REDACTED:api_key]"}]}
    ]
    assert json.loads(attrs[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {
            "role": "assistant",
            "parts": [{"type": "text", "content": "mail me at [REDACTED:email]"}],
            "finish_reason": "stop",
        }
    ]
    assert "sk-abc" not in str(attrs) and "bob@" not in str(attrs)


def test_prompt_version_hash_and_format():
    prompt = llmtrace.Prompt("answer", template="Answer briefly: {question}")
    assert len(prompt.version) == 12 and prompt.hash.startswith(prompt.version)
    assert prompt.format(question="Why?") == "Answer briefly: Why?"
    assert prompt.variables == ("question",)
    assert (
        llmtrace.Prompt("answer", template="Answer at length: {question}").version != prompt.version
    )
    assert llmtrace.Prompt("a", template="x", version="v7").version == "v7"
    with pytest.raises(KeyError, match="needs variable 'question'"):
        prompt.format(q="x")
    with pytest.raises(ValueError, match="non-empty"):
        llmtrace.Prompt("", template="x")


def test_decision_validation():
    assert llmtrace.Decision(action="redact").action == "redact"
    with pytest.raises(ValueError, match="must be one of"):
        llmtrace.Decision(action="deny")
