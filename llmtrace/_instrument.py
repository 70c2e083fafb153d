"""``llmtrace.instrument("openai", "anthropic")``: trace the clients' calls without decorators.

Each traced method (chat completions, responses and embeddings on openai, messages on
anthropic; sync and async) runs inside an llmtrace ``llm`` span, exactly as if the application
had decorated it: usage and cost are read from the response or the stream, which keeps the
span open until it ends. The anthropic client (2.x) traces itself: while its own tracing is on
for a client, that client's calls are left to it, and the store reads its span. A decorated
function around an instrumented call is one call in the store (see ``store/calls.py``).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable, Sequence
from typing import Any, Final

from . import semconv as sc
from ._internal import report_internal_error
from ._tracing.kinds import llm

__all__ = [
    "INSTRUMENTABLE",
    "check_libraries",
    "instrument",
    "instrument_libraries",
    "uninstrument",
]

# library -> (module, class, method, operation) for each traced method.
INSTRUMENTABLE: Final[dict[str, tuple[tuple[str, str, str, str], ...]]] = {
    "openai": (
        ("openai.resources.chat.completions.completions", "Completions", "create", sc.OP_CHAT),
        (
            "openai.resources.chat.completions.completions",
            "AsyncCompletions",
            "create",
            sc.OP_CHAT,
        ),
        ("openai.resources.responses.responses", "Responses", "create", sc.OP_CHAT),
        ("openai.resources.responses.responses", "AsyncResponses", "create", sc.OP_CHAT),
        ("openai.resources.embeddings", "Embeddings", "create", sc.OP_EMBEDDINGS),
        ("openai.resources.embeddings", "AsyncEmbeddings", "create", sc.OP_EMBEDDINGS),
    ),
    "anthropic": (
        ("anthropic.resources.messages.messages", "Messages", "create", sc.OP_CHAT),
        ("anthropic.resources.messages.messages", "AsyncMessages", "create", sc.OP_CHAT),
    ),
}

_ORIGINAL = "__llmtrace_original__"
_patched: list[tuple[type, str]] = []


def _traces_itself(resource: Any) -> bool:
    """The anthropic client emits its own span for this call (its tracing is on)."""
    try:
        return resource._client._tracer is not None
    except Exception:  # an older client without its own tracing, or a stand-in
        return False


def _spec_for(provider: str, operation: str, kwargs: dict[str, Any]) -> Any:
    model = kwargs.get("model")
    return _spec(provider, operation, model if isinstance(model, str) else None)


@functools.lru_cache(maxsize=256)
def _spec(provider: str, operation: str, model: str | None) -> Any:
    """One spec per (provider, operation, model), built once: a spec holds no per-call state
    (its ``with`` entries live in a context variable), so every call can share it."""
    return llm(model=model, provider=provider, operation=operation)


def _traced(
    original: Callable[..., Any], provider: str, operation: str, is_async: bool
) -> Callable[..., Any]:
    """``original`` (a client method) run inside an ``llm`` span, sync or async alike.

    ``is_async`` comes from the class (``AsyncCompletions``...): the SDKs' decorators turn some
    async methods into plain functions that return a coroutine.
    """
    if is_async:

        @functools.wraps(original)
        async def traced_async(self: Any, *args: Any, **kwargs: Any) -> Any:
            spec = _start_spec(self, provider, operation, kwargs)
            if spec is None:
                return await original(self, *args, **kwargs)
            bound = functools.partial(original, self)
            return await spec._wrap_coroutine(bound)(*args, **kwargs)

        traced: Callable[..., Any] = traced_async
    else:

        @functools.wraps(original)
        def traced_sync(self: Any, *args: Any, **kwargs: Any) -> Any:
            spec = _start_spec(self, provider, operation, kwargs)
            if spec is None:
                return original(self, *args, **kwargs)
            return spec._wrap_sync(functools.partial(original, self))(*args, **kwargs)

        traced = traced_sync
    setattr(traced, _ORIGINAL, original)
    return traced


def _start_spec(resource: Any, provider: str, operation: str, kwargs: dict[str, Any]) -> Any:
    """The span spec for one call, or None to call straight through (never raises)."""
    try:
        if provider == "anthropic" and _traces_itself(resource):
            return None
        return _spec_for(provider, operation, kwargs)
    except Exception as exc:
        report_internal_error(f"instrument({provider!r}) call", exc)
        return None


def instrument(*libraries: str) -> None:
    """Trace the named client libraries' model calls without decorators.

    Args:
        libraries: ``"openai"`` and/or ``"anthropic"``. Calling again is harmless.

    Example:
        >>> llmtrace.configure()
        >>> llmtrace.instrument("openai", "anthropic")
    """
    check_libraries(libraries, f"instrument({', '.join(map(repr, libraries))})")
    instrument_libraries(libraries)


def check_libraries(libraries: Sequence[str], where: str) -> None:
    """Raise a ValueError naming ``where`` when a library is not one llmtrace can trace."""
    if isinstance(libraries, str):
        raise ValueError(f"{where}: give a list of library names, got {libraries!r}")
    unknown = [name for name in libraries if name not in INSTRUMENTABLE]
    if unknown:
        raise ValueError(
            f"{where}: unknown library {unknown[0]!r}; choose from {sorted(INSTRUMENTABLE)}"
        )


def instrument_libraries(libraries: Sequence[str]) -> None:
    """Patch the clients' methods (already checked); libraries not installed are skipped."""
    for library in libraries:
        for module_name, class_name, method, operation in INSTRUMENTABLE[library]:
            try:
                owner = getattr(importlib.import_module(module_name), class_name)
            except (ImportError, AttributeError):
                continue  # not installed, or a version without this API
            current = owner.__dict__.get(method)
            if current is None or hasattr(current, _ORIGINAL):
                continue
            is_async = class_name.startswith("Async")
            setattr(owner, method, _traced(current, library, operation, is_async))
            _patched.append((owner, method))


def uninstrument() -> None:
    """Undo :func:`instrument` (for tests and for applications that switch it off)."""
    while _patched:
        owner, method = _patched.pop()
        original = getattr(owner.__dict__.get(method), _ORIGINAL, None)
        if original is not None:
            setattr(owner, method, original)
