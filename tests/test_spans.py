"""Every span kind as decorator and context manager on sync, async, generator and async
generator functions: names, attributes, nesting, exceptions and streams."""

from __future__ import annotations

import asyncio
import gc
import inspect

import pytest
from opentelemetry import trace

import llmtrace
from llmtrace import semconv as sc

OPENAI_RESPONSE = {
    "id": "chatcmpl-123",
    "object": "chat.completion",
    "model": "gpt-4o-mini-2024-07-18",
    "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "Paris."}, "finish_reason": "stop"}
    ],
    "usage": {"prompt_tokens": 1000, "completion_tokens": 500, "total_tokens": 1500},
}


def test_llm_decorator_records_prompt_usage_and_cost(spans):
    prompt = llmtrace.Prompt("answer", template="Answer briefly: {question}")

    @llmtrace.llm(model="gpt-4o-mini", provider="openai", prompt=prompt, temperature=0.2)
    def call_model(messages):
        return OPENAI_RESPONSE

    assert call_model([{"role": "user", "content": "Capital of France?"}]) is OPENAI_RESPONSE
    [record] = spans.records()
    attrs = record["attributes"]
    assert record["name"] == "chat gpt-4o-mini"
    assert attrs[sc.SPAN_KIND] == "llm"
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert attrs[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert attrs[sc.GEN_AI_PROMPT_NAME] == "answer"
    assert attrs[sc.GEN_AI_PROMPT_VERSION] == prompt.version
    assert attrs[sc.PROMPT_HASH] == prompt.hash
    assert attrs[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-mini-2024-07-18"
    assert attrs[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-123"
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 1000
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 500
    assert attrs[sc.USAGE_SOURCE] == "provider"
    # gpt-4o-mini: $0.15 / $0.60 per million tokens.
    assert attrs[sc.COST_INPUT_USD] == pytest.approx(0.00015)
    assert attrs[sc.COST_OUTPUT_USD] == pytest.approx(0.0003)
    assert attrs[sc.COST_USD] == pytest.approx(0.00045)
    assert attrs[sc.PRICING_SOURCE].startswith("genai-prices ")
    # Content is off by default.
    assert sc.GEN_AI_INPUT_MESSAGES not in attrs and sc.GEN_AI_OUTPUT_MESSAGES not in attrs


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


def test_nesting_workflow_tool_retrieval_guardrail(spans):
    @llmtrace.tool("lookup_order", call_id="call_1")
    def lookup_order(order_id):
        return {"status": "shipped"}

    class Doc:
        def __init__(self, id):
            self.id = id

    @llmtrace.retrieval(index="kb", index_version="2026-11-01")
    def search(query):
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

    assert handle("where is my order?") == "done"
    by_name = {r["name"]: r for r in spans.records()}
    root = by_name["invoke_workflow handle_ticket"]
    assert root["parent_span_id"] is None
    assert root["attributes"][sc.GEN_AI_WORKFLOW_NAME] == "handle_ticket"
    for name in (
        "retrieval kb",
        "execute_tool lookup_order",
        "guardrail pii",
        "guardrail toxicity",
    ):
        assert by_name[name]["parent_span_id"] == root["span_id"]
        assert by_name[name]["trace_id"] == root["trace_id"]
    assert by_name["retrieval kb"]["attributes"][sc.RETRIEVAL_DOCUMENT_IDS] == ("d1", "7", "d3")
    assert by_name["retrieval kb"]["attributes"][sc.RETRIEVAL_INDEX_VERSION] == "2026-11-01"
    assert by_name["retrieval kb"]["attributes"][sc.GEN_AI_DATA_SOURCE_ID] == "kb"
    tool = by_name["execute_tool lookup_order"]["attributes"]
    assert tool[sc.GEN_AI_TOOL_NAME] == "lookup_order" and tool[sc.GEN_AI_TOOL_CALL_ID] == "call_1"
    pii_attrs = by_name["guardrail pii"]["attributes"]
    assert pii_attrs[sc.GUARDRAIL_ACTION] == "block"
    assert pii_attrs[sc.GUARDRAIL_SCORE] == 0.93
    assert pii_attrs[sc.GUARDRAIL_REASON] == "email address"
    assert pii_attrs[sc.GUARDRAIL_VERSION] == "3"
    assert by_name["guardrail toxicity"]["attributes"][sc.GUARDRAIL_ACTION] == "allow"


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


def test_exception_is_recorded_and_reraised_unchanged(spans):
    error = ValueError("boom")

    @llmtrace.tool("explode")
    def explode():
        raise error

    with pytest.raises(ValueError) as caught:
        explode()
    assert caught.value is error
    [span] = spans.spans()
    assert span.status.status_code.name == "ERROR"
    assert span.status.description == "ValueError: boom"
    [event] = span.events
    assert event.name == "exception"
    assert event.attributes["exception.type"] == "ValueError"


async def test_coroutine_decorator_and_async_context_manager(spans):
    @llmtrace.llm(model="claude-sonnet-4-5", provider="anthropic")
    async def call(messages):
        await asyncio.sleep(0)
        return {
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

    assert inspect.iscoroutinefunction(call)
    async with llmtrace.workflow("async_flow"):
        await call("hello")
    by_name = {r["name"]: r for r in spans.records()}
    llm_attrs = by_name["chat claude-sonnet-4-5"]["attributes"]
    assert llm_attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 120  # cache reads added back
    assert llm_attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 100
    assert llm_attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("end_turn",)
    assert (
        by_name["chat claude-sonnet-4-5"]["parent_span_id"]
        == by_name["invoke_workflow async_flow"]["span_id"]
    )


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


def test_generator_stream_records_ttft_and_final_usage_chunk(spans):
    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def stream(messages):
        yield from _chunks()

    chunks = list(stream("hi"))
    assert len(chunks) == 3
    attrs = spans.records()[0]["attributes"]
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == 12
    assert attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == 2
    assert attrs[sc.USAGE_SOURCE] == "provider"
    assert attrs[sc.STREAM_TTFT_MS] >= 0
    assert attrs[sc.STREAM_CHUNKS] == 3
    assert attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


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


def test_context_manager_exception(spans):
    with pytest.raises(ZeroDivisionError), llmtrace.tool("calc"):
        1 / 0  # noqa: B018
    assert spans.spans()[0].status.status_code.name == "ERROR"


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
