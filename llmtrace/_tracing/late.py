"""What an ended llm span leaves to the exporters: token estimates and cost, off the app's thread.

Counting tokens (tiktoken, ~0.5 s to load) and pricing (genai-prices, ~0.2 s to load, then a
lookup per model) used to run when the span ended, on the application's thread, and the first
traced call of a process paid for loading both inside its parent's span (0.5 to 1.2 s
measured). Now the span ends with the texts to count kept aside, and the first exporter thread
to see the span adds the attributes (:func:`with_late_attributes`); the others find them done.
The DuckDB store prices rows itself (``store.normalize``), so it only takes the estimates.
"""

from __future__ import annotations

import contextlib
import threading
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from .. import semconv as sc
from .._internal import report_internal_error
from ..usage import Usage
from .runtime import runtime

__all__ = ["defer_estimate", "late_attributes", "with_late_attributes"]

# The SDK hands processors a snapshot of the span, not the span itself, so what is left to do
# is kept here, by (trace id, span id): the texts to count, then what was computed, so that
# every exporter of a span shares one computation. Bounded: the oldest entries go first (an
# exporter that falls this far behind has dropped those spans already).
_MAX_ENTRIES = 131_072
# Texts waiting to be counted are bounded in size too: spans nobody exports (no exporter, or
# a full queue that dropped them) must not hold prompts forever.
_MAX_WAITING_CHARS = 32 * 1024 * 1024
_waiting_chars = 0
_lock = threading.Lock()
_texts: OrderedDict[tuple[int, int], tuple[str, str, str | None]] = OrderedDict()
_estimates: OrderedDict[tuple[int, int], dict[str, Any]] = OrderedDict()


def _key(span: Any) -> tuple[int, int] | None:
    context = span.get_span_context() if hasattr(span, "get_span_context") else span.context
    if context is None or not context.is_valid:
        return None
    return context.trace_id, context.span_id


def defer_estimate(span: Any, input_text: str, output_text: str, model: str | None) -> bool:
    """Leave counting the tokens of ``span`` (just ending) to its exporters."""
    key = _key(span)
    if key is None or not span.is_recording():
        return False
    global _waiting_chars
    size = len(input_text) + len(output_text)
    with _lock:  # ids can repeat (fixed-id test generators): forget an older span's count
        _estimates.pop(key, None)
        old = _texts.pop(key, None)
        if old is not None:
            _waiting_chars -= len(old[0]) + len(old[1])
        _texts[key] = (input_text, output_text, model)
        _waiting_chars += size
        while _texts and (len(_texts) > _MAX_ENTRIES or _waiting_chars > _MAX_WAITING_CHARS):
            dropped = _texts.popitem(last=False)[1]
            _waiting_chars -= len(dropped[0]) + len(dropped[1])
    return True


def _estimated(key: tuple[int, int]) -> dict[str, Any]:
    """The estimate of one span, whichever exporter asks first (two at once both count: the
    same numbers). Counted outside the lock, which the application's thread takes when a span
    ends; the texts stay until the count is kept, so an exporter that finds no texts waiting
    can trust that no estimate is on its way."""
    global _waiting_chars
    from ..tokens import count_tokens

    with _lock:
        done = _estimates.get(key)
        texts = _texts.get(key) if done is None else None
    if done is not None or texts is None:
        return done or {}
    input_text, output_text, model = texts
    estimate = {
        sc.GEN_AI_USAGE_INPUT_TOKENS: count_tokens(input_text, model),
        sc.GEN_AI_USAGE_OUTPUT_TOKENS: count_tokens(output_text, model),
    }
    with _lock:
        if _texts.get(key) is texts:  # not replaced meanwhile by a new span with these ids
            del _texts[key]
            _waiting_chars -= len(input_text) + len(output_text)
            _estimates[key] = estimate
            while len(_estimates) > _MAX_ENTRIES:
                _estimates.popitem(last=False)
    return estimate


def _priced(attributes: Any) -> dict[str, Any]:
    if attributes.get(sc.COST_USD) is not None:
        return {}
    model = attributes.get(sc.GEN_AI_REQUEST_MODEL)
    if not isinstance(model, str):
        return {}
    usage = Usage(
        attributes.get(sc.GEN_AI_USAGE_INPUT_TOKENS),
        attributes.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS),
        attributes.get(sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS),
        attributes.get(sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS),
    )
    provider = attributes.get(sc.GEN_AI_PROVIDER_NAME)
    cost = runtime.prices.cost(usage, model, provider if isinstance(provider, str) else None)
    if cost is None:
        return {}
    return {
        sc.COST_USD: cost.total_usd,
        sc.COST_INPUT_USD: cost.input_usd,
        sc.COST_OUTPUT_USD: cost.output_usd,
        sc.PRICING_SOURCE: cost.source,
    }


def _waiting(attributes: Any) -> bool:
    """Whether the span ended with its tokens left to count."""
    return (
        attributes.get(sc.USAGE_SOURCE) == sc.USAGE_ESTIMATED
        and attributes.get(sc.GEN_AI_USAGE_INPUT_TOKENS) is None
    )


def late_attributes(span: Any, price: bool = True) -> dict[str, Any]:
    """The attributes left to the exporters of one llmtrace llm or judge span (maybe none)."""
    attributes = _attributes(span)
    if attributes.get(sc.SPAN_KIND) not in sc.PRICED_KINDS:
        return {}
    late: dict[str, Any] = {}
    if _waiting(attributes):
        key = _key(span)
        if key is not None:
            late = dict(_estimated(key))
    if price:
        late.update(_priced({**attributes, **late} if late else attributes))
    return late


def _attributes(span: Any) -> Any:
    """The span's attribute mapping, without the read-only copy the public property makes."""
    found = getattr(span, "_attributes", None)
    return found if found is not None else (span.attributes or {})


def with_late_attributes(
    spans: Sequence[ReadableSpan], price: bool = True
) -> Sequence[ReadableSpan]:
    """``spans`` with the late attributes in: estimates always, cost when ``price``.

    The SDK gives every processor the same finished-span snapshot, so the attributes are put
    on it (a new mapping replaces the old one, which stays as it was): what one exporter
    computed, the others find done. Without ``price`` (the store prices every row itself) and
    while no span waits for its tokens to be counted, the spans are not even looked at.
    """
    if not price and not _texts:
        return spans
    for span in spans:
        try:
            extra = late_attributes(span, price)
            if extra:
                _add(span, extra)
        except Exception as exc:
            report_internal_error("exporting late attributes", exc)
    return spans


def _add(span: Any, extra: dict[str, Any]) -> None:
    merged = {**_attributes(span), **extra}
    with contextlib.suppress(AttributeError):  # not an SDK span: nothing to add to
        span._attributes = merged
