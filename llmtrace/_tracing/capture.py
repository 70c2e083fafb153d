"""Message content for ``gen_ai.input.messages`` / ``gen_ai.output.messages``, redacted.

Content is recorded only when capture is on. Messages are written in the GenAI conventions'
shape (role plus text parts) as a JSON string, after the redaction step.
"""

from __future__ import annotations

from typing import Any

import orjson

from ..redaction import Redactor
from ..tokens import messages_text

__all__ = ["input_messages_json", "output_messages_json"]


def _role(message: Any) -> str:
    role = message.get("role") if isinstance(message, dict) else getattr(message, "role", None)
    return role if isinstance(role, str) else "user"


def _as_messages(value: Any) -> list[dict[str, Any]]:
    if isinstance(value, dict) and "messages" in value:
        value = value["messages"]
    if isinstance(value, (list, tuple)) and value and not isinstance(value[0], str):
        return [
            {"role": _role(m), "parts": [{"type": "text", "content": messages_text(m)}]}
            for m in value
        ]
    return [{"role": "user", "parts": [{"type": "text", "content": messages_text(value)}]}]


def _dump(messages: list[dict[str, Any]], redactor: Redactor) -> tuple[str, bool]:
    # Redact and truncate each text part, not the JSON, so the attribute stays valid JSON.
    truncated = False
    for message in messages:
        for part in message["parts"]:
            part["content"], cut = redactor.apply(part["content"])
            truncated = truncated or cut
    return orjson.dumps(messages).decode(), truncated


def input_messages_json(value: Any, redactor: Redactor) -> tuple[str, bool]:
    """Prompt messages as redacted GenAI-convention JSON, and whether it was truncated."""
    return _dump(_as_messages(value), redactor)


def output_messages_json(
    text: str, finish_reasons: list[str], redactor: Redactor
) -> tuple[str, bool]:
    """A completion as redacted GenAI-convention JSON, and whether it was truncated."""
    message: dict[str, Any] = {"role": "assistant", "parts": [{"type": "text", "content": text}]}
    if finish_reasons:
        message["finish_reason"] = finish_reasons[0]
    return _dump([message], redactor)
