"""``llmtrace.context(...)``: attributes stamped on every span opened inside the block.

The values live in a ``contextvars.ContextVar``, so asyncio tasks created inside the block see
them (tasks copy the context when created). Threads do not copy contexts, so while llmtrace is
imported, ``concurrent.futures.ThreadPoolExecutor.submit`` (and so ``Executor.map`` and
``loop.run_in_executor``) runs the submitted callable in a copy of the submitter's context;
``asyncio.to_thread`` already does this. Plain ``threading.Thread`` does not carry it.
"""

from __future__ import annotations

import concurrent.futures
import contextvars
import functools
import json
from collections.abc import Callable, Mapping
from types import MappingProxyType, TracebackType
from typing import Any

from .. import semconv
from .._internal import warn_once

__all__ = ["context", "current_context_attributes", "install_thread_pool_propagation"]

_ATTRIBUTES: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "llmtrace_context_attributes", default=MappingProxyType({})
)


# The span attributes that the enclosing ``llmtrace.context`` blocks stamp: the variable's own
# ``get``, so the call every span makes (the stamping processor, the decorators) runs in C.
current_context_attributes: Callable[[], Mapping[str, Any]] = _ATTRIBUTES.get


def _attribute_value(key: str, value: Any) -> Any:
    """A span attribute value for ``context(key=value)``. Tracing never raises into the
    application: a dict or a mixed list is stored as JSON, anything else as ``str(value)``,
    with one warning per key."""
    if isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, (list, tuple)) and all(
        isinstance(v, (str, bool, int, float)) for v in value
    ):
        return tuple(value)
    if isinstance(value, (dict, list, tuple)):
        try:
            return json.dumps(value, sort_keys=True, default=str, ensure_ascii=False)
        except (TypeError, ValueError):
            pass  # circular or unsortable keys: fall through to str()
    warn_once(
        f"context:{key}",
        f"llmtrace.context({key}=...): {type(value).__name__} is not a span attribute type "
        "(str, bool, int, float or a list of them); stored as text",
    )
    return str(value)


class context:
    """Stamp ``**attributes`` on every span opened inside this block (sync or async).

    Known keys map to promoted attributes (``prompt_version`` -> ``gen_ai.prompt.version``,
    ``dataset_version``, ``conversation_id``, ``user_id``, ``session_id``, ...); other keys go
    under ``llmtrace.context.<key>``. Inner blocks add to and override outer ones, and what a
    span sets itself wins over the context.

    Example:
        >>> with llmtrace.context(prompt_version="v3", user_id="u-1"):
        ...     handle(question)
    """

    def __init__(self, **attributes: Any) -> None:
        self._attributes = {
            semconv.context_attribute(key): _attribute_value(key, value)
            for key, value in attributes.items()
            if value is not None
        }
        self._tokens: list[contextvars.Token[Mapping[str, Any]]] = []

    def __enter__(self) -> context:
        install_thread_pool_propagation()
        merged = {**_ATTRIBUTES.get(), **self._attributes}
        self._tokens.append(_ATTRIBUTES.set(merged))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _ATTRIBUTES.reset(self._tokens.pop())

    async def __aenter__(self) -> context:
        return self.__enter__()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.__exit__(exc_type, exc, tb)


_original_submit: Callable[..., Any] | None = None


def install_thread_pool_propagation() -> None:
    """Make ``ThreadPoolExecutor.submit`` run work in a copy of the submitter's context."""
    global _original_submit
    if _original_submit is not None:
        return
    original: Callable[..., Any] = concurrent.futures.ThreadPoolExecutor.submit
    _original_submit = original

    @functools.wraps(original)
    def submit(
        self: concurrent.futures.ThreadPoolExecutor,
        fn: Callable[..., Any],
        /,
        *args: Any,
        **kwargs: Any,
    ) -> concurrent.futures.Future[Any]:
        ctx = contextvars.copy_context()
        future: concurrent.futures.Future[Any] = original(self, ctx.run, fn, *args, **kwargs)
        return future

    setattr(concurrent.futures.ThreadPoolExecutor, "submit", submit)  # noqa: B010
