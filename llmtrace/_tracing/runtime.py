"""The settings every span consults on the hot path, held in one mutable object.

``configure()`` replaces its fields; spans read them. Before ``configure()`` runs, spans go to
whatever TracerProvider the application installed globally (none: they are no-ops).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, cast

from opentelemetry import trace

from ..redaction import DEFAULT_MAX_CHARS, Redactor

if TYPE_CHECKING:
    from ..pricing import PriceTable

__all__ = ["TRACER_NAME", "Runtime", "install_prices", "made_prices", "runtime"]

TRACER_NAME = "llmtrace"


def _env_flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def sdk_disabled() -> bool:
    """``OTEL_SDK_DISABLED=true`` turns every llmtrace span into a pass-through."""
    return _env_flag("OTEL_SDK_DISABLED")


def capture_from_env() -> bool:
    return _env_flag("LLMTRACE_CAPTURE_CONTENT") or _env_flag(
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
    )


def _version() -> str:
    from .._version import __version__  # not importlib.metadata: ~3 MiB in every traced app

    return __version__


# Taken to put a value in a stand-in's place, and by configure() to replace the field.
_swap_lock = threading.Lock()


class _OnFirstUse:
    """Stands in for a field of :data:`runtime` until something uses it, then puts the real
    value in its place. ``configure()`` sets the tracer itself, and prices when it was given
    some; otherwise a process pays for them at its first span, not at import: the tracer is
    made, and prices load on an exporter thread."""

    def __init__(self, field_name: str, make: Callable[[], Any]) -> None:
        self._field_name = field_name
        self._make = make

    def __getattr__(self, name: str) -> Any:
        value = self._make()
        with _swap_lock:  # unless configure() replaced the stand-in meanwhile
            if getattr(runtime, self._field_name) is self:
                setattr(runtime, self._field_name, value)
        return getattr(value, name)


def _tracer() -> trace.Tracer:
    return trace.get_tracer(TRACER_NAME, _version())


def _prices(overrides: dict[str, Any] | None = None) -> PriceTable:
    from ..pricing import PriceTable

    return PriceTable(overrides)


def install_prices(overrides: dict[str, Any]) -> None:
    """The price table of ``configure(prices=...)``: with the user's prices, made now; without,
    a stand-in, so that the pricing module loads where a span is first priced (an exporter
    thread), not in every process that configures."""
    table = _prices(overrides) if overrides else cast(Any, _OnFirstUse("prices", _prices))
    with _swap_lock:
        runtime.prices = table


def made_prices() -> PriceTable | None:
    """The price table, or None while it is a stand-in nobody has used: a table without user
    prices, made without loading the pricing module to ask."""
    table = runtime.prices
    return None if isinstance(table, _OnFirstUse) else table


@dataclass
class Runtime:
    tracer: trace.Tracer = field(default_factory=lambda: cast(Any, _OnFirstUse("tracer", _tracer)))
    enabled: bool = field(default_factory=lambda: not sdk_disabled())
    capture_content: bool = field(default_factory=capture_from_env)
    redactor: Redactor = field(default_factory=lambda: Redactor(max_chars=DEFAULT_MAX_CHARS))
    prices: PriceTable = field(default_factory=lambda: cast(Any, _OnFirstUse("prices", _prices)))
    db_path: str | None = None  # the store configure() writes to, for query() to read
    # Where spans read the time: the wall clock for start and end, a monotonic one for
    # latencies within a span (time to first chunk); ``llmtrace.testing.FakeClock`` replaces
    # both in tests so times and latencies are exact.
    time_ns: Callable[[], int] = time.time_ns
    perf_counter_ns: Callable[[], int] = time.perf_counter_ns


runtime = Runtime()
