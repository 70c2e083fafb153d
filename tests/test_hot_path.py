"""The decorators' hot path (#19): what it skips on every span still happens where it matters."""

from __future__ import annotations

import contextvars
import os
import threading
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.context import Context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor, TracerProvider
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

import llmtrace
from llmtrace import semconv as sc
from llmtrace._tracing.processors import (
    ContextStampingProcessor,
    CountingBatchSpanProcessor,
    Pipeline,
    _does_nothing,
)
from llmtrace.testing import capture_spans


class _Recording(SpanProcessor):
    def __init__(self) -> None:
        self.started: list[str] = []
        self.ended: list[str] = []

    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        self.started.append(span.name)

    def on_end(self, span: ReadableSpan) -> None:
        self.ended.append(span.name)


class _Quiet(SpanProcessor):
    def on_start(self, span: Span, parent_context: Context | None = None) -> None:
        """Documented, and does nothing."""

    def on_end(self, span: ReadableSpan) -> None:
        return None


def test_does_nothing_tells_empty_methods_from_working_ones() -> None:
    quiet, recording = _Quiet(), _Recording()
    assert _does_nothing(quiet.on_start) and _does_nothing(quiet.on_end)
    assert not _does_nothing(recording.on_start) and not _does_nothing(recording.on_end)
    assert _does_nothing(SpanProcessor().on_start)
    assert not _does_nothing(ContextStampingProcessor().on_start)
    assert _does_nothing(ContextStampingProcessor().on_end)
    assert not _does_nothing(print)  # no Python code: called, never guessed
    assert not _does_nothing(lambda span: span.end())


def _documented_returning_text() -> str:
    """Same bytecode as a documented empty body, but returns its second constant."""
    return "text"


async def _async_pass() -> None:
    pass


def test_does_nothing_is_not_fooled_by_bodies_that_look_empty() -> None:
    assert not _does_nothing(_documented_returning_text)
    assert not _does_nothing(_async_pass)  # calling it makes a coroutine
    assert not _does_nothing(lambda: None or print)  # looks a name up


def test_pipeline_calls_only_the_children_that_do_something() -> None:
    exporter_side = CountingBatchSpanProcessor(_DropAll())
    try:
        assert _does_nothing(exporter_side.on_start)  # the SDK batch processor's is a pass
        recording = _Recording()
        pipeline = Pipeline()
        pipeline.replace((ContextStampingProcessor(), _Quiet(), exporter_side, recording))
        assert pipeline._on_start == (
            pipeline.children[0].on_start,
            recording.on_start,
        )
        assert pipeline._on_end == (exporter_side.on_end, recording.on_end)
        provider = TracerProvider()
        provider.add_span_processor(pipeline)
        with provider.get_tracer("t").start_as_current_span("one"):
            pass
        assert recording.started == recording.ended == ["one"]
        pipeline.replace((recording,))  # swapping the children swaps what is called
        with provider.get_tracer("t").start_as_current_span("two"):
            pass
        assert recording.started == ["one", "two"]
    finally:
        exporter_side.shutdown()


class _DropAll(SpanExporter):
    def export(self, spans: Any) -> SpanExportResult:
        return SpanExportResult.SUCCESS


def test_kinds_still_record_what_their_function_returned() -> None:
    with capture_spans() as spans:

        @llmtrace.workflow("flow")
        def flow() -> list[str]:
            search("q")
            check("text")
            return ["not", "read"]

        @llmtrace.retrieval(index="kb")
        def search(query: str) -> list[dict[str, str]]:
            return [{"id": "d1"}, {"id": "d2"}]

        @llmtrace.guardrail(policy="pii")
        def check(text: str) -> bool:
            return False

        flow()
    retrieval = dict(spans.by_name("retrieval kb").attributes or {})
    assert retrieval[sc.RETRIEVAL_DOCUMENT_IDS] == ("d1", "d2")
    assert dict(spans.by_name("guardrail pii").attributes or {})[sc.GUARDRAIL_ACTION] == "block"
    workflow = dict(spans.by_name("invoke_workflow flow").attributes or {})
    assert workflow == {
        sc.SPAN_KIND: sc.KIND_WORKFLOW,
        sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
        sc.GEN_AI_WORKFLOW_NAME: "flow",
    }


class _Counting(SpanExporter):
    def __init__(self) -> None:
        self.names: list[str] = []
        self.exported = threading.Event()

    def export(self, spans: Any) -> SpanExportResult:
        self.names.extend(span.name for span in spans)
        self.exported.set()
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def _ended(provider: TracerProvider, *names: str) -> None:
    tracer = provider.get_tracer("t")
    for name in names:
        tracer.start_span(name).end()


def test_spans_are_queued_without_asking_the_process_id(monkeypatch: Any) -> None:
    exporter = _Counting()
    processor = CountingBatchSpanProcessor(exporter, schedule_delay_millis=60_000)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    try:
        assert processor._direct is not None  # the SDK's layout is the known one
        asked: list[int] = []
        real_getpid = os.getpid
        monkeypatch.setattr(os, "getpid", lambda: asked.append(1) or real_getpid())
        _ended(provider, "a", "b", "c")
        assert asked == []
        monkeypatch.undo()
        assert processor.force_flush()
        assert exporter.names == ["a", "b", "c"]
    finally:
        provider.shutdown()


def test_a_full_batch_still_wakes_the_exporting_thread() -> None:
    exporter = _Counting()
    processor = CountingBatchSpanProcessor(
        exporter, schedule_delay_millis=60_000, max_export_batch_size=4
    )
    provider = TracerProvider()
    provider.add_span_processor(processor)
    try:
        _ended(provider, "1", "2", "3")
        assert not exporter.exported.wait(0.3)  # below a batch: waits for the delay
        _ended(provider, "4")
        assert exporter.exported.wait(10)  # a batch: exported now, no flush
        assert sorted(exporter.names) == ["1", "2", "3", "4"]
    finally:
        provider.shutdown()


def test_a_full_queue_drops_counted_and_a_shut_down_one_takes_nothing() -> None:
    exporter = _Counting()
    processor = CountingBatchSpanProcessor(
        exporter, schedule_delay_millis=60_000, max_queue_size=2, max_export_batch_size=2
    )
    processor._direct._worker_awaken.set = lambda: None  # keep the worker asleep
    provider = TracerProvider()
    provider.add_span_processor(processor)
    _ended(provider, "kept", "kept too", "dropped")
    assert processor.dropped_spans == 1
    assert processor.force_flush() is False  # a span was lost since the last flush
    assert sorted(exporter.names) == ["kept", "kept too"]
    del processor._direct._worker_awaken.set  # shutdown wakes the worker
    provider.shutdown()
    _ended(provider, "after shutdown")
    assert "after shutdown" not in exporter.names


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_forked_child_queues_and_exports_its_own_spans(tmp_path: Path) -> None:
    exporter = _Counting()
    processor = CountingBatchSpanProcessor(exporter, schedule_delay_millis=60_000)
    provider = TracerProvider()
    provider.add_span_processor(processor)
    _ended(provider, "parent")
    out = tmp_path / "child.txt"
    pid = os.fork()
    if pid == 0:  # the child: the SDK's fork hook gave it an empty queue and a new thread
        try:
            _ended(provider, "child")
            processor.force_flush()
            out.write_text(",".join(exporter.names))
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
    assert out.read_text() == "child"  # the parent's queued span stayed with the parent
    assert processor.force_flush()
    assert exporter.names == ["parent"]
    provider.shutdown()


def test_instrumented_calls_share_one_spec_per_model() -> None:
    from llmtrace._instrument import _spec_for, _traced

    class Completions:
        def create(self, **kwargs: Any) -> dict[str, Any]:
            return {"model": kwargs["model"], "usage": {"prompt_tokens": 3, "completion_tokens": 1}}

    create = _traced(Completions.create, "openai", sc.OP_CHAT, is_async=False)
    with capture_spans() as spans:
        for model in ("gpt-4o-mini", "gpt-4o", "gpt-4o-mini", None):
            create(Completions(), model=model, messages=[{"role": "user", "content": "hi"}])
    requested = [(s.attributes or {}).get(sc.GEN_AI_REQUEST_MODEL) for s in spans.spans()]
    assert requested == ["gpt-4o-mini", "gpt-4o", "gpt-4o-mini", None]
    assert [(s.attributes or {}).get(sc.GEN_AI_USAGE_INPUT_TOKENS) for s in spans.spans()] == [
        3
    ] * 4
    one = _spec_for("openai", sc.OP_CHAT, {"model": "gpt-4o"})
    assert one is _spec_for("openai", sc.OP_CHAT, {"model": "gpt-4o"})
    assert one is not _spec_for("openai", sc.OP_EMBEDDINGS, {"model": "gpt-4o"})


def test_with_blocks_leave_nothing_behind_in_the_context() -> None:
    def run() -> tuple[int, int]:
        with capture_spans() as spans:
            before = len(contextvars.copy_context())
            for _ in range(50):
                with llmtrace.workflow("request"), llmtrace.tool("lookup"):
                    pass
            return len(contextvars.copy_context()) - before, len(spans.spans())

    grown, ended = contextvars.Context().run(run)  # a fresh context, as a new thread has
    assert ended == 100
    assert grown <= 1  # one variable for every spec, not one more per block


def test_one_spec_entered_twice_and_left_out_of_order_ends_each_span_once() -> None:
    # In a context of its own: leaving out of order leaves the OpenTelemetry context behind.
    contextvars.Context().run(_enter_twice_and_leave_out_of_order)


def _enter_twice_and_leave_out_of_order() -> None:
    outer, inner = llmtrace.workflow("outer"), llmtrace.tool("inner")
    with capture_spans() as spans:
        first = outer.__enter__()
        second = inner.__enter__()
        again = outer.__enter__()  # re-entered: its own span, a child of inner
        outer.__exit__(None, None, None)  # ends `again`, the innermost entry of outer
        assert again._ended and not first._ended and not second._ended
        outer.__exit__(None, None, None)  # left before inner: ends `first`
        assert first._ended and not second._ended
        inner.__exit__(None, None, None)
        with pytest.raises(RuntimeError, match="without __enter__"):
            inner.__exit__(None, None, None)
    assert sorted(s.name for s in spans.spans()) == [
        "execute_tool inner",
        "invoke_workflow outer",
        "invoke_workflow outer",
    ]


def test_workflow_and_tool_specs_are_built_once_per_name() -> None:
    assert llmtrace.workflow("request") is llmtrace.workflow("request")
    assert llmtrace.tool("lookup") is llmtrace.tool("lookup")
    assert llmtrace.workflow("request") is not llmtrace.workflow("other")
    tagged = llmtrace.workflow("request", team="search")
    assert tagged is not llmtrace.workflow("request")
    called = llmtrace.tool("lookup", call_id="call_1")
    with capture_spans() as spans:
        with tagged, called, llmtrace.workflow("request"):
            pass

        @llmtrace.workflow
        def request() -> None:
            pass

        request()
    records = [(s.name, dict(s.attributes or {})) for s in spans.spans()]
    plain = {
        sc.SPAN_KIND: sc.KIND_WORKFLOW,
        sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
        sc.GEN_AI_WORKFLOW_NAME: "request",
    }
    assert records == [
        ("invoke_workflow request", plain),
        (
            "execute_tool lookup",
            {
                sc.SPAN_KIND: sc.KIND_TOOL,
                sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
                sc.GEN_AI_TOOL_NAME: "lookup",
                sc.GEN_AI_TOOL_CALL_ID: "call_1",
            },
        ),
        ("invoke_workflow request", {**plain, "team": "search"}),
        ("invoke_workflow request", plain),
    ]


class _DictSubclass(dict):  # type: ignore[type-arg]
    """Not ``type(...) is dict``: read_response takes its general path."""


_CHAT = {
    "id": "chatcmpl-1",
    "model": "gpt-4o-mini",
    "choices": [{"message": {"content": "Paris."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 120, "completion_tokens": 30},
}


@pytest.mark.parametrize(
    "response",
    [
        _CHAT,
        {
            **_CHAT,
            "choices": [
                {"message": {"content": "a"}, "finish_reason": "stop"},
                {"message": {"content": "b"}, "finish_reason": "length"},
            ],
            "usage": {
                "prompt_tokens": 10,
                "completion_tokens": 5,
                "prompt_tokens_details": {"cached_tokens": 4},
                "completion_tokens_details": {"reasoning_tokens": 2},
            },
        },
        {**_CHAT, "model": None, "id": 7},
        {**_CHAT, "choices": [{"message": {"content": "x"}, "finish_reason": None}]},
        {**_CHAT, "choices": [], "status": "completed"},
        {**_CHAT, "usage": {"prompt_tokens": "12", "completion_tokens": 3}},
        {**_CHAT, "usage": None},
        {
            "id": "msg_1",
            "model": "claude-sonnet-4-5",
            "content": [{"type": "text", "text": "hi"}],
            "stop_reason": "end_turn",
            "usage": {"input_tokens": 20, "output_tokens": 5, "cache_read_input_tokens": 100},
        },
    ],
)
def test_a_plain_dict_response_reads_as_the_general_path_reads_it(response: Any) -> None:
    from llmtrace.usage import read_response

    for with_text in (False, True):
        assert read_response(response, with_text) == read_response(
            _DictSubclass(response), with_text
        )


def test_an_openai_chat_dict_takes_the_short_path() -> None:
    from llmtrace.usage import _read_chat_dict

    info = _read_chat_dict(_CHAT, with_text=False)
    assert info is not None
    assert (info.usage.input_tokens, info.usage.output_tokens) == (120, 30)
    assert (info.response_model, info.response_id, info.finish_reasons) == (
        "gpt-4o-mini",
        "chatcmpl-1",
        ["stop"],
    )
    assert info.output_text is None
    assert _read_chat_dict({**_CHAT, "choices": [{"finish_reason": 1}]}, False) is None


def test_a_chunk_llmtrace_cannot_fold_is_counted_and_the_stream_goes_on(monkeypatch: Any) -> None:
    from llmtrace._internal import internal_error_counts
    from llmtrace.usage import StreamAccumulator

    monkeypatch.setenv("LLMTRACE_RAISE_INTERNAL_ERRORS", "0")
    folded = StreamAccumulator.add

    def add(self: StreamAccumulator, chunk: Any) -> None:
        if chunk == "bad":
            raise ValueError("cannot fold")
        folded(self, chunk)

    monkeypatch.setattr(StreamAccumulator, "add", add)
    before = internal_error_counts().get("LiveSpan.record_chunk", 0)

    @llmtrace.llm(model="gpt-4o-mini")
    def stream(prompt: str) -> Any:
        yield from ("a", "bad", "c")

    with capture_spans() as spans:
        assert list(stream("hi")) == ["a", "bad", "c"]
    assert internal_error_counts()["LiveSpan.record_chunk"] == before + 1
    assert spans.by_name("chat gpt-4o-mini").attributes[sc.STREAM_CHUNKS] == 2  # type: ignore[index]
