"""``@llmtrace.llm`` never raises into the application, whatever the function returns.

Each kind of return value the decorator may wrap: plain values pass through as the same
object; iterators and async iterators come back wrapped, yield the same chunks and end the span
when they end; an object with both protocols (openai-v2's ``TracedAsyncIterator``) keeps both.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any
from unittest import mock

import pytest
import wrapt

import llmtrace

USAGE_CHUNK = {"choices": [], "usage": {"prompt_tokens": 9, "completion_tokens": 2}}
CHUNKS = [{"choices": [{"index": 0, "delta": {"content": "Hi"}}]}, USAGE_CHUNK]


class SyncOnly:
    def __init__(self) -> None:
        self._items = iter(CHUNKS)

    def __iter__(self) -> SyncOnly:
        return self

    def __next__(self) -> Any:
        return next(self._items)


class AsyncOnly:
    def __init__(self) -> None:
        self._items = iter(CHUNKS)

    def __aiter__(self) -> AsyncOnly:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None


class BothProtocols(SyncOnly):
    """Like openai-v2's TracedAsyncIterator: ``__next__`` and ``__anext__`` on one class."""

    def __aiter__(self) -> BothProtocols:
        return self

    async def __anext__(self) -> Any:
        try:
            return next(self._items)
        except StopIteration:
            raise StopAsyncIteration from None

    def close(self) -> None:
        pass


class Hostile:
    """An object whose attribute lookups raise something other than AttributeError."""

    def __getattr__(self, name: str) -> Any:
        raise RuntimeError(f"no {name} here")


def generator() -> Iterator[Any]:
    yield from CHUNKS


async def async_generator() -> AsyncIterator[Any]:
    for chunk in CHUNKS:
        yield chunk


async def coroutine() -> str:
    return "later"


def ended_llm_span(spans: Any) -> dict[str, Any]:
    (record,) = [r for r in spans.records() if r["name"].startswith("chat")]
    return record


PLAIN_VALUES = [
    pytest.param(lambda: {"usage": {"prompt_tokens": 3, "completion_tokens": 1}}, id="dict"),
    pytest.param(lambda: "text", id="str"),
    pytest.param(lambda: b"bytes", id="bytes"),
    pytest.param(lambda: None, id="none"),
    pytest.param(lambda: [1, 2], id="list"),
    pytest.param(lambda: (1, 2), id="tuple"),
    pytest.param(Hostile, id="getattr-raises"),
    pytest.param(mock.MagicMock, id="magic-mock"),
    pytest.param(mock.Mock, id="mock"),
    pytest.param(lambda: wrapt.ObjectProxy({"usage": None}), id="wrapt-proxy"),
]


@pytest.mark.parametrize("make", PLAIN_VALUES)
def test_plain_values_pass_through_as_the_same_object(spans, make):
    value = make()

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call() -> Any:
        return value

    assert call() is value
    assert ended_llm_span(spans)["status"] == "UNSET"


@pytest.mark.parametrize("make", PLAIN_VALUES)
def test_plain_values_from_coroutines_pass_through(spans, make):
    value = make()

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    async def call() -> Any:
        return value

    assert asyncio.run(call()) is value
    ended_llm_span(spans)


def test_a_coroutine_returned_by_a_sync_function_stays_awaitable(spans):
    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call() -> Any:
        return coroutine()

    pending = call()
    assert spans.records() == []  # the call happens when it is awaited: the span is open
    assert asyncio.run(pending) == "later"
    ended_llm_span(spans)


def test_a_coroutine_that_returns_a_response_records_its_usage(spans):
    async def create() -> Any:
        return {"usage": {"prompt_tokens": 7, "completion_tokens": 3}}

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call() -> Any:
        return create()

    asyncio.run(call())
    attributes = ended_llm_span(spans)["attributes"]
    assert (attributes["gen_ai.usage.input_tokens"], attributes["gen_ai.usage.output_tokens"]) == (
        7,
        3,
    )


def test_a_failing_coroutine_fails_the_span_and_raises_unchanged(spans):
    async def create() -> Any:
        raise ConnectionError("refused")

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call() -> Any:
        return create()

    with pytest.raises(ConnectionError, match="refused"):
        asyncio.run(call())
    assert ended_llm_span(spans)["status"] == "ERROR"


@pytest.mark.parametrize(
    "make", [generator, SyncOnly, BothProtocols], ids=["generator", "iterator", "both"]
)
@pytest.mark.parametrize("is_async_function", [False, True], ids=["sync-fn", "async-fn"])
def test_iterators_are_iterated_and_recorded(spans, make, is_async_function):
    if is_async_function:

        @llmtrace.llm(model="gpt-4o-mini", provider="openai")
        async def acall() -> Any:
            return make()

        stream = asyncio.run(acall())
    else:

        @llmtrace.llm(model="gpt-4o-mini", provider="openai")
        def call() -> Any:
            return make()

        stream = call()
    assert list(stream) == CHUNKS
    attributes = ended_llm_span(spans)["attributes"]
    assert attributes["gen_ai.usage.input_tokens"] == 9
    assert attributes["llmtrace.stream.chunks"] == 2


@pytest.mark.parametrize(
    "make", [async_generator, AsyncOnly, BothProtocols], ids=["async-generator", "aiter", "both"]
)
@pytest.mark.parametrize("is_async_function", [False, True], ids=["sync-fn", "async-fn"])
def test_async_iterators_are_iterated_and_recorded(spans, make, is_async_function):
    if is_async_function:

        @llmtrace.llm(model="gpt-4o-mini", provider="openai")
        async def acall() -> Any:
            return make()

        async def run() -> list[Any]:
            return [chunk async for chunk in await acall()]

    else:

        @llmtrace.llm(model="gpt-4o-mini", provider="openai")
        def call() -> Any:
            return make()

        async def run() -> list[Any]:
            return [chunk async for chunk in call()]

    assert asyncio.run(run()) == CHUNKS
    attributes = ended_llm_span(spans)["attributes"]
    assert attributes["gen_ai.usage.output_tokens"] == 2


def test_both_protocols_closed_early_ends_the_span(spans):
    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call() -> Any:
        return BothProtocols()

    with call() as stream:
        next(stream)
    ended_llm_span(spans)

    async def run() -> None:
        async with call() as astream:
            await astream.__anext__()

    spans.clear()
    asyncio.run(run())
    ended_llm_span(spans)


def test_the_wrapper_forwards_the_streams_own_attributes(spans):
    class WithResponse(BothProtocols):
        response = "the http response"

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call() -> Any:
        return WithResponse()

    stream = call()
    assert stream.response == "the http response"
    list(stream)


def test_texts_waiting_to_be_counted_are_bounded(spans, monkeypatch):
    from llmtrace._tracing import late as _late

    monkeypatch.setattr(_late, "_MAX_WAITING_CHARS", 10_000)

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call(prompt: str) -> str:
        return "ok"

    for i in range(50):  # nothing exports these until records() is asked for
        call(f"{i} " + "word " * 200)
    assert _late._waiting_chars <= 10_000 and len(_late._texts) <= 10
    records = spans.records()
    counted = [r for r in records if "gen_ai.usage.input_tokens" in r["attributes"]]
    assert 0 < len(counted) <= 10 and counted[-1] is records[-1]  # the newest kept their texts
