"""llmtrace: OpenTelemetry tracing, an embedded DuckDB span store and release gates for LLM apps.

Example:
    >>> import llmtrace
    >>> llmtrace.configure(service_name="support-bot")       # spans -> ./llmtrace.duckdb
    >>> @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    ... def call_model(messages): ...
    >>> llmtrace.query("SELECT model, sum(cost_usd) FROM llm_calls GROUP BY 1")
"""

from ._config import TracingHandle, configure
from ._instrument import instrument
from ._tracing.context import context
from ._tracing.kinds import SpanSpec, guardrail, judge, llm, retrieval, tool, workflow
from ._tracing.live import LiveSpan, current_span
from .decision import Decision
from .prompts import Prompt
from .store.query import query

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
