"""Issue 19, the traced process's own start: ``configure()`` loads only what tracing into the
store needs. Prices load where a span is first priced, never for a process that gave none. The
provider it creates samples as the SDK's default would, in fewer calls."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import duckdb
from opentelemetry.context import Context
from opentelemetry.sdk.trace.sampling import ALWAYS_ON, ParentBased
from opentelemetry.trace import (
    INVALID_SPAN,
    NonRecordingSpan,
    SpanContext,
    SpanKind,
    TraceFlags,
    TraceState,
    set_span_in_context,
)
from opentelemetry.util.types import Attributes

from llmtrace._tracing import runtime as runtime_module
from llmtrace._tracing.runtime import install_prices, made_prices, runtime
from llmtrace._tracing.sampling import ParentBasedAlwaysOn, sampler_for
from llmtrace.exporters.duckdb.reading import price_overrides
from llmtrace.pricing import PriceTable, load_user_prices
from tests.conftest import run_python

_APP = """
import json, sys
import llmtrace

handle = llmtrace.configure(service_name="start", db=sys.argv[1])


@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(i):
    return {"usage": {"prompt_tokens": 1000, "completion_tokens": 500}}


for i in range(20):
    call(i)
ok = handle.flush()
print(json.dumps({"ok": ok, "pricing": "llmtrace.pricing" in sys.modules}))
"""


def test_a_process_that_gives_no_prices_loads_no_pricing_and_its_spans_are_priced(
    tmp_path: Path,
) -> None:
    db = tmp_path / "start.duckdb"
    done = run_python(_APP, args=[str(db)])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout.strip().splitlines()[-1]) == {"ok": True, "pricing": False}
    with duckdb.connect(str(db), read_only=True) as conn:
        count, priced = conn.execute("SELECT count(*), count(cost_usd) FROM spans").fetchall()[0]
    assert (count, priced) == (20, 20)  # the merger priced them from genai-prices


def _restore(saved: Any) -> None:
    runtime.prices = saved


def test_user_prices_travel_until_configure_runs_again_without_them() -> None:
    saved = runtime.prices
    try:
        install_prices(load_user_prices({"house-model": {"input": 1.0, "output": 2.0}}))
        carried = price_overrides()
        assert carried is not None and set(carried) == {"house-model"}
        install_prices({})
        assert made_prices() is None  # a stand-in: nothing asked the pricing module
        assert price_overrides() is None
        # The stand-in still prices when used, with genai-prices' table.
        assert runtime.prices.rates("gpt-4o-mini", "openai") is not None
        assert isinstance(made_prices(), PriceTable)
        assert price_overrides() is None
    finally:
        _restore(saved)


def test_a_stand_in_used_late_does_not_undo_what_configure_set_meanwhile() -> None:
    saved = runtime.prices
    try:
        install_prices({})
        stale = runtime.prices  # an exporter thread holds the stand-in
        mine = PriceTable(load_user_prices({"house-model": {"input": 1.0, "output": 2.0}}))
        with runtime_module._swap_lock:
            runtime.prices = mine  # configure(prices=...) ran meanwhile
        assert stale.rates("house-model") is None  # the stand-in answers with its own table
        assert runtime.prices is mine
    finally:
        _restore(saved)


def _parent_contexts() -> list[Context | None]:
    state = TraceState([("vendor", "value")])
    contexts: list[Context | None] = [None, Context(), set_span_in_context(INVALID_SPAN)]
    for remote in (False, True):
        for flags in (TraceFlags(TraceFlags.SAMPLED), TraceFlags(TraceFlags.DEFAULT)):
            parent = SpanContext(
                0xABC, 0xDEF, is_remote=remote, trace_flags=flags, trace_state=state
            )
            contexts.append(set_span_in_context(NonRecordingSpan(parent)))
    return contexts


def test_the_default_sampler_decides_as_the_sdks_default_does() -> None:
    ours, sdks = ParentBasedAlwaysOn(), ParentBased(ALWAYS_ON)
    assert ours.get_description() == sdks.get_description()  # type: ignore[no-untyped-call]
    choices: tuple[Attributes, ...] = (None, {"llmtrace.span.kind": "llm", "n": 1})
    for context in _parent_contexts():
        for attributes in choices:
            mine = ours.should_sample(context, 0xABC, "span", SpanKind.INTERNAL, attributes, ())
            theirs = sdks.should_sample(context, 0xABC, "span", SpanKind.INTERNAL, attributes, ())
            assert mine.decision is theirs.decision
            assert dict(mine.attributes) == dict(theirs.attributes)
            assert mine.trace_state == theirs.trace_state


def test_a_provider_llmtrace_creates_samples_as_asked(monkeypatch: Any) -> None:
    monkeypatch.delenv("OTEL_TRACES_SAMPLER", raising=False)
    assert isinstance(sampler_for(1.0), ParentBasedAlwaysOn)
    ratio = sampler_for(0.25)
    assert isinstance(ratio, ParentBased) and "0.25" in ratio.get_description()  # type: ignore[no-untyped-call]
    monkeypatch.setenv("OTEL_TRACES_SAMPLER", "always_off")
    assert sampler_for(1.0) is None  # the SDK reads the variable
