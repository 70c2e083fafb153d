"""Token usage and response metadata read from provider responses and stream chunks.

Understands OpenAI chat-completions and responses payloads and Anthropic messages payloads,
as SDK objects or plain dicts, whole or streamed. Input tokens are normalised to the GenAI
convention: they include cached tokens (Anthropic reports cache reads and writes separately,
so they are added back).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["ResponseInfo", "StreamAccumulator", "Usage", "read_response"]

_MISSING = object()


def _get(obj: Any, key: str) -> Any:
    """``obj[key]`` for mappings, ``obj.key`` otherwise; None when absent."""
    if obj is None:
        return None
    if isinstance(obj, dict):
        return obj.get(key)
    try:
        value = getattr(obj, key, _MISSING)
    except Exception:  # a proxy or lazy object whose lookup raises: not a response field
        return None
    return None if value is _MISSING else value


def _items(value: Any) -> list[Any] | tuple[Any, ...]:
    """``value`` when it is a list or tuple (response choices, content blocks), else empty."""
    return value if isinstance(value, (list, tuple)) else ()


def _int(value: Any) -> int | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _has(obj: Any, key: str) -> bool:
    if isinstance(obj, dict):
        return key in obj
    return obj is not None and hasattr(obj, key)


@dataclass
class Usage:
    """Token counts of one call; None where the provider said nothing."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_input_tokens: int | None = None
    cache_creation_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None

    def is_empty(self) -> bool:
        return self.input_tokens is None and self.output_tokens is None

    def merge(self, other: Usage) -> None:
        """Take the larger of each count (streams repeat and grow their totals)."""
        for name in (
            "input_tokens",
            "output_tokens",
            "cache_read_input_tokens",
            "cache_creation_input_tokens",
            "reasoning_output_tokens",
        ):
            mine, theirs = getattr(self, name), getattr(other, name)
            if theirs is not None and (mine is None or theirs > mine):
                setattr(self, name, theirs)


@dataclass
class ResponseInfo:
    """What a response says about itself: usage, model, id, finish reasons and output text."""

    usage: Usage = field(default_factory=Usage)
    response_model: str | None = None
    response_id: str | None = None
    finish_reasons: list[str] = field(default_factory=list)
    output_text: str | None = None


def _read_chat_usage_dict(usage: dict[str, Any]) -> Usage | None:
    """The common case, OpenAI chat usage as a plain dict of ints, without generic lookups."""
    prompt_tokens = usage.get("prompt_tokens")
    completion_tokens = usage.get("completion_tokens")
    if type(prompt_tokens) is not int or type(completion_tokens) is not int:
        return None
    prompt_details = usage.get("prompt_tokens_details")
    completion_details = usage.get("completion_tokens_details")
    return Usage(
        prompt_tokens,
        completion_tokens,
        _int(prompt_details.get("cached_tokens")) if type(prompt_details) is dict else None,
        None,
        _int(completion_details.get("reasoning_tokens"))
        if type(completion_details) is dict
        else None,
    )


def read_usage(usage: Any) -> Usage:
    """Normalise one provider ``usage`` object or dict."""
    if usage is None:
        return Usage()
    if type(usage) is dict:
        fast = _read_chat_usage_dict(usage)
        if fast is not None:
            return fast
    prompt_tokens = _int(_get(usage, "prompt_tokens"))
    if prompt_tokens is not None or _has(usage, "completion_tokens"):
        # OpenAI chat completions: prompt_tokens already includes cached tokens.
        return Usage(
            input_tokens=prompt_tokens,
            output_tokens=_int(_get(usage, "completion_tokens")),
            cache_read_input_tokens=_int(
                _get(_get(usage, "prompt_tokens_details"), "cached_tokens")
            ),
            reasoning_output_tokens=_int(
                _get(_get(usage, "completion_tokens_details"), "reasoning_tokens")
            ),
        )
    input_tokens = _int(_get(usage, "input_tokens"))
    output_tokens = _int(_get(usage, "output_tokens"))
    if _has(usage, "input_tokens_details") or _has(usage, "output_tokens_details"):
        # OpenAI responses API: input_tokens includes cached tokens.
        return Usage(
            input_tokens=input_tokens,
            output_tokens=output_tokens,
            cache_read_input_tokens=_int(
                _get(_get(usage, "input_tokens_details"), "cached_tokens")
            ),
            reasoning_output_tokens=_int(
                _get(_get(usage, "output_tokens_details"), "reasoning_tokens")
            ),
        )
    cache_read = _int(_get(usage, "cache_read_input_tokens"))
    cache_creation = _int(_get(usage, "cache_creation_input_tokens"))
    if input_tokens is not None and (cache_read or cache_creation):
        # Anthropic: input_tokens excludes cache reads and writes.
        input_tokens += (cache_read or 0) + (cache_creation or 0)
    return Usage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_input_tokens=cache_read,
        cache_creation_input_tokens=cache_creation,
    )


def _output_text(response: Any) -> str | None:
    choices = _items(_get(response, "choices"))
    if choices:
        parts = []
        for choice in choices:
            message = _get(choice, "message")
            text = _get(message, "content") if message is not None else _get(choice, "text")
            if isinstance(text, str):
                parts.append(text)
        return "".join(parts) if parts else None
    content = _get(response, "content")
    if isinstance(content, list):  # Anthropic content blocks
        texts = [_get(block, "text") for block in content]
        return "".join(t for t in texts if isinstance(t, str)) or None
    output = _get(response, "output")
    if isinstance(output, list):  # OpenAI responses API output items
        texts = []
        for item in output:
            for part in _items(_get(item, "content")):
                text = _get(part, "text")
                if isinstance(text, str):
                    texts.append(text)
        return "".join(texts) or None
    return None


def _finish_reasons(response: Any) -> list[str]:
    reasons: list[str] = []
    for choice in _items(_get(response, "choices")):
        reason = _get(choice, "finish_reason")
        if isinstance(reason, str):
            reasons.append(reason)
    if not reasons:
        for key in ("stop_reason", "status"):  # Anthropic, OpenAI responses API
            reason = _get(response, key)
            if isinstance(reason, str):
                return [reason]
    return reasons


def read_response(response: Any, with_text: bool = True) -> ResponseInfo:
    """Everything a whole (non-streamed) provider response tells about the call.

    ``with_text=False`` skips extracting the output text, which is only needed for content
    capture and token estimates (the hot path reads usage alone).
    """
    if isinstance(response, str):
        return ResponseInfo(output_text=response)
    if type(response) is dict:
        fast = _read_chat_dict(response, with_text)
        if fast is not None:
            return fast
    model = _get(response, "model")
    response_id = _get(response, "id")
    return ResponseInfo(
        usage=read_usage(_get(response, "usage")),
        response_model=model if isinstance(model, str) else None,
        response_id=response_id if isinstance(response_id, str) else None,
        finish_reasons=_finish_reasons(response),
        output_text=_output_text(response) if with_text else None,
    )


def _read_chat_dict(response: dict[str, Any], with_text: bool) -> ResponseInfo | None:
    """The common case, an OpenAI chat completion as a plain dict (dict choices, int usage,
    a finish reason), read without generic lookups; None for anything else."""
    usage = response.get("usage")
    choices = response.get("choices")
    if type(usage) is not dict or type(choices) is not list:
        return None
    counts = _read_chat_usage_dict(usage)
    reasons = []
    for choice in choices:
        reason = choice.get("finish_reason") if type(choice) is dict else None
        if not isinstance(reason, str):
            return None
        reasons.append(reason)
    if counts is None or not reasons:
        return None
    model, response_id = response.get("model"), response.get("id")
    return ResponseInfo(
        counts,
        model if isinstance(model, str) else None,
        response_id if isinstance(response_id, str) else None,
        reasons,
        _output_text(response) if with_text else None,
    )


class StreamAccumulator:
    """Folds stream chunks (OpenAI chat or responses events, Anthropic events, or text)."""

    def __init__(self) -> None:
        self.info = ResponseInfo()
        self._text: list[str] = []
        self.chunks = 0

    def add(self, chunk: Any) -> None:
        self.chunks += 1
        if isinstance(chunk, (str, bytes)):
            self._text.append(chunk if isinstance(chunk, str) else chunk.decode("utf-8", "replace"))
            return
        info = self.info
        event_type = _get(chunk, "type")
        if event_type == "message_start":  # Anthropic
            self._take_whole(_get(chunk, "message"))
            return
        if event_type == "response.completed":  # OpenAI responses API
            self._take_whole(_get(chunk, "response"))
            return
        if event_type == "content_block_delta":
            text = _get(_get(chunk, "delta"), "text")
            if isinstance(text, str):
                self._text.append(text)
            return
        if event_type == "response.output_text.delta":
            delta = _get(chunk, "delta")
            if isinstance(delta, str):
                self._text.append(delta)
            return
        if event_type == "message_delta":
            usage = _get(chunk, "usage")
            if usage is not None:
                info.usage.merge(Usage(output_tokens=_int(_get(usage, "output_tokens"))))
            reason = _get(_get(chunk, "delta"), "stop_reason")
            if isinstance(reason, str):
                info.finish_reasons = [reason]
            return
        # OpenAI chat completion chunks.
        self._take_ids(chunk)
        for choice in _items(_get(chunk, "choices")):
            text = _get(_get(choice, "delta"), "content")
            if isinstance(text, str):
                self._text.append(text)
            reason = _get(choice, "finish_reason")
            if isinstance(reason, str):
                info.finish_reasons.append(reason)
        usage = _get(chunk, "usage")
        if usage is not None:
            info.usage.merge(read_usage(usage))

    def _take_ids(self, obj: Any) -> None:
        model, response_id = _get(obj, "model"), _get(obj, "id")
        if isinstance(model, str):
            self.info.response_model = model
        if isinstance(response_id, str):
            self.info.response_id = response_id

    def _take_whole(self, message: Any) -> None:
        if message is None:
            return
        self._take_ids(message)
        self.info.usage.merge(read_usage(_get(message, "usage")))
        reasons = _finish_reasons(message)
        if reasons:
            self.info.finish_reasons = reasons

    def result(self) -> ResponseInfo:
        if self._text:
            self.info.output_text = "".join(self._text)
        return self.info
