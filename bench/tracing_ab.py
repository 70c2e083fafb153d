"""Same-run A/B of the decorator hot path: ``_tracing/spec.py`` and ``_tracing/streams.py`` as
they were at a commit, loaded beside today's, wrapping the same function with the same spec.

    python -m bench.tracing_ab COMMIT [REPEATS] [--noop] [--stream]

Both sides share one TracerProvider (BatchSpanProcessor, dropping exporter) and today's
LiveSpan, so only the wrappers differ. Figures are the calling thread's CPU time per call
(other processes on a shared machine do not count), medians of interleaved repeats.
``--noop``: spans from the no-op tracer, i.e. the wrappers' own cost. ``--stream``: a
100-chunk generator under ``@llm``, per stream. Not part of ``make bench``: it compares code.
"""

from __future__ import annotations

import gc
import subprocess
import sys
import time
import types
from collections.abc import Callable
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import llmtrace
from llmtrace._tracing.runtime import runtime

from .common import DroppingExporter, interleaved
from .tracing_overhead import MESSAGES, model_call

CHUNK = {"choices": [{"delta": {"content": "x"}}]}


def cpu_us(fn: Callable[[], object], calls: int) -> float:
    gc.collect()
    start = time.thread_time()
    for _ in range(calls):
        fn()
    return (time.thread_time() - start) / calls * 1e6


def _timer(fn: Callable[[Any], object], arg: object, calls: int) -> Callable[[], float]:
    return lambda: cpu_us(lambda: fn(arg), calls)


def _drain(stream: Callable[[object], Any]) -> Callable[[object], object]:
    return lambda messages: list(stream(messages))


def _load(commit: str, name: str, path: str, replace: tuple[tuple[str, str], ...] = ()) -> Any:
    source = subprocess.check_output(["git", "show", f"{commit}:{path}"], text=True)
    for old, new in replace:
        source = source.replace(old, new)
    module = types.ModuleType(f"llmtrace._tracing.{name}")
    module.__package__ = "llmtrace._tracing"
    sys.modules[module.__name__] = module
    exec(compile(source, path, "exec"), module.__dict__)
    return module


def _provider() -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
    return provider


def _stream(messages: object) -> Any:
    for _ in range(100):
        yield CHUNK


def main(argv: list[str]) -> None:
    commit = argv[0] if argv else "HEAD"
    repeats = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else 31
    _load(commit, "_old_streams", "llmtrace/_tracing/streams.py")
    old_spec = _load(
        commit,
        "_old_spec",
        "llmtrace/_tracing/spec.py",
        (("from .streams import", "from ._old_streams import"),),
    )
    provider = _provider()
    runtime.tracer = trace.NoOpTracer() if "--noop" in argv else provider.get_tracer("llmtrace")
    runtime.capture_content = False
    new_llm = llmtrace.llm(model="gpt-4o-mini", provider="openai")
    new_wf = llmtrace.workflow("wf")
    sides = {
        "new": (new_llm, new_wf),
        "old": tuple(
            old_spec.SpanSpec(s.kind, s.span_name, s.start_attributes, s.model, s.provider)
            for s in (new_llm, new_wf)
        ),
    }
    candidates: dict[str, Callable[[], float]] = {}
    for side, (llm_spec, wf_spec) in sides.items():
        traced, plain = llm_spec(model_call), wf_spec(model_call)
        traced(MESSAGES)
        candidates[f"llm {side}"] = _timer(traced, MESSAGES, 3000)
        candidates[f"workflow {side}"] = _timer(plain, MESSAGES, 3000)
        if "--stream" in argv:
            streamed: Callable[[object], Any] = llm_spec(_stream)
            candidates[f"stream {side}"] = _timer(_drain(streamed), "hi", 100)
    figures = interleaved(candidates, repeats)
    provider.shutdown()
    for what in ("llm", "workflow", "stream"):
        if f"{what} new" in figures:
            new, old = figures[f"{what} new"], figures[f"{what} old"]
            print(f"{what:<9} {old:8.2f} -> {new:8.2f} us   new/old {new / old:.3f}x")


if __name__ == "__main__":
    main(sys.argv[1:])
