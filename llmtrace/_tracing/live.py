"""The handle of one open llmtrace span: what it records while open and how it ends.

A ``LiveSpan`` is what ``with llmtrace.llm(...) as span`` gives the user and what the decorators
drive. Everything it does on the application's thread is guarded: a failure here loses
telemetry, never the user's result.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.trace import Status, StatusCode

from .. import semconv as sc
from .._internal import guard, report_internal_error, warn_once
from ..decision import Decision
from ..tokens import messages_text
from ..usage import ResponseInfo, StreamAccumulator, Usage, read_response
from .capture import input_messages_json, output_messages_json
from .late import defer_estimate
from .runtime import runtime

__all__ = ["LiveSpan", "current_span"]

_HANDLE_ATTR = "_llmtrace_live"


def _document_id(doc: Any) -> str | None:
    if isinstance(doc, str):
        return doc
    value = doc.get("id") if isinstance(doc, Mapping) else getattr(doc, "id", None)
    return None if value is None else str(value)


def _evaluation_score(value: Any) -> tuple[float | None, str | None, str | None]:
    """(score, label, explanation) from a judge's return value."""
    if isinstance(value, bool):
        return (1.0 if value else 0.0), ("pass" if value else "fail"), None
    if isinstance(value, (int, float)):
        return float(value), None, None
    if isinstance(value, Mapping):
        score = value.get("score")
        return (
            float(score) if isinstance(score, (int, float)) else None,
            value.get("label"),
            value.get("explanation"),
        )
    score = getattr(value, "score", None)
    if isinstance(score, (int, float)):
        return float(score), getattr(value, "label", None), getattr(value, "explanation", None)
    return None, None, None


class LiveSpan:
    """One open span of a known kind, with the llmtrace recording methods."""

    __slots__ = (
        "_accumulator",
        "_ended",
        "_first_chunk_ns",
        "_input",
        "_judged",
        "_output",
        "_pending",
        "_usage",
        "_usage_source",
        "evaluation_name",
        "kind",
        "model",
        "provider",
        "span",
        "start_ns",
    )

    def __init__(
        self,
        span: trace.Span,
        kind: str,
        model: str | None = None,
        provider: str | None = None,
        judged: trace.Span | None = None,
        evaluation_name: str | None = None,
    ) -> None:
        self.span = span
        self.kind = kind
        self.model = model
        self.provider = provider
        self.start_ns = runtime.perf_counter_ns()
        self.evaluation_name = evaluation_name
        self._judged = judged
        self._usage: Usage | None = None
        self._usage_source = sc.USAGE_FROM_PROVIDER
        self._input: Any = None
        self._output: Any = None
        self._accumulator: StreamAccumulator | None = None
        self._first_chunk_ns: int | None = None
        self._ended = False
        # Attributes learnt while the span is open, set in one call when it ends.
        self._pending: dict[str, Any] = {}
        # A non-SDK span (no-op provider) takes no attributes; current_span() then gives None.
        # (try/except, not contextlib.suppress: its object costs ~0.5 us on every span.)
        try:  # noqa: SIM105
            setattr(span, _HANDLE_ATTR, self)
        except AttributeError:
            pass

    # --- identity -----------------------------------------------------------------------------
    @property
    def trace_id(self) -> str:
        """The W3C trace id as 32 hex characters."""
        return format(self.span.get_span_context().trace_id, "032x")

    @property
    def span_id(self) -> str:
        """The span id as 16 hex characters."""
        return format(self.span.get_span_context().span_id, "016x")

    @property
    def is_recording(self) -> bool:
        return self.span.is_recording()

    # --- generic ------------------------------------------------------------------------------
    def set_attribute(self, key: str, value: Any) -> None:
        """Set one span attribute (an OpenTelemetry-compatible value)."""
        with guard("LiveSpan.set_attribute"):
            self.span.set_attribute(key, value)

    def set_attributes(self, attributes: Mapping[str, Any]) -> None:
        with guard("LiveSpan.set_attributes"):
            self.span.set_attributes(attributes)

    # --- LLM calls ----------------------------------------------------------------------------
    def record_input(self, messages: Any) -> None:
        """The prompt sent: used to estimate tokens, and recorded when capture is on."""
        self._input = messages

    def record_output(self, output: Any) -> None:
        """The completion received (text or a provider response): estimates and capture."""
        self._output = output

    def record_response(self, response: Any) -> None:
        """Read usage, response model and id and finish reasons from a provider response."""
        with guard("LiveSpan.record_response"):
            self._apply_response(read_response(response, with_text=self._wants_text()))

    @staticmethod
    def _wants_text() -> bool:
        return runtime.capture_content

    def set_usage(
        self,
        input_tokens: int | None = None,
        output_tokens: int | None = None,
        *,
        cache_read_input_tokens: int | None = None,
        cache_creation_input_tokens: int | None = None,
        reasoning_output_tokens: int | None = None,
    ) -> None:
        """Record token counts the caller knows (they count as provider-reported)."""
        self._usage = Usage(
            input_tokens,
            output_tokens,
            cache_read_input_tokens,
            cache_creation_input_tokens,
            reasoning_output_tokens,
        )
        self._usage_source = sc.USAGE_FROM_PROVIDER

    def record_chunk(self, chunk: Any) -> None:
        """Fold one stream chunk: time to first chunk, text, and a final usage chunk."""
        try:  # what guard() does, without its generator (~1 us) on every chunk
            if self._first_chunk_ns is None:
                self._first_chunk_ns = runtime.perf_counter_ns()
            if self._accumulator is None:
                self._accumulator = StreamAccumulator()
            self._accumulator.add(chunk)
        except Exception as exc:
            report_internal_error("LiveSpan.record_chunk", exc)

    def _apply_response(self, info: ResponseInfo) -> None:
        pending = self._pending
        if info.response_model:
            pending[sc.GEN_AI_RESPONSE_MODEL] = info.response_model
        if info.response_id:
            pending[sc.GEN_AI_RESPONSE_ID] = info.response_id
        if info.finish_reasons:
            pending[sc.GEN_AI_RESPONSE_FINISH_REASONS] = info.finish_reasons
        if not info.usage.is_empty():
            self._usage = info.usage
            self._usage_source = sc.USAGE_FROM_PROVIDER
        if info.output_text is not None:
            self._output = info.output_text
            if runtime.capture_content:
                text, cut = output_messages_json(
                    info.output_text, info.finish_reasons, runtime.redactor
                )
                pending[sc.GEN_AI_OUTPUT_MESSAGES] = text
                if cut:
                    pending[sc.CONTENT_TRUNCATED] = True

    def _finish_llm(self) -> None:
        attributes = self._pending
        if self._accumulator is not None:
            info = self._accumulator.result()
            self._apply_response(info)
            attributes[sc.STREAM_CHUNKS] = self._accumulator.chunks
        if self._first_chunk_ns is not None:
            attributes[sc.STREAM_TTFT_MS] = (self._first_chunk_ns - self.start_ns) / 1e6
        if self._input is not None and runtime.capture_content:
            text, cut = input_messages_json(self._input, runtime.redactor)
            attributes[sc.GEN_AI_INPUT_MESSAGES] = text
            if cut:
                attributes[sc.CONTENT_TRUNCATED] = True
        usage = self._usage
        if usage is None or usage.is_empty():
            # Counting tokens is left to the exporters' threads (``_late``), like pricing.
            if self._defer_estimate():
                attributes[sc.USAGE_SOURCE] = sc.USAGE_ESTIMATED
            return
        attributes[sc.USAGE_SOURCE] = self._usage_source
        if usage.input_tokens is not None:
            attributes[sc.GEN_AI_USAGE_INPUT_TOKENS] = usage.input_tokens
        if usage.output_tokens is not None:
            attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = usage.output_tokens
        if usage.cache_read_input_tokens is not None:
            attributes[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = usage.cache_read_input_tokens
        if usage.cache_creation_input_tokens is not None:
            attributes[sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS] = (
                usage.cache_creation_input_tokens
            )
        if usage.reasoning_output_tokens is not None:
            attributes[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = usage.reasoning_output_tokens
        # Cost is added by the exporters (``_late``) and the store, never on this thread.

    def _defer_estimate(self) -> bool:
        """Keep the call's texts on the span for the exporters to count (cheap here: no
        tokenizer, which takes ~0.5 s to load on first use)."""
        if self._input is None and self._output is None:
            return False
        output = self._output
        if output is not None and not isinstance(output, str):
            output = read_response(output).output_text or messages_text(output)
        return defer_estimate(self.span, messages_text(self._input), output or "", self.model)

    # --- retrieval, guardrails, judges --------------------------------------------------------
    def record_documents(self, documents: Sequence[Any]) -> None:
        """Record the ids of returned documents (dicts with ``id``, objects with ``.id``, str)."""
        with guard("LiveSpan.record_documents"):
            ids = [i for i in (_document_id(d) for d in documents) if i is not None]
            self.span.set_attribute(sc.RETRIEVAL_DOCUMENT_IDS, ids)

    def record_decision(self, decision: Decision | bool) -> None:
        """Record a guardrail's action, score and reason.

        Anything but a Decision or a bool (``"maybe"``) is not a decision: the span is marked
        as an error saying so, and a warning is logged once per guardrail.
        """
        with guard("LiveSpan.record_decision"):
            coerced = Decision.coerce(decision)
            if coerced is None:
                if decision is not None:
                    self._reject(
                        f"guardrail returned {decision!r}; return a llmtrace.Decision or a "
                        "bool (True = allow)"
                    )
                return
            attributes: dict[str, Any] = {sc.GUARDRAIL_ACTION: coerced.action}
            if coerced.score is not None:
                attributes[sc.GUARDRAIL_SCORE] = float(coerced.score)
            if coerced.reason is not None:
                reason = coerced.reason
                if runtime.capture_content:
                    reason = runtime.redactor.redact(reason)
                attributes[sc.GUARDRAIL_REASON] = reason
            self.span.set_attributes(attributes)

    def record_evaluation(
        self,
        score: float | None = None,
        *,
        name: str | None = None,
        label: str | None = None,
        explanation: str | None = None,
        target: trace.Span | LiveSpan | None = None,
    ) -> None:
        """Add a ``gen_ai.evaluation.result`` event to the judged span.

        The judged span is ``target`` when given, else the span that was current when this
        judge span started (if still open), else this span.
        """
        with guard("LiveSpan.record_evaluation"):
            attributes: dict[str, Any] = {
                sc.GEN_AI_EVALUATION_NAME: name or self.evaluation_name or "judge"
            }
            if score is not None:
                attributes[sc.GEN_AI_EVALUATION_SCORE_VALUE] = float(score)
            if label is not None:
                attributes[sc.GEN_AI_EVALUATION_SCORE_LABEL] = str(label)
            if explanation is not None:
                attributes[sc.GEN_AI_EVALUATION_EXPLANATION] = str(explanation)
            judged: Any = target.span if isinstance(target, LiveSpan) else target
            if judged is None and self._judged is not None and self._judged.is_recording():
                judged = self._judged
            (judged or self.span).add_event(sc.GEN_AI_EVALUATION_RESULT_EVENT, attributes)

    # --- ending -------------------------------------------------------------------------------
    def finish_with_result(self, result: Any) -> None:
        """End the span after a successful call whose return value is ``result``."""
        read = _RESULT_READERS.get(self.kind)  # workflow and tool spans read nothing from it
        if read is not None:
            try:
                read(self, result)
            except Exception as exc:
                report_internal_error("LiveSpan.finish_with_result", exc)
        self.end()

    def _read_llm_result(self, result: Any) -> None:
        if self._accumulator is None:  # a stream's chunks said it all
            if self._usage is None:
                self._apply_response(read_response(result, with_text=self._wants_text()))
            if self._output is None:
                self._output = result

    def _read_retrieval_result(self, result: Any) -> None:
        if isinstance(result, (list, tuple)):
            self.record_documents(result)

    def _read_judge_result(self, result: Any) -> None:
        score, label, explanation = _evaluation_score(result)
        if score is not None and not 0.0 <= score <= 1.0:
            self._reject(f"judge returned score {score!r}; a score must lie in [0, 1]")
        elif score is not None or label is not None:
            self.record_evaluation(score, label=label, explanation=explanation)

    def _reject(self, message: str) -> None:
        """A return value llmtrace cannot record: an error on the span and one warning per
        span name, never an exception in the application."""
        name = getattr(self.span, "name", "span")
        warn_once(f"reject:{name}", f"llmtrace: {name}: {message}; nothing recorded")
        self.span.set_status(Status(StatusCode.ERROR, message))

    def fail(self, exc: BaseException) -> None:
        """End the span as failed by ``exc`` (the caller re-raises it unchanged, so it escapes
        the span: ``exception.escaped`` is true)."""
        with guard("LiveSpan.fail"):
            self.span.record_exception(exc, escaped=True)
            self.span.set_status(Status(StatusCode.ERROR, f"{type(exc).__name__}: {exc}"))
        self.end()

    def end(self) -> None:
        """End the span once; later calls do nothing.

        The end time is taken first, so token estimates and pricing never count as latency.
        """
        if self._ended:
            return
        self._ended = True
        end_time_ns = runtime.time_ns()
        try:
            if self.kind in sc.PRICED_KINDS:
                self._finish_llm()
            if self._pending:
                self.span.set_attributes(self._pending)
        except Exception as exc:
            report_internal_error("LiveSpan.end", exc)
        try:
            self.span.end(end_time=end_time_ns)
        except Exception as exc:
            report_internal_error("LiveSpan.end", exc)
        # Break the span <-> handle cycle so finished spans are freed without the cyclic GC.
        try:  # noqa: SIM105 (as in __init__)
            delattr(self.span, _HANDLE_ATTR)
        except AttributeError:
            pass


# What each kind records from a decorated function's return value, by kind.
_RESULT_READERS: dict[str, Callable[[LiveSpan, Any], None]] = {
    sc.KIND_LLM: LiveSpan._read_llm_result,
    sc.KIND_RETRIEVAL: LiveSpan._read_retrieval_result,
    sc.KIND_GUARDRAIL: LiveSpan.record_decision,
    sc.KIND_JUDGE: LiveSpan._read_judge_result,
}


def current_span() -> LiveSpan | None:
    """The innermost open llmtrace span in this context, or None outside any."""
    handle = getattr(trace.get_current_span(), _HANDLE_ATTR, None)
    return handle if isinstance(handle, LiveSpan) else None
