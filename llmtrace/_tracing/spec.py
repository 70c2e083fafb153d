"""``SpanSpec``: one span kind's recipe, used as a decorator or a (sync or async) context manager.

Used as a decorator it wraps sync functions, coroutines, generators and async generators
(streams keep the span open until they end; see ``streams``); used with ``with`` /
``async with`` it yields the :class:`~llmtrace._tracing.live.LiveSpan` handle. Operation,
provider and model are passed to the tracer when the span starts, so samplers can decide on
them. The six public kinds (``kinds``) each build one.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import trace

from .. import semconv as sc
from .._internal import report_internal_error
from .context import current_context_attributes
from .live import LiveSpan
from .runtime import runtime
from .streams import TracedAsyncIterator, TracedIterator, fail_call, finish_call

__all__ = ["SpanSpec"]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

_INPUT_KEYWORDS = ("messages", "prompt", "input", "question", "query", "text")


# What each `with` entered, per context (one spec may be entered concurrently from several
# threads or tasks: a module-level spec used in a thread pool), innermost last. One variable
# for every spec: a variable per spec stayed in the thread's context for good once set, one
# more for every `with llmtrace.workflow(...)` block the thread ever ran.
_ENTERED: contextvars.ContextVar[tuple[tuple[SpanSpec, LiveSpan, object], ...]] = (
    contextvars.ContextVar("llmtrace_entered", default=())
)


def _call_input(args: tuple[Any, ...], kwargs: Mapping[str, Any] | None) -> Any:
    """The argument that carries the prompt: a known keyword, else the first text-like one."""
    if kwargs:
        for key in _INPUT_KEYWORDS:
            if key in kwargs:
                return kwargs[key]
    for arg in args:
        if isinstance(arg, (str, list, tuple, dict)):
            return arg
    return None


class SpanSpec:
    """What one span kind records; call it on a function, or enter it as a context manager."""

    __slots__ = (
        "_judge",
        "_llm",
        "_named_by",
        "evaluation_name",
        "kind",
        "model",
        "provider",
        "span_name",
        "start_attributes",
    )

    def __init__(
        self,
        kind: str,
        span_name: str,
        start_attributes: dict[str, Any],
        model: str | None = None,
        provider: str | None = None,
        evaluation_name: str | None = None,
        named_by: Callable[[str], SpanSpec] | None = None,
    ) -> None:
        self._named_by = named_by  # the spec to use instead, given the decorated function's name
        self.kind = kind
        self.span_name = span_name
        self.start_attributes = start_attributes
        self.model = model
        self.provider = provider
        self.evaluation_name = evaluation_name
        self._llm = kind == sc.KIND_LLM  # records the call's input, and what it returned
        self._judge = kind == sc.KIND_JUDGE  # remembers the span it judges

    # --- starting -----------------------------------------------------------------------------
    def start(self) -> tuple[LiveSpan, otel_context.Context]:
        """Open the span as a child of the current context (not yet attached)."""
        judged = trace.get_current_span() if self._judge else None
        stamped = current_context_attributes()
        # Context attributes go in at start (one validation pass); the span's own win.
        attributes = {**stamped, **self.start_attributes} if stamped else self.start_attributes
        span = runtime.tracer.start_span(
            self.span_name, attributes=attributes, start_time=runtime.time_ns()
        )
        live = LiveSpan(span, self.kind, self.model, self.provider, judged, self.evaluation_name)
        return live, trace.set_span_in_context(span)

    def _try_start(
        self, args: tuple[Any, ...] | None = None, kwargs: Mapping[str, Any] | None = None
    ) -> tuple[LiveSpan, otel_context.Context] | None:
        """Open the span, or None when tracing is off or the start failed (reported). Given a
        decorated call's arguments, an llm span records the call's input."""
        if not runtime.enabled:
            return None
        try:
            live, ctx = self.start()
        except Exception as exc:
            report_internal_error(f"{self.kind} span start", exc)
            return None
        if args is not None and self._llm:
            live.record_input(_call_input(args, kwargs))
        return live, ctx

    # --- context manager ----------------------------------------------------------------------
    def _push(self, live: LiveSpan, token: object) -> None:
        _ENTERED.set((*_ENTERED.get(), (self, live, token)))

    def __enter__(self) -> LiveSpan:
        started = self._try_start()
        if started is None:
            live = LiveSpan(trace.INVALID_SPAN, self.kind)
            self._push(live, None)
            return live
        live, ctx = started
        self._push(live, otel_context.attach(ctx))
        return live

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        entered = _ENTERED.get()
        at = len(entered) - 1  # this spec's innermost entry: the last one, unless misnested
        while at >= 0 and entered[at][0] is not self:
            at -= 1
        if at < 0:
            raise RuntimeError(f"{self.span_name!r}: __exit__ without __enter__ in this context")
        _, live, token = entered[at]
        _ENTERED.set(entered[:at] + entered[at + 1 :])
        if token is not None:
            otel_context.detach(token)  # type: ignore[arg-type]
        if exc is not None:
            live.fail(exc)
        else:
            live.end()

    async def __aenter__(self) -> LiveSpan:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)

    # --- decorator ----------------------------------------------------------------------------
    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        if self._named_by is not None:
            return self._named_by(getattr(func, "__name__", "judge"))(func)
        if inspect.isasyncgenfunction(func):
            return functools.wraps(func)(self._wrap_async_gen(func))  # type: ignore[return-value]
        if inspect.isgeneratorfunction(func):
            return functools.wraps(func)(self._wrap_gen(func))  # type: ignore[return-value]
        if inspect.iscoroutinefunction(func):
            return functools.wraps(func)(self._wrap_coroutine(func))  # type: ignore[return-value]
        return functools.wraps(func)(self._wrap_sync(func))

    # Each wrapper is the same few lines around its own kind of call, as in logfire's
    # ``instrument``; what a call's end does is in ``streams.fail_call`` / ``finish_call``, a
    # stream's life in ``streams``. (Not a ``with`` block: a scope object costs ~0.5 us a call.)
    def _wrap_sync(self, func: Callable[P, R]) -> Callable[P, R]:
        start_call, llm = self._try_start, self._llm

        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = start_call(args, kwargs)
            if started is None:
                return func(*args, **kwargs)
            live, ctx = started
            token = otel_context.attach(ctx)
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                fail_call(live, token, exc)
                raise
            return finish_call(result, live, ctx, token, llm)  # type: ignore[no-any-return]

        return wrapper

    def _wrap_coroutine(self, func: Callable[P, Any]) -> Callable[P, Any]:
        start_call, llm = self._try_start, self._llm

        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            started = start_call(args, kwargs)
            if started is None:
                return await func(*args, **kwargs)
            live, ctx = started
            token = otel_context.attach(ctx)
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                fail_call(live, token, exc)
                raise
            return finish_call(result, live, ctx, token, llm)

        return wrapper

    def _wrap_gen(self, func: Callable[P, Iterator[Any]]) -> Callable[P, Iterator[Any]]:
        start_call = self._try_start

        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[Any]:
            started = start_call(args, kwargs)
            if started is None:
                return func(*args, **kwargs)
            return TracedIterator(func(*args, **kwargs), *started)

        return wrapper

    def _wrap_async_gen(
        self, func: Callable[P, AsyncIterator[Any]]
    ) -> Callable[P, AsyncIterator[Any]]:
        start_call = self._try_start

        def wrapper(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[Any]:
            started = start_call(args, kwargs)
            if started is None:
                return func(*args, **kwargs)
            return TracedAsyncIterator(func(*args, **kwargs), *started)

        return wrapper
