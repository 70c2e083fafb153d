"""Issue 2: one @llm call (content off, usage from a dict) into the real store vs a bare
OpenTelemetry span with the same attributes and a BatchSpanProcessor that drops, in one run, as
a ratio."""

from __future__ import annotations

import tempfile
from pathlib import Path

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor

import llmtrace
from llmtrace import semconv as sc
from llmtrace._tracing.runtime import runtime

from .common import DroppingExporter, interleaved, line, per_call_us, then

RESPONSE = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-mini",
    "choices": [{"message": {"content": "Paris."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 30},
}
MESSAGES = [{"role": "user", "content": "Capital of France?"}]


def model_call(messages: object) -> dict[str, object]:
    return RESPONSE


def run(calls: int = 4_000, repeats: int = 31) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as folder:
        return _run(calls, repeats, Path(folder) / "overhead.duckdb")


def _run(calls: int, repeats: int, db: Path) -> dict[str, float]:
    # llmtrace with the real store (its batch processor converts every span, its merger
    # stores them); the bare span on a provider of its own that drops them.
    handle = llmtrace.configure(service_name="bench", db=db, capture_content=False)
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(BatchSpanProcessor(DroppingExporter()))
    tracer = provider.get_tracer("bench")
    prompt = llmtrace.Prompt("answer", template="Q: {q}")
    traced = llmtrace.llm(model="gpt-4o-mini", provider="openai", prompt=prompt)(model_call)
    traced(MESSAGES)  # warm the price lookup
    start_attributes = {
        sc.SPAN_KIND: "llm",
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.GEN_AI_PROMPT_NAME: prompt.name,
        sc.GEN_AI_PROMPT_VERSION: prompt.version,
        sc.PROMPT_HASH: prompt.hash,
    }
    end_attributes = {
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
        sc.GEN_AI_RESPONSE_ID: "chatcmpl-1",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.USAGE_SOURCE: "provider",
        sc.GEN_AI_USAGE_INPUT_TOKENS: 120,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 30,
        sc.COST_USD: 3.6e-05,
        sc.COST_INPUT_USD: 1.8e-05,
        sc.COST_OUTPUT_USD: 1.8e-05,
        sc.PRICING_SOURCE: "genai-prices",
    }

    def bare() -> object:
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=start_attributes) as span:
            result = model_call(MESSAGES)
            span.set_attributes(end_attributes)
            return result

    def disabled() -> float:
        runtime.enabled = False  # what OTEL_SDK_DISABLED=true sets
        try:
            return per_call_us(lambda: traced(MESSAGES), calls)
        finally:
            runtime.enabled = True

    figures = interleaved(
        {
            "bare": then(lambda: per_call_us(bare, calls), provider.force_flush),
            "llmtrace": then(lambda: per_call_us(lambda: traced(MESSAGES), calls), handle.flush),
            "untraced": lambda: per_call_us(lambda: model_call(MESSAGES), calls),
            "disabled": disabled,
        },
        repeats,
    )
    provider.shutdown()
    dropped = sum(handle.dropped_spans.values())
    handle.shutdown()
    ratio = figures["llmtrace"] / figures["bare"]
    print("tracing overhead (issue 2)")
    line("bare OTel span, same attributes, BSP + dropping", f"{figures['bare']:.2f} us/call")
    line("@llmtrace.llm into the real store (content off)", f"{figures['llmtrace']:.2f} us/call")
    line("untraced function", f"{figures['untraced']:.3f} us/call")
    line(
        "@llmtrace.llm with OTEL_SDK_DISABLED=true",
        f"{figures['disabled']:.3f} us/call",
        f"(+{figures['disabled'] - figures['untraced']:.3f} us over untraced)",
    )
    line("ratio llmtrace / bare span", f"{ratio:.2f}x", "(target <= 1.20x)")
    line("  spans dropped by llmtrace (each run is flushed after it)", f"{dropped}", "(target: 0)")
    return {"overhead_ratio": ratio, "dropped": dropped, **figures}


if __name__ == "__main__":
    run()
