"""A deterministic stand-in for a chat model: no network, no keys, same answer every run.

It answers from the retrieved context, takes a latency derived from the prompt's hash, and
returns an OpenAI-shaped response with real token counts, so traces look like production.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from llmtrace.tokens import count_tokens


def _digest(text: str) -> int:
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


def complete(
    messages: list[dict[str, str]], model: str = "gpt-4o-mini", latency_scale: float = 1.0
) -> dict[str, Any]:
    """Answer the last user message from the context in the system message."""
    prompt = "\n".join(m["content"] for m in messages)
    digest = _digest(prompt + model)
    time.sleep(latency_scale * (0.004 + (digest % 23) / 1000))
    context = next((m["content"] for m in messages if m["role"] == "system"), "")
    facts = [line[2:] for line in context.splitlines() if line.startswith("- ")]
    answer = facts[digest % len(facts)] if facts else "I don't know."
    if model.endswith("-mini") and digest % 7 == 0:
        answer = "Please contact support."  # the cheaper model sometimes punts
    return {
        "id": f"chatcmpl-{digest:08x}",
        "object": "chat.completion",
        "model": model,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": answer},
                "finish_reason": "stop",
            }
        ],
        "usage": {
            "prompt_tokens": count_tokens(prompt, model),
            "completion_tokens": count_tokens(answer, model),
        },
    }
