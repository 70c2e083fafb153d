"""A local server that speaks the OpenAI and Anthropic wire formats, for the real clients.

It answers chat completions (whole or streamed with a final usage chunk), responses,
embeddings and Anthropic messages (whole or streamed) with fixed token counts, so tests can
check exactly what the instrumented clients recorded. Loopback only, no network.
"""

from __future__ import annotations

import itertools
import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["USAGE", "fake_llm_server"]

# Token counts the server reports, per call kind.
USAGE: dict[str, dict[str, int]] = {
    "chat": {"input": 12, "output": 5},
    "responses": {"input": 14, "output": 6},
    "embeddings": {"input": 8, "output": 0},
    "messages": {"input": 21, "output": 7},
}
REPLY = "Hello there"
# Every response gets its own id, as real providers' do (the store tells calls apart by it).
_ids = itertools.count(1)


def _new_id(prefix: str) -> str:
    return f"{prefix}{next(_ids):06d}"


def _chat(body: dict[str, Any]) -> dict[str, Any]:
    usage = USAGE["chat"]
    return {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": 1764400000,
        "model": body.get("model", "gpt-4o-mini"),
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": REPLY, "refusal": None},
                "finish_reason": "stop",
                "logprobs": None,
            }
        ],
        "usage": {
            "prompt_tokens": usage["input"],
            "completion_tokens": usage["output"],
            "total_tokens": usage["input"] + usage["output"],
        },
    }


def _chat_chunks(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    usage = USAGE["chat"]
    base = {
        "id": _new_id("chatcmpl-"),
        "object": "chat.completion.chunk",
        "created": 1764400000,
        "model": body.get("model", "gpt-4o-mini"),
    }
    yield {**base, "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]}
    for word in ("Hello", " there"):
        yield {**base, "choices": [{"index": 0, "delta": {"content": word}}]}
    yield {**base, "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]}
    if (body.get("stream_options") or {}).get("include_usage"):
        yield {
            **base,
            "choices": [],
            "usage": {
                "prompt_tokens": usage["input"],
                "completion_tokens": usage["output"],
                "total_tokens": usage["input"] + usage["output"],
            },
        }


def _responses(body: dict[str, Any]) -> dict[str, Any]:
    usage = USAGE["responses"]
    return {
        "id": _new_id("resp_"),
        "object": "response",
        "created_at": 1764400000,
        "status": "completed",
        "model": body.get("model", "gpt-4o-mini"),
        "output": [
            {
                "type": "message",
                "id": "msg_fake1",
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": REPLY, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "usage": {
            "input_tokens": usage["input"],
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": usage["output"],
            "output_tokens_details": {"reasoning_tokens": 0},
            "total_tokens": usage["input"] + usage["output"],
        },
    }


def _embeddings(body: dict[str, Any]) -> dict[str, Any]:
    inputs = body.get("input")
    count = len(inputs) if isinstance(inputs, list) else 1
    tokens = USAGE["embeddings"]["input"]
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": [0.1, 0.2, 0.3]} for i in range(count)
        ],
        "model": body.get("model", "text-embedding-3-small"),
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }


def _message(body: dict[str, Any]) -> dict[str, Any]:
    usage = USAGE["messages"]
    return {
        "id": _new_id("msg_"),
        "type": "message",
        "role": "assistant",
        "model": body.get("model", "claude-haiku-4-5"),
        "content": [{"type": "text", "text": REPLY}],
        "stop_reason": "end_turn",
        "stop_sequence": None,
        "usage": {
            "input_tokens": usage["input"],
            "output_tokens": usage["output"],
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def _message_events(body: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    usage = USAGE["messages"]
    start = _message(body)
    start["content"] = []
    start["stop_reason"] = None
    start["usage"] = {**start["usage"], "output_tokens": 1}
    yield "message_start", {"type": "message_start", "message": start}
    yield (
        "content_block_start",
        {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    )
    for word in ("Hello", " there"):
        yield (
            "content_block_delta",
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "text_delta", "text": word},
            },
        )
    yield "content_block_stop", {"type": "content_block_stop", "index": 0}
    yield (
        "message_delta",
        {
            "type": "message_delta",
            "delta": {"stop_reason": "end_turn", "stop_sequence": None},
            "usage": {"output_tokens": usage["output"]},
        },
    )
    yield "message_stop", {"type": "message_stop"}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = json.loads(self.rfile.read(length) or b"{}")
        path = self.path.split("?")[0].rstrip("/")
        stream = bool(body.get("stream"))
        if path.endswith("/chat/completions"):
            if stream:
                self._sse(((None, chunk) for chunk in _chat_chunks(body)), done=True)
            else:
                self._json(_chat(body))
        elif path.endswith("/responses"):
            self._json(_responses(body))
        elif path.endswith("/embeddings"):
            self._json(_embeddings(body))
        elif path.endswith("/messages"):
            if stream:
                self._sse(_message_events(body), done=False)
            else:
                self._json(_message(body))
        else:
            self._json({"error": {"message": f"no route {path}"}}, status=404)

    def _json(self, payload: dict[str, Any], status: int = 200) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("request-id", "req_fake")
        self.end_headers()
        self.wfile.write(data)

    def _sse(self, events: Any, *, done: bool) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("connection", "close")
        self.end_headers()
        for event, payload in events:
            prefix = f"event: {event}\n" if event else ""
            self.wfile.write(f"{prefix}data: {json.dumps(payload)}\n\n".encode())
        if done:  # OpenAI streams end with a [DONE] marker
            self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()
        self.close_connection = True


@contextmanager
def fake_llm_server() -> Iterator[str]:
    """Run the server on a free loopback port; yields its base URL (``http://127.0.0.1:N``)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
