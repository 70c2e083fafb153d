"""The six span kinds behind one factory: each is a decorator and a (sync or async) context manager.

``workflow``, ``llm``, ``tool``, ``retrieval``, ``guardrail`` and ``judge`` all return a
:class:`SpanSpec`. Used as a decorator it wraps sync functions, coroutines, generators and async
generators (streams keep the span open until they end); used with ``with`` / ``async with`` it
yields the :class:`~llmtrace._tracing.live.LiveSpan` handle. Operation, provider and model
are passed to the tracer when the span starts, so samplers can decide on them.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, overload

from .. import semconv as sc
from ..prompts import Prompt
from .spec import SpanSpec

__all__ = ["SpanSpec", "guardrail", "judge", "llm", "retrieval", "tool", "workflow"]

F = TypeVar("F", bound=Callable[..., Any])


def _clean(attributes: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in attributes.items() if v is not None}


def _spec_or_decorate(spec_for: Callable[[str], SpanSpec], target: Any) -> Any:
    """Support both ``@kind`` and ``@kind(...)``: a callable first argument is decorated."""
    if callable(target) and not isinstance(target, str):
        return spec_for(getattr(target, "__name__", "function"))(target)
    return spec_for(target)


# --- the public factories ---------------------------------------------------------------------
@overload
def workflow(name: F) -> F: ...
@overload
def workflow(name: str | None = None, **attributes: Any) -> SpanSpec: ...
def workflow(name: Any = None, **attributes: Any) -> Any:
    """A workflow span (``invoke_workflow <name>``): one request through the application.

    Example:
        >>> @llmtrace.workflow("handle_ticket")
        ... def handle(question): ...
    """

    if not attributes and (name is None or type(name) is str):  # `with workflow("x"):`
        return _named_workflow(name or "workflow")

    def spec_for(resolved: str | None) -> SpanSpec:
        named = _named_workflow(resolved or "workflow")
        if not attributes:
            return named
        extra = {**named.start_attributes, **_clean(attributes)}
        return SpanSpec(sc.KIND_WORKFLOW, named.span_name, extra)

    return _spec_or_decorate(spec_for, name)


@functools.lru_cache(maxsize=1024)
def _named_workflow(name: str) -> SpanSpec:
    """The spec of ``workflow(name)``, built once per name: a ``with`` block per request
    would otherwise build it every time (~2 us), and a spec holds no per-call state."""
    return SpanSpec(
        sc.KIND_WORKFLOW,
        f"{sc.OP_INVOKE_WORKFLOW} {name}",
        {
            sc.SPAN_KIND: sc.KIND_WORKFLOW,
            sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW,
            sc.GEN_AI_WORKFLOW_NAME: name,
        },
    )


@overload
def llm(model: F) -> F: ...
@overload
def llm(
    model: str | None = None,
    *,
    provider: str | None = None,
    prompt: Prompt | None = None,
    operation: str = sc.OP_CHAT,
    name: str | None = None,
    **request: Any,
) -> SpanSpec: ...
def llm(
    model: Any = None,
    *,
    provider: str | None = None,
    prompt: Prompt | None = None,
    operation: str = sc.OP_CHAT,
    name: str | None = None,
    **request: Any,
) -> Any:
    """An LLM call span (``chat <model>``) with prompt, tokens, cost and (opt-in) content.

    Usage is read from the return value when it is an OpenAI- or Anthropic-style response;
    otherwise it is estimated with tiktoken from the call's input and output. Extra keywords
    (``temperature=0.2``, ``max_tokens=256``) are recorded as ``gen_ai.request.*``.

    Example:
        >>> @llmtrace.llm(model="gpt-4o-mini", provider="openai", prompt=PROMPT)
        ... def call_model(messages): ...
    """
    if callable(model) and not isinstance(model, str):
        return llm()(model)
    if prompt is not None and not isinstance(prompt, Prompt):
        raise TypeError(f"llm(prompt=...) must be a llmtrace.Prompt, got {prompt!r}")
    attributes: dict[str, Any] = {
        sc.SPAN_KIND: sc.KIND_LLM,
        sc.GEN_AI_OPERATION_NAME: operation,
        sc.GEN_AI_PROVIDER_NAME: provider,
        sc.GEN_AI_REQUEST_MODEL: model,
    }
    if prompt is not None:
        attributes[sc.GEN_AI_PROMPT_NAME] = prompt.name
        attributes[sc.GEN_AI_PROMPT_VERSION] = prompt.version
        attributes[sc.PROMPT_HASH] = prompt.hash
    for key, value in request.items():
        attributes[sc.GEN_AI_REQUEST_PREFIX + key] = value
    span_name = name or (f"{operation} {model}" if model else operation)
    return SpanSpec(sc.KIND_LLM, span_name, _clean(attributes), model=model, provider=provider)


@overload
def tool(name: F) -> F: ...
@overload
def tool(name: str | None = None, *, call_id: str | None = None, **attributes: Any) -> SpanSpec: ...
def tool(name: Any = None, *, call_id: str | None = None, **attributes: Any) -> Any:
    """A tool execution span (``execute_tool <name>``).

    Example:
        >>> @llmtrace.tool("lookup_order")
        ... def lookup_order(order_id): ...
    """

    if call_id is None and not attributes and (name is None or type(name) is str):
        return _named_tool(name or "tool")

    def spec_for(resolved: str | None) -> SpanSpec:
        named = _named_tool(resolved or "tool")
        if call_id is None and not attributes:
            return named
        extra = {**named.start_attributes, sc.GEN_AI_TOOL_CALL_ID: call_id, **attributes}
        return SpanSpec(sc.KIND_TOOL, named.span_name, _clean(extra))

    return _spec_or_decorate(spec_for, name)


@functools.lru_cache(maxsize=1024)
def _named_tool(name: str) -> SpanSpec:
    """The spec of ``tool(name)``, built once per name (as ``_named_workflow``)."""
    return SpanSpec(
        sc.KIND_TOOL,
        f"{sc.OP_EXECUTE_TOOL} {name}",
        {
            sc.SPAN_KIND: sc.KIND_TOOL,
            sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL,
            sc.GEN_AI_TOOL_NAME: name,
        },
    )


def retrieval(index: str, index_version: str | None = None, **attributes: Any) -> SpanSpec:
    """A retrieval span (``retrieval <index>``) that records the returned document ids.

    Example:
        >>> @llmtrace.retrieval(index="kb", index_version="2026-11-01")
        ... def search(query): ...
    """
    if not isinstance(index, str) or not index:
        raise ValueError(f"retrieval(index=...) must be a non-empty string, got {index!r}")
    return SpanSpec(
        sc.KIND_RETRIEVAL,
        f"{sc.OP_RETRIEVAL} {index}",
        _clean(
            {
                sc.SPAN_KIND: sc.KIND_RETRIEVAL,
                sc.GEN_AI_OPERATION_NAME: sc.OP_RETRIEVAL,
                sc.GEN_AI_DATA_SOURCE_ID: index,
                sc.RETRIEVAL_INDEX: index,
                sc.RETRIEVAL_INDEX_VERSION: index_version,
                **attributes,
            }
        ),
    )


def guardrail(policy: str, version: str | None = None, **attributes: Any) -> SpanSpec:
    """A guardrail span; the function returns a :class:`Decision` or a bool (True = allow).

    Example:
        >>> @llmtrace.guardrail(policy="pii", version="3")
        ... def check(text): return llmtrace.Decision(action="block", score=0.93)
    """
    if not isinstance(policy, str) or not policy:
        raise ValueError(f"guardrail(policy=...) must be a non-empty string, got {policy!r}")
    return SpanSpec(
        sc.KIND_GUARDRAIL,
        f"{sc.OP_GUARDRAIL} {policy}",
        _clean(
            {
                sc.SPAN_KIND: sc.KIND_GUARDRAIL,
                sc.GEN_AI_OPERATION_NAME: sc.OP_GUARDRAIL,
                sc.GUARDRAIL_POLICY: policy,
                sc.GUARDRAIL_VERSION: version,
                **attributes,
            }
        ),
    )


def judge(
    model: str | None = None,
    version: str | None = None,
    *,
    name: str | None = None,
    provider: str | None = None,
    **attributes: Any,
) -> SpanSpec:
    """A judge span recording judge model and version; a returned score (in [0, 1]) becomes a
    ``gen_ai.evaluation.result`` event on the judged span (the span current at the call).

    Naming, the same for ``evals.judge``: a judge is named ``name=``, else after the function
    it decorates; only a ``with`` block without ``name=`` falls back to its version or model.
    The name is the span's (``judge helpful``) and the evaluation's.

    Example:
        >>> @llmtrace.judge(model="gpt-4o", version="helpful-v2")
        ... def helpful(answer) -> float: ...
    """

    def named_after(function_name: str) -> SpanSpec:
        return judge(model, version, name=function_name, provider=provider, **attributes)

    label = name or version or model or "judge"
    return SpanSpec(
        sc.KIND_JUDGE,
        f"{sc.OP_JUDGE} {label}",
        _clean(
            {
                sc.SPAN_KIND: sc.KIND_JUDGE,
                sc.GEN_AI_OPERATION_NAME: sc.OP_JUDGE,
                sc.GEN_AI_PROVIDER_NAME: provider,
                sc.GEN_AI_REQUEST_MODEL: model,
                sc.JUDGE_MODEL: model,
                sc.JUDGE_VERSION: version,
                **attributes,
            }
        ),
        model=model,
        provider=provider,
        evaluation_name=name or version or model,
        named_by=None if name is not None else named_after,
    )
