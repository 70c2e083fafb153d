"""Shared benchmark helpers: interleaved repeats and medians, so noise hits both sides."""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult


class DroppingExporter(SpanExporter):
    """Accepts every batch and keeps nothing: the cost of the SDK alone."""

    def __init__(self) -> None:
        self.count = 0

    def export(self, spans: list[ReadableSpan]) -> SpanExportResult:  # type: ignore[override]
        self.count += len(spans)
        return SpanExportResult.SUCCESS

    def shutdown(self) -> None:
        pass


def per_call_us(fn: Callable[[], object], calls: int) -> float:
    """Mean microseconds per call over ``calls`` calls. The cyclic GC stays on (real
    applications run with it, and whoever allocates more pays for it), but each run starts
    from a collected heap so one side does not inherit the other's garbage."""
    gc.collect()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls * 1e6


def then(run: Callable[[], float], after: Callable[[], object]) -> Callable[[], float]:
    """A candidate that calls ``after`` once it has been timed: a flush, so each timed run
    starts with empty queues and no span is dropped for lack of room (a dropped span costs
    less than a stored one, which would flatter the side that drops)."""

    def candidate() -> float:
        figure = run()
        after()
        return figure

    return candidate


def interleaved(candidates: dict[str, Callable[[], float]], repeats: int) -> dict[str, float]:
    """Median of ``repeats`` alternating runs of each candidate (each returns a figure)."""
    results: dict[str, list[float]] = {name: [] for name in candidates}
    for _ in range(repeats):
        for name, run in candidates.items():
            results[name].append(run())
    return {name: statistics.median(values) for name, values in results.items()}


def line(label: str, value: str, target: str = "") -> None:
    print(f"  {label:<58} {value:>18}  {target}")
