"""A traced app using the real openai and anthropic clients under one or more instrumentors.

Run in a fresh interpreter (instrumentors patch the clients for the whole process):
``python -m tests.foreign_app '{"db": ..., "url": ..., "instrumentors": [...], ...}'``. Each
call runs inside its own ``workflow`` span, so each call is one trace; the last stdout line is
a JSON list of ``{"call": ..., "trace_id": ...}``. With ``"capture": PATH`` the finished spans
are also written to PATH as JSON (that is how ``tests/fixtures/foreign_spans`` are made).
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from typing import Any

import anthropic
import openai
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmtrace

OPENAI_MODEL = "gpt-4o-mini"
EMBEDDING_MODEL = "text-embedding-3-small"
ANTHROPIC_MODEL = "claude-haiku-4-5"
MESSAGES = [{"role": "user", "content": "Say hello"}]


def instrument(name: str) -> None:
    """Turn on one instrumentor by its short name."""
    if name == "otel-openai-v2":
        from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor

        OpenAIInstrumentor().instrument()
    elif name == "openinference-openai":
        from openinference.instrumentation.openai import OpenAIInstrumentor as OIOpenAI

        OIOpenAI().instrument()
    elif name == "openinference-anthropic":
        from openinference.instrumentation.anthropic import AnthropicInstrumentor

        AnthropicInstrumentor().instrument()
    elif name == "openllmetry-openai":
        from opentelemetry.instrumentation.openai import OpenAIInstrumentor as TLOpenAI

        TLOpenAI().instrument()
    elif name == "openllmetry-anthropic":
        from opentelemetry.instrumentation.anthropic import AnthropicInstrumentor as TLAnthropic

        TLAnthropic().instrument()
    elif name in ("llmtrace-openai", "llmtrace-anthropic"):
        llmtrace.instrument(name.removeprefix("llmtrace-"))
    elif name != "anthropic-sdk":  # the anthropic client traces itself: nothing to turn on
        raise ValueError(f"unknown instrumentor {name!r}")


def openai_calls(url: str) -> dict[str, Callable[[], Any]]:
    client = openai.OpenAI(base_url=url + "/v1", api_key="test-key", max_retries=0)

    def aclient() -> openai.AsyncOpenAI:  # one per event loop
        return openai.AsyncOpenAI(base_url=url + "/v1", api_key="test-key", max_retries=0)

    def chat() -> Any:
        return client.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)

    def stream() -> Any:  # the stream itself: the app reads it after the call returns
        return client.chat.completions.create(
            model=OPENAI_MODEL,
            messages=MESSAGES,
            stream=True,
            stream_options={"include_usage": True},
        )

    def embeddings() -> Any:
        return client.embeddings.create(model=EMBEDDING_MODEL, input="hello")

    def responses() -> Any:
        return client.responses.create(model=OPENAI_MODEL, input="Say hello")

    def async_stream() -> Any:
        async def run() -> list[Any]:
            async with aclient() as session:
                stream = await session.chat.completions.create(
                    model=OPENAI_MODEL,
                    messages=MESSAGES,
                    stream=True,
                    stream_options={"include_usage": True},
                )
                return [chunk async for chunk in stream]

        return asyncio.run(run())

    def async_chat() -> Any:
        async def run() -> Any:
            async with aclient() as session:
                return await session.chat.completions.create(model=OPENAI_MODEL, messages=MESSAGES)

        return asyncio.run(run())

    return {
        "chat": chat,
        "stream": stream,
        "embeddings": embeddings,
        "async_chat": async_chat,
        "responses": responses,
        "async_stream": async_stream,
    }


def anthropic_calls(url: str) -> dict[str, Callable[[], Any]]:
    client = anthropic.Anthropic(base_url=url, api_key="test-key", max_retries=0)

    def chat() -> Any:
        return client.messages.create(model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES)

    def stream() -> Any:
        return client.messages.create(
            model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES, stream=True
        )

    def async_chat() -> Any:
        async def run() -> Any:
            async with anthropic.AsyncAnthropic(
                base_url=client.base_url, api_key="test-key", max_retries=0
            ) as aclient:
                return await aclient.messages.create(
                    model=ANTHROPIC_MODEL, max_tokens=64, messages=MESSAGES
                )

        return asyncio.run(run())

    return {"chat": chat, "stream": stream, "async_chat": async_chat}


def _span_record(span: ReadableSpan) -> dict[str, Any]:
    return {
        "name": span.name,
        "span_kind": span.kind.name,
        "scope": span.instrumentation_scope.name if span.instrumentation_scope else None,
        "span_id": f"{span.context.span_id:016x}",
        "parent_span_id": f"{span.parent.span_id:016x}" if span.parent else None,
        "trace_id": f"{span.context.trace_id:032x}",
        "attributes": dict(span.attributes or {}),
    }


def main(config: dict[str, Any]) -> list[dict[str, Any]]:
    memory = InMemorySpanExporter()
    handle = llmtrace.configure(
        service_name="foreign-app",
        db=config.get("db"),
        extra_exporters=(),
    )
    from opentelemetry import trace

    trace.get_tracer_provider().add_span_processor(SimpleSpanProcessor(memory))  # type: ignore[attr-defined]
    for name in config["instrumentors"]:
        instrument(name)
    provider = config["provider"]
    calls = (openai_calls if provider == "openai" else anthropic_calls)(config["url"])
    model = OPENAI_MODEL if provider == "openai" else ANTHROPIC_MODEL
    done = []
    for kind in config["calls"]:
        call = calls[kind]
        if config.get("wrap"):  # llmtrace's own llm span around the instrumented call
            operation = "embeddings" if kind == "embeddings" else "chat"
            call_model = EMBEDDING_MODEL if kind == "embeddings" else model
            call = llmtrace.llm(model=call_model, provider=provider, operation=operation)(call)
        with llmtrace.workflow(f"call {kind}") as root:
            result = call()
            if kind == "stream":
                chunks = list(result)
                assert chunks, "the stream gave no chunks"
        done.append({"call": kind, "trace_id": root.trace_id})
    handle.flush()
    handle.shutdown()
    if config.get("capture"):
        with open(config["capture"], "w", encoding="utf-8") as out:
            json.dump([_span_record(s) for s in memory.get_finished_spans()], out, indent=1)
    return done


if __name__ == "__main__":
    print(json.dumps(main(json.loads(sys.argv[1]))))
