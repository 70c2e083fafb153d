"""Every span kind as decorator and context manager on sync, async, generator and async
generator functions: names, attributes, nesting, exceptions and streams."""

from __future__ import annotations

import asyncio
import gc
import inspect
from importlib.metadata import version
from typing import Any

import pytest
from opentelemetry import trace

import llmtrace
from llmtrace import semconv as sc
from llmtrace.testing import FakeClock, capture_spans

OPENAI_RESPONSE = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
}
ANTHROPIC_RESPONSE = {
    "id": "msg_1",
    "type": "message",
    "model": "claude-sonnet-4-5",
    "content": [{"type": "text", "text": "hi"}],
    "stop_reason": "end_turn",
    "usage": {
        "input_tokens": 20,
        "output_tokens": 5,
        "cache_read_input_tokens": 100,
        "cache_creation_input_tokens": 0,
    },
}
PRICED_GPT_4O_MINI = f"genai-prices {version('genai-prices')}:openai/gpt-4o-mini"
MS = 1_000_000  # nanoseconds


def record(
    name: str,
    span_id: int,
    attributes: dict[str, Any],
    *,
    parent: int | None = None,
    trace_id: int = 1,
    start_ms: float = 0,
    end_ms: float = 0,
    status: str = "UNSET",
    events: list[Any] | None = None,
) -> dict[str, Any]:
    """One whole span record as ``CapturedSpans.records()`` gives it under a FakeClock."""
    return {
        "name": name,
        "trace_id": trace_id,
        "span_id": span_id,
        "parent_span_id": parent,
        "status": status,
        "attributes": attributes,
        "events": events or [],
        "start_ns": round(start_ms * MS),
        "end_ns": round(end_ms * MS),
    }


def short_tracebacks(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Records with each exception event's stack trace cut to its last line (the trace names
    file lines, which are not what a span test specifies)."""
    for r in records:
        for _, attributes in r["events"]:
            if "exception.stacktrace" in attributes:
                attributes["exception.stacktrace"] = attributes["exception.stacktrace"].split("\n")[
                    -2
                ]
    return records


def exception_event(exc: BaseException) -> tuple[str, dict[str, str]]:
    return (
        "exception",
        {
            "exception.type": type(exc).__name__,
            "exception.message": str(exc),
            "exception.stacktrace": f"{type(exc).__name__}: {exc}",
            "exception.escaped": "True",
        },
    )


def test_llm_decorator_records_prompt_usage_and_cost(timed_spans, clock):
    prompt = llmtrace.Prompt("answer", template="Answer briefly: {question}")

    @llmtrace.llm(model="gpt-4o-mini", provider="openai", prompt=prompt, temperature=0.2)
    def call_model(messages):
        clock.advance(0.25)
        return OPENAI_RESPONSE

    assert call_model([{"role": "user", "content": "Capital of France?"}]) is OPENAI_RESPONSE
    # gpt-4o-mini: $0.15 / $0.60 per million tokens. Content is off by default.
    llm_attributes = {
        sc.SPAN_KIND: "llm",
        sc.GEN_AI_OPERATION_NAME: "chat",
        sc.GEN_AI_PROVIDER_NAME: "openai",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
        sc.GEN_AI_REQUEST_TEMPERATURE: 0.2,
        sc.GEN_AI_PROMPT_NAME: "answer",
        sc.GEN_AI_PROMPT_VERSION: prompt.version,
        sc.PROMPT_HASH: prompt.hash,
        sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini-2024-07-18",
        sc.GEN_AI_RESPONSE_ID: "chatcmpl-123",
        sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
        sc.GEN_AI_USAGE_INPUT_TOKENS: 1000,
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: 500,
        sc.USAGE_SOURCE: "provider",
        sc.COST_INPUT_USD: 0.00015,
        sc.COST_OUTPUT_USD: 0.0003,
        sc.COST_USD: 0.00045,
        sc.PRICING_SOURCE: PRICED_GPT_4O_MINI,
    }
    assert timed_spans.records() == [record("chat gpt-4o-mini", 1, llm_attributes, end_ms=250)]


def test_operation_provider_model_are_set_at_span_start(spans):
    seen = {}

    @llmtrace.llm(model="gpt-4o", provider="openai")
    def call():
        span = trace.get_current_span()
        seen.update(span.attributes)
        return "ok"

    call()
    assert seen[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert seen[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert seen[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o"


def test_usage_is_estimated_with_tiktoken_when_response_has_none(spans):
    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call(messages):
        return "The capital of France is Paris."

    call([{"role": "user", "content": "What is the capital of France?"}])
    attrs = spans.records()[0]["attributes"]
    assert attrs[sc.USAGE_SOURCE] == "estimate"
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == llmtrace.tokens.count_tokens(
        "What is the capital of France?", "gpt-4o-mini"
    )
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == llmtrace.tokens.count_tokens(
        "The capital of France is Paris.", "gpt-4o-mini"
    )


def _ticket_handler(clock: FakeClock) -> Any:
    """A workflow calling retrieval (20 ms), a tool (10 ms) and two guardrails (instant)."""

    @llmtrace.tool("lookup_order", call_id="call_1")
    def lookup_order(order_id):
        clock.advance(0.01)
        return {"status": "shipped"}

    class Doc:
        def __init__(self, id):
            self.id = id

    @llmtrace.retrieval(index="kb", index_version="2026-11-01")
    def search(query):
        clock.advance(0.02)
        return [{"id": "d1", "text": "x"}, Doc(7), "d3"]

    @llmtrace.guardrail(policy="pii", version="3")
    def pii(text):
        return llmtrace.Decision(action="block", score=0.93, reason="email address")

    @llmtrace.guardrail(policy="toxicity")
    def toxicity(text):
        return True

    @llmtrace.workflow("handle_ticket")
    def handle(question):
        search(question)
        lookup_order(42)
        pii(question)
        toxicity(question)
        return "done"

    return handle


_GUARDRAIL = {sc.SPAN_KIND: "guardrail", sc.GEN_AI_OPERATION_NAME: "guardrail"}
# name: (span id, start ms, end ms, attributes), in finishing order; the workflow is span 1.
_TICKET_SPANS: dict[str, tuple[int, float, float, dict[str, Any]]] = {
    "retrieval kb": (2, 0, 20, {
        sc.SPAN_KIND: "retrieval",
        sc.GEN_AI_OPERATION_NAME: "retrieval",
        sc.GEN_AI_DATA_SOURCE_ID: "kb",
        sc.RETRIEVAL_INDEX: "kb",
        sc.RETRIEVAL_INDEX_VERSION: "2026-11-01",
        sc.RETRIEVAL_DOCUMENT_IDS: ("d1", "7", "d3"),
    }),
    "execute_tool lookup_order": (3, 20, 30, {
        sc.SPAN_KIND: "tool",
        sc.GEN_AI_OPERATION_NAME: "execute_tool",
        sc.GEN_AI_TOOL_NAME: "lookup_order",
        sc.GEN_AI_TOOL_CALL_ID: "call_1",
    }),
    "guardrail pii": (4, 30, 30, {
        **_GUARDRAIL,
        sc.GUARDRAIL_POLICY: "pii",
        sc.GUARDRAIL_VERSION: "3",
        sc.GUARDRAIL_ACTION: "block",
        sc.GUARDRAIL_SCORE: 0.93,
        sc.GUARDRAIL_REASON: "email address",
    }),
    "guardrail toxicity": (5, 30, 30, {
        **_GUARDRAIL, sc.GUARDRAIL_POLICY: "toxicity", sc.GUARDRAIL_ACTION: "allow"
    }),
}  # fmt: skip


def test_nesting_workflow_tool_retrieval_guardrail(timed_spans, clock):
    assert _ticket_handler(clock)("where is my order?") == "done"
    children = [
        record(name, span_id, attributes, parent=1, start_ms=start, end_ms=end)
        for name, (span_id, start, end, attributes) in _TICKET_SPANS.items()
    ]
    workflow = {
        sc.SPAN_KIND: "workflow",
        sc.GEN_AI_OPERATION_NAME: "invoke_workflow",
        sc.GEN_AI_WORKFLOW_NAME: "handle_ticket",
    }
    root = record("invoke_workflow handle_ticket", 1, workflow, end_ms=30)
    assert timed_spans.records() == [*children, root]


def test_judge_score_lands_as_evaluation_event_on_judged_span(spans):
    @llmtrace.judge(model="gpt-4o", version="helpful-v2")
    def helpful(answer):
        return {"score": 0.75, "label": "good", "explanation": "mostly right"}

    with llmtrace.llm(model="gpt-4o-mini", provider="openai") as span:
        span.set_usage(input_tokens=10, output_tokens=2)
        helpful("Paris")

    by_name = {r["name"]: r for r in spans.records()}
    judge = by_name["judge helpful"]  # named after the function, like evals.judge
    assert judge["attributes"][sc.JUDGE_MODEL] == "gpt-4o"
    assert judge["attributes"][sc.JUDGE_VERSION] == "helpful-v2"
    judged = by_name["chat gpt-4o-mini"]
    assert judged["events"] == [
        (
            sc.GEN_AI_EVALUATION_RESULT_EVENT,
            {
                sc.GEN_AI_EVALUATION_NAME: "helpful",
                sc.GEN_AI_EVALUATION_SCORE_VALUE: 0.75,
                sc.GEN_AI_EVALUATION_SCORE_LABEL: "good",
                sc.GEN_AI_EVALUATION_EXPLANATION: "mostly right",
            },
        )
    ]


def test_exception_is_recorded_and_reraised_unchanged(timed_spans, clock):
    error = ValueError("boom")

    @llmtrace.tool("explode")
    def explode():
        clock.advance(0.005)
        raise error

    with pytest.raises(ValueError) as caught:
        explode()
    assert caught.value is error
    tool = {sc.SPAN_KIND: "tool", sc.GEN_AI_OPERATION_NAME: "execute_tool"}
    assert short_tracebacks(timed_spans.records()) == [
        record(
            "execute_tool explode",
            1,
            {**tool, sc.GEN_AI_TOOL_NAME: "explode"},
            status="ERROR",
            end_ms=5,
            events=[exception_event(error)],
        )
    ]
    assert timed_spans.spans()[0].status.description == "ValueError: boom"


async def test_coroutine_decorator_and_async_context_manager(timed_spans, clock):
    @llmtrace.llm(model="claude-sonnet-4-5", provider="anthropic")
    async def call(messages):
        await asyncio.sleep(0)
        clock.advance(0.4)
        return ANTHROPIC_RESPONSE

    assert inspect.iscoroutinefunction(call)
    async with llmtrace.workflow("async_flow"):
        clock.advance(0.1)
        await call("hello")
    [llm_record, workflow_record] = timed_spans.records()
    claude = f"genai-prices {version('genai-prices')}:anthropic/claude-sonnet-4-5"
    assert [llm_record, workflow_record] == [
        record(
            "chat claude-sonnet-4-5",
            2,
            {
                sc.SPAN_KIND: "llm",
                sc.GEN_AI_OPERATION_NAME: "chat",
                sc.GEN_AI_PROVIDER_NAME: "anthropic",
                sc.GEN_AI_REQUEST_MODEL: "claude-sonnet-4-5",
                sc.GEN_AI_RESPONSE_MODEL: "claude-sonnet-4-5",
                sc.GEN_AI_RESPONSE_ID: "msg_1",
                sc.GEN_AI_RESPONSE_FINISH_REASONS: ("end_turn",),
                sc.GEN_AI_USAGE_INPUT_TOKENS: 120,  # cache reads added back
                sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: 100,
                sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: 0,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: 5,
                sc.USAGE_SOURCE: "provider",
                # $3 per million input tokens, $0.30 cached, $15 output
                sc.COST_INPUT_USD: 9e-05,  # 20 * 3e-6 + 100 * 0.3e-6
                sc.COST_OUTPUT_USD: 7.5e-05,  # 5 * 15e-6
                sc.COST_USD: 0.000165,
                sc.PRICING_SOURCE: claude,
            },
            parent=1,
            start_ms=100,
            end_ms=500,
        ),
        record(
            "invoke_workflow async_flow",
            1,
            {
                sc.SPAN_KIND: "workflow",
                sc.GEN_AI_OPERATION_NAME: "invoke_workflow",
                sc.GEN_AI_WORKFLOW_NAME: "async_flow",
            },
            end_ms=500,
        ),
    ]


async def test_async_exception_recorded(spans):
    @llmtrace.workflow("failing")
    async def failing():
        raise KeyError("k")

    with pytest.raises(KeyError):
        await failing()
    assert spans.spans()[0].status.status_code.name == "ERROR"


def test_functools_wraps_semantics(spans):
    @llmtrace.tool("documented")
    def documented(a: int, b: int = 2) -> int:
        """Adds."""
        return a + b

    assert documented.__name__ == "documented"
    assert documented.__doc__ == "Adds."
    assert inspect.signature(documented) == inspect.signature(documented.__wrapped__)
    assert documented(1) == 3


def test_bare_decorator_forms(spans):
    @llmtrace.workflow
    def flow():
        return helper()

    @llmtrace.tool
    def helper():
        return bare_llm("x")

    @llmtrace.llm
    def bare_llm(prompt):
        return "y"

    assert flow() == "y"
    names = [r["name"] for r in spans.records()]
    assert names == ["chat", "execute_tool helper", "invoke_workflow flow"]


def _chunks():
    yield {"id": "c1", "model": "gpt-4o-mini", "choices": [{"delta": {"content": "Hel"}}]}
    yield {
        "id": "c1",
        "model": "gpt-4o-mini",
        "choices": [{"delta": {"content": "lo"}, "finish_reason": "stop"}],
    }
    yield {
        "id": "c1",
        "model": "gpt-4o-mini",
        "choices": [],
        "usage": {"prompt_tokens": 12, "completion_tokens": 2},
    }


def test_generator_stream_records_ttft_and_final_usage_chunk(timed_spans, clock):
    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def stream(messages):
        clock.advance(0.3)  # before the first chunk: the time to first token
        for chunk in _chunks():
            clock.advance(0.05)
            yield chunk

    chunks = list(stream("hi"))
    assert len(chunks) == 3
    assert timed_spans.records() == [
        record(
            "chat gpt-4o-mini",
            1,
            {
                sc.SPAN_KIND: "llm",
                sc.GEN_AI_OPERATION_NAME: "chat",
                sc.GEN_AI_PROVIDER_NAME: "openai",
                sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                sc.GEN_AI_RESPONSE_MODEL: "gpt-4o-mini",
                sc.GEN_AI_RESPONSE_ID: "c1",
                sc.GEN_AI_RESPONSE_FINISH_REASONS: ("stop",),
                sc.GEN_AI_USAGE_INPUT_TOKENS: 12,
                sc.GEN_AI_USAGE_OUTPUT_TOKENS: 2,
                sc.USAGE_SOURCE: "provider",
                sc.STREAM_TTFT_MS: 350.0,
                sc.STREAM_CHUNKS: 3,
                sc.COST_INPUT_USD: 12 * 0.15 / 1e6,
                sc.COST_OUTPUT_USD: 2 * 0.6 / 1e6,
                sc.COST_USD: 12 * 0.15 / 1e6 + 2 * 0.6 / 1e6,
                sc.PRICING_SOURCE: PRICED_GPT_4O_MINI,
            },
            end_ms=450,
        )
    ]


def test_stream_returned_by_plain_function_stays_open(spans):
    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def create(messages, stream=True):
        return iter(list(_chunks()))  # like client.chat.completions.create(stream=True)

    iterator = create("hi")
    assert spans.spans() == []  # still open while the stream is consumed
    assert len(list(iterator)) == 3
    assert spans.records()[0]["attributes"][sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2


def test_generator_break_close_and_gc_end_span_without_leaking_context(spans):
    @llmtrace.llm(model="gpt-4o-mini")
    def stream():
        yield from _chunks()

    outer = trace.get_current_span()
    for _chunk in stream():
        assert trace.get_current_span() is outer  # not attached across the yield
        break
    gc.collect()
    assert len(spans.spans()) == 1

    it = stream()
    next(it)
    it.close()
    assert len(spans.spans()) == 2

    it = stream()
    next(it)
    del it
    gc.collect()
    assert len(spans.spans()) == 3
    assert all(s.status.status_code.name == "UNSET" for s in spans.spans())
    assert trace.get_current_span() is outer


def test_exception_mid_stream(spans):
    @llmtrace.llm(model="gpt-4o-mini")
    def stream():
        yield "a"
        raise RuntimeError("connection reset")

    it = stream()
    assert next(it) == "a"
    with pytest.raises(RuntimeError, match="connection reset"):
        next(it)
    [span] = spans.spans()
    assert span.status.status_code.name == "ERROR"


def test_child_spans_inside_a_generator_parent_to_the_stream_span(spans):
    @llmtrace.tool("inner")
    def inner():
        return 1

    @llmtrace.workflow("streaming_flow")
    def flow():
        for _ in range(2):
            yield inner()

    assert list(flow()) == [1, 1]
    by_name = {}
    for r in spans.records():
        by_name.setdefault(r["name"], []).append(r)
    root = by_name["invoke_workflow streaming_flow"][0]
    assert [r["parent_span_id"] for r in by_name["execute_tool inner"]] == [root["span_id"]] * 2


async def test_async_generator_full_aclose_break_and_error(spans):
    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    async def stream():
        for chunk in _chunks():
            await asyncio.sleep(0)
            yield chunk

    assert len([c async for c in stream()]) == 3
    attrs = spans.records()[0]["attributes"]
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12 and attrs[sc.STREAM_TTFT_MS] >= 0

    it = stream()
    await it.__anext__()
    await it.aclose()
    assert len(spans.spans()) == 2

    async for _ in stream():
        break
    gc.collect()
    assert len(spans.spans()) == 3

    @llmtrace.llm(model="gpt-4o-mini")
    async def broken():
        yield "a"
        raise ConnectionError("reset")

    with pytest.raises(ConnectionError):
        async for _ in broken():
            pass
    assert spans.spans()[-1].status.status_code.name == "ERROR"


def test_context_manager_record_response_and_chunks(spans):
    with llmtrace.llm(model="gpt-4o-mini", provider="openai") as span:
        span.record_response(OPENAI_RESPONSE)
    with llmtrace.llm(model="gpt-4o-mini", provider="openai") as span:
        for chunk in _chunks():
            span.record_chunk(chunk)
    first, second = spans.records()
    assert first["attributes"][sc.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    assert second["attributes"][sc.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert sc.STREAM_TTFT_MS in second["attributes"]


def test_context_manager_exception(timed_spans, clock):
    with pytest.raises(ZeroDivisionError) as caught, llmtrace.tool("calc"):
        clock.advance(0.002)
        1 / 0  # noqa: B018
    tool = {sc.SPAN_KIND: "tool", sc.GEN_AI_OPERATION_NAME: "execute_tool"}
    assert short_tracebacks(timed_spans.records()) == [
        record(
            "execute_tool calc",
            1,
            {**tool, sc.GEN_AI_TOOL_NAME: "calc"},
            status="ERROR",
            end_ms=2,
            events=[exception_event(caught.value)],
        )
    ]


def _twin_calls(clock: FakeClock, fail: bool) -> tuple[Any, Any]:
    """The same llm call written sync and async: 50 ms, then a response or an error."""

    def body(messages):
        clock.advance(0.05)
        if fail:
            raise TimeoutError("provider timed out")
        return OPENAI_RESPONSE

    async def async_body(messages):
        return body(messages)

    spec = {"model": "gpt-4o-mini", "provider": "openai", "temperature": 0}
    return llmtrace.llm(**spec)(body), llmtrace.llm(**spec)(async_body)


@pytest.mark.parametrize("fail", [False, True], ids=["returns", "raises"])
def test_sync_and_async_calls_make_the_same_records(fail):
    """One scope for both paths: a coroutine's span is the sync call's span, record for record
    (time, attributes, status, events), whether the call returns or raises."""
    made = []
    for use_async in (False, True):
        clock = FakeClock()
        sync_call, async_call = _twin_calls(clock, fail)
        with capture_spans(clock=clock) as captured:
            try:
                if use_async:
                    asyncio.run(async_call([{"role": "user", "content": "hi"}]))
                else:
                    sync_call([{"role": "user", "content": "hi"}])
            except TimeoutError:
                assert fail
        made.append(short_tracebacks(captured.records()))
    sync_records, async_records = made
    assert sync_records == async_records
    assert [(r["status"], r["end_ns"]) for r in sync_records] == [
        ("ERROR" if fail else "UNSET", 50 * MS)
    ]


def test_current_span_handle_inside_decorated_function(spans):
    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call(prompt):
        llmtrace.current_span().set_usage(input_tokens=7, output_tokens=3)
        return "text without usage"

    call("x")
    attrs = spans.records()[0]["attributes"]
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 7
    assert attrs[sc.USAGE_SOURCE] == "provider"


def test_internal_failure_never_reaches_the_application(spans, monkeypatch, caplog):
    monkeypatch.delenv("LLMTRACE_RAISE_INTERNAL_ERRORS")

    def broken_reader(*args, **kwargs):
        raise RuntimeError("a bug in llmtrace's response reader")

    # A hostile response object is read as "no usage" (test_instrument_return_values); a bug
    # of llmtrace's own is what this checks.
    monkeypatch.setattr("llmtrace._tracing.live.read_response", broken_reader)
    result = object()

    @llmtrace.llm(model="gpt-4o-mini")
    def call():
        return result

    assert call() is result
    assert len(spans.spans()) == 1
    assert "your code still ran" in caplog.text


def test_sdk_disabled_is_a_pass_through(spans):
    from llmtrace._tracing.runtime import runtime

    runtime.enabled = False
    try:

        @llmtrace.llm(model="gpt-4o-mini")
        def call(x):
            return x * 2

        assert call(21) == 42
        with llmtrace.tool("t") as span:
            span.set_attribute("a", 1)
    finally:
        runtime.enabled = True
    assert spans.spans() == []


def test_unknown_model_costs_null_with_one_warning(spans, caplog):
    @llmtrace.llm(model="my-private-model-xyz", provider="acme")
    def call():
        return {"usage": {"prompt_tokens": 5, "completion_tokens": 5}}

    call()
    call()
    for record in spans.records():
        assert sc.COST_USD not in record["attributes"]
        assert record["attributes"][sc.GEN_AI_USAGE_INPUT_TOKENS] == 5
    assert caplog.text.count("no price known for model 'my-private-model-xyz'") == 1


def test_finished_spans_are_freed_without_the_cyclic_gc(spans):
    import weakref

    gc.disable()
    try:
        with llmtrace.tool("short-lived") as live:
            ref = weakref.ref(live.span)
        del live
        spans.clear()
        assert ref() is None
    finally:
        gc.enable()
