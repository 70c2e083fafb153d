"""The settings every span consults on the hot path, held in one mutable object.

``configure()`` replaces its fields; spans read them. Before ``configure()`` runs, spans go to
whatever TracerProvider the application installed globally (none: they are no-ops).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from opentelemetry import trace

from ..pricing import PriceTable
from ..redaction import DEFAULT_MAX_CHARS, Redactor

__all__ = ["TRACER_NAME", "Runtime", "runtime"]

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
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llmtrace")
    except PackageNotFoundError:
        return "0"


@dataclass
class Runtime:
    tracer: trace.Tracer = field(default_factory=lambda: trace.get_tracer(TRACER_NAME, _version()))
    enabled: bool = field(default_factory=lambda: not sdk_disabled())
    capture_content: bool = field(default_factory=capture_from_env)
    redactor: Redactor = field(default_factory=lambda: Redactor(max_chars=DEFAULT_MAX_CHARS))
    prices: PriceTable = field(default_factory=PriceTable)
    db_path: str | None = None  # the store configure() writes to, for query() to read


runtime = Runtime()
