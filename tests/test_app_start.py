"""Issue 19, the traced process's own start: ``configure()`` loads only what tracing into the
store needs. Prices load where a span is first priced, never for a process that gave none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import duckdb

from llmtrace._tracing import runtime as runtime_module
from llmtrace._tracing.runtime import install_prices, made_prices, runtime
from llmtrace.exporters.duckdb.reading import price_overrides
from llmtrace.pricing import PriceTable, load_user_prices

ROOT = Path(__file__).resolve().parents[1]

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
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    done = subprocess.run(
        [sys.executable, "-c", _APP, str(db)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=120,
    )
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
