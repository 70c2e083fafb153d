"""The six span kinds behind one factory: each is a decorator and a (sync or async) context manager.

``workflow``, ``llm``, ``tool``, ``retrieval``, ``guardrail`` and ``judge`` all return a
:class:`SpanSpec`. Used as a decorator it wraps sync functions, coroutines, generators and async
generators (streams keep the span open until they end); used with ``with`` / ``async with`` it
yields the :class:`~llmtrace._live.LiveSpan` handle. Operation, provider and model are passed
to the tracer when the span starts, so samplers can decide on them.
"""

from __future__ import annotations

import contextvars
import functools
import inspect
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator, Mapping
from types import TracebackType
from typing import Any, ParamSpec, TypeVar, overload

from opentelemetry import context as otel_context
from opentelemetry import trace

from . import semconv as sc
from ._context import current_context_attributes
from ._internal import report_internal_error
from ._live import LiveSpan
from ._runtime import runtime
from ._streams import TracedAsyncIterator, TracedDualIterator, TracedIterator
from .prompts import Prompt

__all__ = ["SpanSpec", "guardrail", "judge", "llm", "retrieval", "tool", "workflow"]

P = ParamSpec("P")
R = TypeVar("R")
F = TypeVar("F", bound=Callable[..., Any])

_INPUT_KEYWORDS = ("messages", "prompt", "input", "question", "query", "text")


def _call_input(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> Any:
    """The argument that carries the prompt: a known keyword, else the first text-like one."""
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
        "_entered",
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
        # What each `with` entered, per context: one spec may be entered concurrently from
        # several threads or tasks (a module-level spec used in a thread pool).
        self._entered: contextvars.ContextVar[tuple[tuple[LiveSpan, object], ...]] | None = None

    # --- starting -----------------------------------------------------------------------------
    def start(self) -> tuple[LiveSpan, otel_context.Context]:
        """Open the span as a child of the current context (not yet attached)."""
        judged = trace.get_current_span() if self.kind == sc.KIND_JUDGE else None
        stamped = current_context_attributes()
        # Context attributes go in at start (one validation pass); the span's own win.
        attributes = {**stamped, **self.start_attributes} if stamped else self.start_attributes
        span = runtime.tracer.start_span(self.span_name, attributes=attributes)
        live = LiveSpan(span, self.kind, self.model, self.provider, judged, self.evaluation_name)
        return live, trace.set_span_in_context(span)

    def _try_start(self) -> tuple[LiveSpan, otel_context.Context] | None:
        if not runtime.enabled:
            return None
        try:
            return self.start()
        except Exception as exc:
            report_internal_error(f"{self.kind} span start", exc)
            return None

    # --- context manager ----------------------------------------------------------------------
    def _push(self, entry: tuple[LiveSpan, object]) -> None:
        if self._entered is None:
            self._entered = contextvars.ContextVar(f"llmtrace_entered_{id(self)}", default=())
        self._entered.set((*self._entered.get(), entry))

    def __enter__(self) -> LiveSpan:
        started = self._try_start()
        if started is None:
            live = LiveSpan(trace.INVALID_SPAN, self.kind)
            self._push((live, None))
            return live
        live, ctx = started
        self._push((live, otel_context.attach(ctx)))
        return live

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._entered is not None, "__exit__ without __enter__"
        *rest, (live, token) = self._entered.get()
        self._entered.set(tuple(rest))
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

    def _wrap_sync(self, func: Callable[P, R]) -> Callable[P, R]:
        wants_input = self.kind == sc.KIND_LLM

        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            started = self._try_start()
            if started is None:
                return func(*args, **kwargs)
            live, ctx = started
            if wants_input:
                live.record_input(_call_input(args, kwargs))
            token = otel_context.attach(ctx)
            try:
                result = func(*args, **kwargs)
            except BaseException as exc:
                otel_context.detach(token)
                live.fail(exc)
                raise
            otel_context.detach(token)
            if wants_input:
                return _finish_llm(result, live, ctx)  # type: ignore[no-any-return]
            live.finish_with_result(result)
            return result

        return wrapper

    def _wrap_coroutine(self, func: Callable[P, Any]) -> Callable[P, Any]:
        wants_input = self.kind == sc.KIND_LLM

        async def wrapper(*args: P.args, **kwargs: P.kwargs) -> Any:
            started = self._try_start()
            if started is None:
                return await func(*args, **kwargs)
            live, ctx = started
            if wants_input:
                live.record_input(_call_input(args, kwargs))
            token = otel_context.attach(ctx)
            try:
                result = await func(*args, **kwargs)
            except BaseException as exc:
                otel_context.detach(token)
                live.fail(exc)
                raise
            otel_context.detach(token)
            if wants_input:
                return _finish_llm(result, live, ctx)
            live.finish_with_result(result)
            return result

        return wrapper

    def _wrap_gen(self, func: Callable[P, Iterator[Any]]) -> Callable[P, Iterator[Any]]:
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[Any]:
            started = self._try_start()
            if started is None:
                return func(*args, **kwargs)
            live, ctx = started
            if self.kind == sc.KIND_LLM:
                live.record_input(_call_input(args, kwargs))
            return TracedIterator(func(*args, **kwargs), live, ctx)

        return wrapper

    def _wrap_async_gen(
        self, func: Callable[P, AsyncIterator[Any]]
    ) -> Callable[P, AsyncIterator[Any]]:
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[Any]:
            started = self._try_start()
            if started is None:
                return func(*args, **kwargs)
            live, ctx = started
            if self.kind == sc.KIND_LLM:
                live.record_input(_call_input(args, kwargs))
            return TracedAsyncIterator(func(*args, **kwargs), live, ctx)

        return wrapper


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


def _finish_llm(result: Any, live: LiveSpan, ctx: otel_context.Context) -> Any:
    """End an llm span with the function's result, or keep it open over a returned stream.

    A provider stream (``create(stream=True)``) is wrapped so the span ends when it does. An
    object with both protocols (openai-v2's ``TracedAsyncIterator``, some SDK proxies) keeps
    both: the application may use either, whatever kind of function returned it.
    """
    if inspect.iscoroutine(result):  # ``def f(): return async_client.create(...)``
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
    coroutine: Coroutine[Any, Any, Any], live: LiveSpan, ctx: otel_context.Context
) -> Any:
    """A coroutine a plain function returned: the call happens when it is awaited, so the span
    stays open (and current, within the awaiting task) until then."""
    token = otel_context.attach(ctx)
    try:
        result = await coroutine
    except BaseException as exc:
        otel_context.detach(token)
        live.fail(exc)
        raise
    otel_context.detach(token)
    return _finish_llm(result, live, ctx)


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}


def _spec_or_decorate(spec_for: Callable[[str], SpanSpec], target: Any) -> Any:
    """Support both ``@kind`` and ``@kind(...)``: a callable first argument is decorated."""
    if callable(target) and not isinstance(target, str):
        return spec_for(getattr(target, "__name__", "function"))(target)
    return spec_for(target)


# --- the public factories ---------------------------------------------------------------------
@overload
def workflow(name: F) -> F: ...
@overload
def workflow(name: str | None = None, **attributes: Any) -> SpanSpec: ...
def workflow(name: Any = None, **attributes: Any) -> Any:
    """A workflow span (``invoke_workflow <name>``): one request through the application.

    Example:
        >>> @llmtrace.workflow("handle_ticket")
        ... def handle(question): ...
    """

    def spec_for(resolved: str | None) -> SpanSpec:
        resolved = resolved or "workflow"
        return SpanSpec(
            sc.KIND_WORKFLOW,
            f"{sc.OP_INVOKE_WORKFLOW} {resolved}",
            {
                sc.SPAN_KIND: sc.KIND_WORKFLOW,
                sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
                sc.GEN_AI_WORKFLOW_NAME: resolved,
                **_clean(attributes),
            },
        )

    return _spec_or_decorate(spec_for, name)


@overload
def llm(model: F) -> F: ...
@overload
def llm(
    model: str | None = None,
    *,
    provider: str | None = None,
    prompt: Prompt | None = None,
    operation: str = sc.OP_CHAT,
    name: str | None = None,
    **request: Any,
) -> SpanSpec: ...
def llm(
    model: Any = None,
    *,
    provider: str | None = None,
    prompt: Prompt | None = None,
    operation: str = sc.OP_CHAT,
    name: str | None = None,
    **request: Any,
) -> Any:
    """An LLM call span (``chat <model>``) with prompt, tokens, cost and (opt-in) content.

    Usage is read from the return value when it is an OpenAI- or Anthropic-style response;
    otherwise it is estimated with tiktoken from the call's input and output. Extra keywords
    (``temperature=0.2``, ``max_tokens=256``) are recorded as ``gen_ai.request.*``.

    Example:
        >>> @llmtrace.llm(model="gpt-4o-mini", provider="openai", prompt=PROMPT)
        ... def call_model(messages): ...
    """
    if callable(model) and not isinstance(model, str):
        return llm()(model)
    if prompt is not None and not isinstance(prompt, Prompt):
        raise TypeError(f"llm(prompt=...) must be a llmtrace.Prompt, got {prompt!r}")
    attributes: dict[str, Any] = {
        sc.SPAN_KIND: sc.KIND_LLM,
        sc.GEN_AI_OPERATION_NAME: operation,
        sc.GEN_AI_PROVIDER_NAME: provider,
        sc.GEN_AI_REQUEST_MODEL: model,
    }
    if prompt is not None:
        attributes[sc.GEN_AI_PROMPT_NAME] = prompt.name
        attributes[sc.GEN_AI_PROMPT_VERSION] = prompt.version
        attributes[sc.PROMPT_HASH] = prompt.hash
    for key, value in request.items():
        attributes[sc.GEN_AI_REQUEST_PREFIX + key] = value
    span_name = name or (f"{operation} {model}" if model else operation)
    return SpanSpec(sc.KIND_LLM, span_name, _clean(attributes), model=model, provider=provider)


@overload
def tool(name: F) -> F: ...
@overload
def tool(name: str | None = None, *, call_id: str | None = None, **attributes: Any) -> SpanSpec: ...
def tool(name: Any = None, *, call_id: str | None = None, **attributes: Any) -> Any:
    """A tool execution span (``execute_tool <name>``).

    Example:
        >>> @llmtrace.tool("lookup_order")
        ... def lookup_order(order_id): ...
    """

    def spec_for(resolved: str | None) -> SpanSpec:
        resolved = resolved or "tool"
        return SpanSpec(
            sc.KIND_TOOL,
            f"{sc.OP_EXECUTE_TOOL} {resolved}",
            _clean(
                {
                    sc.SPAN_KIND: sc.KIND_TOOL,
                    sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
                    sc.GEN_AI_TOOL_NAME: resolved,
                    sc.GEN_AI_TOOL_CALL_ID: call_id,
                    **attributes,
                }
            ),
        )

    return _spec_or_decorate(spec_for, name)


def retrieval(index: str, index_version: str | None = None, **attributes: Any) -> SpanSpec:
    """A retrieval span (``retrieval <index>``) that records the returned document ids.

    Example:
        >>> @llmtrace.retrieval(index="kb", index_version="2026-11-01")
        ... def search(query): ...
    """
    if not isinstance(index, str) or not index:
        raise ValueError(f"retrieval(index=...) must be a non-empty string, got {index!r}")
    return SpanSpec(
        sc.KIND_RETRIEVAL,
        f"{sc.OP_RETRIEVAL} {index}",
        _clean(
            {
                sc.SPAN_KIND: sc.KIND_RETRIEVAL,
                sc.GEN_AI_OPERATION_NAME: sc.OP_RETRIEVAL,
                sc.GEN_AI_DATA_SOURCE_ID: index,
                sc.RETRIEVAL_INDEX: index,
                sc.RETRIEVAL_INDEX_VERSION: index_version,
                **attributes,
            }
        ),
    )


def guardrail(policy: str, version: str | None = None, **attributes: Any) -> SpanSpec:
    """A guardrail span; the function returns a :class:`Decision` or a bool (True = allow).

    Example:
        >>> @llmtrace.guardrail(policy="pii", version="3")
        ... def check(text): return llmtrace.Decision(action="block", score=0.93)
    """
    if not isinstance(policy, str) or not policy:
        raise ValueError(f"guardrail(policy=...) must be a non-empty string, got {policy!r}")
    return SpanSpec(
        sc.KIND_GUARDRAIL,
        f"{sc.OP_GUARDRAIL} {policy}",
        _clean(
            {
                sc.SPAN_KIND: sc.KIND_GUARDRAIL,
                sc.GEN_AI_OPERATION_NAME: sc.OP_GUARDRAIL,
                sc.GUARDRAIL_POLICY: policy,
                sc.GUARDRAIL_VERSION: version,
                **attributes,
            }
        ),
    )


def judge(
    model: str | None = None,
    version: str | None = None,
    *,
    name: str | None = None,
    provider: str | None = None,
    **attributes: Any,
) -> SpanSpec:
    """A judge span recording judge model and version; a returned score (in [0, 1]) becomes a
    ``gen_ai.evaluation.result`` event on the judged span (the span current at the call).

    Naming, the same for ``evals.judge``: a judge is named ``name=``, else after the function
    it decorates; only a ``with`` block without ``name=`` falls back to its version or model.
    The name is the span's (``judge helpful``) and the evaluation's.

    Example:
        >>> @llmtrace.judge(model="gpt-4o", version="helpful-v2")
        ... def helpful(answer) -> float: ...
    """

    def named_after(function_name: str) -> SpanSpec:
        return judge(model, version, name=function_name, provider=provider, **attributes)

    label = name or version or model or "judge"
    return SpanSpec(
        sc.KIND_JUDGE,
        f"{sc.OP_JUDGE} {label}",
        _clean(
            {
                sc.SPAN_KIND: sc.KIND_JUDGE,
                sc.GEN_AI_OPERATION_NAME: sc.OP_JUDGE,
                sc.GEN_AI_PROVIDER_NAME: provider,
                sc.GEN_AI_REQUEST_MODEL: model,
                sc.JUDGE_MODEL: model,
                sc.JUDGE_VERSION: version,
                **attributes,
            }
        ),
        model=model,
        provider=provider,
        evaluation_name=name or version or model,
        named_by=None if name is not None else named_after,
    )
