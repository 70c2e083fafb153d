"""Traced calls and streams: one ending for a call, one for a step of a stream.

A decorated call, sync or async alike, makes its span current, runs, and then either fails
the span (``fail_call``) or finishes it with what it returned (``finish_call``), which for an
llm call may keep it open over a returned stream or coroutine. The span of a stream stays open
until the stream is exhausted, closed or collected. Each step of the wrapped iterator, sync or
async alike, attaches the span to the context and detaches it again before the chunk is handed
back (a step that raises ends or fails the span in ``_stopped``): no context is ever held
across a ``yield``, so a stream abandoned half-way cannot leak its span into the next request
("Failed to detach context" in other SDKs).
"""

from __future__ import annotations

import inspect
from collections.abc import AsyncIterator, Coroutine, Iterator
from typing import Any, Generic, TypeVar

from opentelemetry import context as otel_context
from opentelemetry.context import Context

from .live import LiveSpan

__all__ = [
    "TracedAsyncIterator",
    "TracedDualIterator",
    "TracedIterator",
    "fail_call",
    "finish_call",
]

T = TypeVar("T")


def _stopped(live: LiveSpan, token: object, exc: BaseException, done: type[BaseException]) -> None:
    """A stream step raised: its end (``done``: StopIteration / StopAsyncIteration) ends the
    span, anything else fails it; then the span is detached. (The caller re-raises ``exc``.)"""
    try:
        if isinstance(exc, done):
            live.end()
        else:
            live.fail(exc)
    finally:
        otel_context.detach(token)  # type: ignore[arg-type]


class _TracedStream:
    """What every traced stream holds and forwards; subclasses add one protocol each."""

    __slots__ = ("__weakref__", "_ctx", "_inner", "_live")

    def __init__(self, inner: Any, live: LiveSpan, ctx: Context) -> None:
        self._inner = inner
        self._live = live
        self._ctx = ctx

    def __getattr__(self, name: str) -> Any:
        # Provider stream objects carry more than iteration (``.response``, ``.get_final_...``).
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._inner, name)

    def __del__(self) -> None:
        live = getattr(self, "_live", None)
        if live is not None:
            live.end()


class TracedIterator(_TracedStream, Generic[T]):
    """Wraps a (generator) iterator; every chunk is recorded on the open span."""

    __slots__ = ()

    def __init__(self, inner: Iterator[T], live: LiveSpan, ctx: Context) -> None:
        super().__init__(inner, live, ctx)

    def __iter__(self) -> TracedIterator[T]:
        return self

    def __next__(self) -> T:
        return self._step(next, self._inner)

    def send(self, value: Any) -> T:
        return self._step(self._inner.send, value)

    def throw(self, *args: Any) -> T:
        return self._step(self._inner.throw, *args)

    def _step(self, fn: Any, *args: Any) -> T:
        token = otel_context.attach(self._ctx)
        try:
            chunk = fn(*args)
        except BaseException as exc:
            _stopped(self._live, token, exc, StopIteration)
            raise
        otel_context.detach(token)
        self._live.record_chunk(chunk)
        return chunk  # type: ignore[no-any-return]

    def close(self) -> None:
        """Close the underlying stream and end the span (an early stop is not an error)."""
        try:
            close = getattr(self._inner, "close", None)
            if close is not None:
                close()
        finally:
            self._live.end()

    def __enter__(self) -> TracedIterator[T]:
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()


class TracedAsyncIterator(_TracedStream, Generic[T]):
    """Wraps an async (generator) iterator; every chunk is recorded on the open span."""

    __slots__ = ()

    def __init__(self, inner: AsyncIterator[T], live: LiveSpan, ctx: Context) -> None:
        super().__init__(inner, live, ctx)

    def __aiter__(self) -> TracedAsyncIterator[T]:
        return self

    async def __anext__(self) -> T:
        return await self._astep(self._inner.__anext__)

    async def asend(self, value: Any) -> T:
        return await self._astep(self._inner.asend, value)

    async def athrow(self, *args: Any) -> T:
        return await self._astep(self._inner.athrow, *args)

    async def _astep(self, fn: Any, *args: Any) -> T:
        token = otel_context.attach(self._ctx)
        try:
            chunk = await fn(*args)
        except BaseException as exc:
            _stopped(self._live, token, exc, StopAsyncIteration)
            raise
        otel_context.detach(token)
        self._live.record_chunk(chunk)
        return chunk  # type: ignore[no-any-return]

    async def aclose(self) -> None:
        """Close the underlying stream and end the span (an early stop is not an error)."""
        try:
            aclose = getattr(self._inner, "aclose", None) or getattr(self._inner, "close", None)
            if aclose is not None:
                result = aclose()
                if hasattr(result, "__await__"):
                    await result
        finally:
            self._live.end()

    async def __aenter__(self) -> TracedAsyncIterator[T]:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()


class TracedDualIterator(TracedIterator[T], TracedAsyncIterator[T]):
    """Wraps an object that is both an iterator and an async iterator (openai-v2's
    ``TracedAsyncIterator`` is one): the application may use either protocol, and whichever
    it uses is recorded on the open span."""

    __slots__ = ()

    def __init__(self, inner: Any, live: LiveSpan, ctx: Context) -> None:
        _TracedStream.__init__(self, inner, live, ctx)


# --- what an llm function returned: a value, a stream, a coroutine -------------------------------
_NOT_STREAMS = (str, bytes, bytearray, memoryview, dict, list, tuple, set, frozenset)


def _stream_protocols(value: Any) -> tuple[bool, bool]:
    """Whether ``value`` is an iterator and whether it is an async iterator.

    Asked of its type, as ``next()`` and ``async for`` do: an instance's ``__getattr__`` (a
    proxy's, a mock's) neither answers nor gets a chance to raise.
    """
    if value is None or isinstance(value, _NOT_STREAMS):
        return False, False
    try:
        kind = type(value)
        return _protocol_method(kind, "__next__"), _protocol_method(kind, "__anext__")
    except Exception:  # a metaclass that raises: not something we can trace as a stream
        return False, False


def _protocol_method(kind: type, name: str) -> bool:
    # A MagicMock answers every dunder with a mock: a test double, not a stream to wrap.
    method = getattr(kind, name, None)
    return callable(method) and type(method).__module__ != "unittest.mock"


def fail_call(live: LiveSpan, token: object, exc: BaseException) -> None:
    """A decorated call raised: detach its span from the context and fail it (the caller
    re-raises ``exc`` unchanged)."""
    otel_context.detach(token)  # type: ignore[arg-type]
    live.fail(exc)


def finish_call(result: Any, live: LiveSpan, ctx: Context, token: object, llm: bool) -> Any:
    """A decorated call returned: detach its span, then end it with the result, or, for an llm
    call, keep it open over what it returned.

    A provider stream (``create(stream=True)``) is wrapped so the span ends when it does. An
    object with both protocols (openai-v2's ``TracedAsyncIterator``, some SDK proxies) keeps
    both: the application may use either, whatever kind of function returned it. A coroutine
    (``def f(): return async_client.create(...)``) keeps it open until it is awaited.
    """
    otel_context.detach(token)  # type: ignore[arg-type]
    if not llm:
        live.finish_with_result(result)
        return result
    if inspect.iscoroutine(result):
        return _awaited_then_finished(result, live, ctx)
    is_iterator, is_async_iterator = _stream_protocols(result)
    if is_iterator and is_async_iterator:
        return TracedDualIterator(result, live, ctx)
    if is_async_iterator:
        return TracedAsyncIterator(result, live, ctx)
    if is_iterator:
        return TracedIterator(result, live, ctx)
    live.finish_with_result(result)
    return result


async def _awaited_then_finished(
    coroutine: Coroutine[Any, Any, Any], live: LiveSpan, ctx: Context
) -> Any:
    """A coroutine a plain function returned: the call happens when it is awaited, so the span
    stays open (and current, within the awaiting task) until then."""
    token = otel_context.attach(ctx)
    try:
        result = await coroutine
    except BaseException as exc:
        fail_call(live, token, exc)
        raise
    return finish_call(result, live, ctx, token, llm=True)
