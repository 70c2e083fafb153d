"""llmtrace: OpenTelemetry tracing, an embedded DuckDB span store and release gates for LLM apps.

Example:
    >>> import llmtrace
    >>> llmtrace.configure(service_name="support-bot")       # spans -> ./llmtrace.duckdb
    >>> @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    ... def call_model(messages): ...
    >>> llmtrace.query("SELECT model, sum(cost_usd) FROM llm_calls GROUP BY 1")

Each public name loads its module on first use, so ``import llmtrace`` (and the ``llmtrace``
command, which lives in this package) pays only for what is used: tracing loads the
OpenTelemetry SDK, ``query`` the store (DuckDB, pyarrow).
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._config import TracingHandle, configure
    from ._instrument import instrument
    from ._query import query
    from ._tracing.context import context
    from ._tracing.kinds import SpanSpec, guardrail, judge, llm, retrieval, tool, workflow
    from ._tracing.live import LiveSpan, current_span
    from .decision import Decision
    from .prompts import Prompt

__all__ = [
    "Decision",
    "LiveSpan",
    "Prompt",
    "SpanSpec",
    "TracingHandle",
    "configure",
    "context",
    "current_span",
    "guardrail",
    "instrument",
    "judge",
    "llm",
    "query",
    "retrieval",
    "tool",
    "workflow",
]

_HOMES = {
    "Decision": ".decision",
    "LiveSpan": "._tracing.live",
    "Prompt": ".prompts",
    "SpanSpec": "._tracing.kinds",
    "TracingHandle": "._config",
    "configure": "._config",
    "context": "._tracing.context",
    "current_span": "._tracing.live",
    "guardrail": "._tracing.kinds",
    "instrument": "._instrument",
    "judge": "._tracing.kinds",
    "llm": "._tracing.kinds",
    "query": "._query",
    "retrieval": "._tracing.kinds",
    "tool": "._tracing.kinds",
    "workflow": "._tracing.kinds",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(home, __name__), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
