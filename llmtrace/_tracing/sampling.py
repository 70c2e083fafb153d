"""The sampler of a provider llmtrace creates when nothing asks for another one.

The SDK's default, ``ParentBased(ALWAYS_ON)``, decides in three Python calls and looks the
parent span up twice (once to choose, once more for its trace state): ~1 us a span here.
:class:`ParentBasedAlwaysOn` is that sampler, with the same decisions, attributes and trace
state, in one call that looks the parent up once (~0.6 us).
"""

from __future__ import annotations

import os
from collections.abc import Sequence

from opentelemetry.context import Context
from opentelemetry.sdk.environment_variables import OTEL_TRACES_SAMPLER
from opentelemetry.sdk.trace.sampling import (
    ALWAYS_ON,
    Decision,
    ParentBased,
    Sampler,
    SamplingResult,
    TraceIdRatioBased,
)
from opentelemetry.trace import Link, SpanKind, TraceState, get_current_span
from opentelemetry.util.types import Attributes

__all__ = ["ParentBasedAlwaysOn", "sampler_for"]

_SAMPLE = Decision.RECORD_AND_SAMPLE


class ParentBasedAlwaysOn(ParentBased):
    """``ParentBased(ALWAYS_ON)``: a root is sampled; a child follows its parent's flag (remote
    or local alike) and keeps its parent's trace state."""

    def __init__(self) -> None:
        super().__init__(ALWAYS_ON)

    def should_sample(
        self,
        parent_context: Context | None,
        trace_id: int,
        name: str,
        kind: SpanKind | None = None,
        attributes: Attributes = None,
        links: Sequence[Link] | None = None,
        trace_state: TraceState | None = None,
    ) -> SamplingResult:
        parent = get_current_span(parent_context).get_span_context()
        if parent is None or not parent.is_valid:
            return SamplingResult(_SAMPLE, attributes, None)
        if parent.trace_flags.sampled:
            return SamplingResult(_SAMPLE, attributes, parent.trace_state)
        return SamplingResult(Decision.DROP, None, parent.trace_state)


def sampler_for(sample_ratio: float) -> Sampler | None:
    """The sampler of a provider llmtrace creates: parent-based on the trace id below a ratio
    of 1; else :class:`ParentBasedAlwaysOn`, unless OTEL_TRACES_SAMPLER names one (None: the
    SDK reads the variable)."""
    if sample_ratio < 1.0:
        return ParentBased(TraceIdRatioBased(sample_ratio))
    if OTEL_TRACES_SAMPLER in os.environ:
        return None
    return ParentBasedAlwaysOn()
