"""Start-up leanness (#19): what ``import llmtrace``, ``configure()`` and a first traced call
load, and on which thread. Each case runs in a fresh interpreter, where sys.modules is honest."""

from __future__ import annotations

import json

import pytest

from tests.conftest import run_python

HEAVY = ("pyarrow", "numpy", "duckdb", "tiktoken")


def _loaded(code: str, *modules: str) -> dict[str, object]:
    """Run ``code`` in a fresh interpreter and return which of ``modules`` it left loaded,
    plus anything it put in ``out`` (a dict the code may fill)."""
    done = run_python(
        "import json, sys\nout = {}\n"
        + code
        + f"\nout['loaded'] = [m for m in {list(modules)!r} if m in sys.modules]"
        + "\nprint(json.dumps(out))"
    )
    assert done.returncode == 0, done.stderr
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_import_llmtrace_loads_no_storage_or_tokenizer():
    assert _loaded("import llmtrace, sys", *HEAVY, "genai_prices")["loaded"] == []


def test_public_names_load_only_what_they_need():
    found = _loaded(
        "import llmtrace\n"
        "from llmtrace import configure, context, llm, Prompt, Decision\n"
        "out['all'] = all(hasattr(llmtrace, name) for name in llmtrace.__all__)\n",
        *HEAVY,
    )
    assert found["all"] is True  # query among them, which loads the store: checked last
    tracing_only = _loaded("from llmtrace import configure, llm, workflow, tool", *HEAVY)
    assert tracing_only["loaded"] == []
    assert _loaded("from llmtrace import query", "duckdb")["loaded"] == ["duckdb"]


def test_calls_load_the_tokenizer_and_prices_only_when_needed_and_off_the_app_thread(tmp_path):
    found = _loaded(
        f"""
import threading, importlib.abc
loads = {{}}
class Watch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name in ("tiktoken", "genai_prices", "pyarrow", "duckdb"):
            loads[name] = threading.current_thread().name
        return None
sys.meta_path.insert(0, Watch())
import llmtrace
handle = llmtrace.configure(db={str(tmp_path / "t.duckdb")!r})
loads.clear()  # building the store's exporter may load pyarrow and duckdb; calls may not
@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def given(messages):
    return {{"choices": [{{"message": {{"content": "Paris."}}}}],
            "usage": {{"prompt_tokens": 12, "completion_tokens": 3}}}}
given([{{"role": "user", "content": "Capital of France?"}}])
out["after_given"] = dict(loads)
import time
assert handle.flush()
out["after_flush"] = dict(loads)
@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def estimated(messages):
    return "Paris."
estimated([{{"role": "user", "content": "Capital of France?"}}])
deadline = time.monotonic() + 60
while "tiktoken" not in loads and time.monotonic() < deadline:
    time.sleep(0.05)
assert handle.flush()
out["after_estimate"] = dict(loads)
source = "attributes['llmtrace.usage.source']"
out["rows"] = llmtrace.query(
    f"SELECT input_tokens, {{source}} AS usage_source, cost_usd FROM llm_calls ORDER BY start_time"
)
""",
        "tiktoken",
    )
    assert found["after_given"] == {}, found  # the call itself loaded nothing heavy
    after_flush = found["after_flush"]
    assert isinstance(after_flush, dict)
    assert "tiktoken" not in after_flush  # nothing to estimate: no tokenizer at all
    # Priced, normalised and stored by the merger process: the application loads none of it.
    assert not {"genai_prices", "pyarrow", "duckdb"} & set(after_flush), found
    after_estimate = found["after_estimate"]
    assert isinstance(after_estimate, dict)
    assert after_estimate["tiktoken"] != "MainThread", found
    rows = found["rows"]
    assert isinstance(rows, list) and len(rows) == 2 and rows[0]["input_tokens"] == 12
    assert rows[1]["usage_source"] == "estimate" and rows[1]["input_tokens"] > 0
    assert all(r["cost_usd"] > 0 for r in rows)


_FORK_WHILE_LOADING = """
import os, sys, threading, time
from llmtrace import pricing, tokens
load, lock, use = {case}
threading.Thread(target=load).start()
while not lock.locked():
    time.sleep(0.0005)
pid = os.fork()
if pid == 0:
    use()
    os._exit(0)
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    finished, status = os.waitpid(pid, os.WNOHANG)
    if finished:
        print("child exit", os.waitstatus_to_exitcode(status))
        break
    time.sleep(0.05)
else:
    os.kill(pid, 9)
    print("child hung")
"""


@pytest.mark.parametrize(
    "case",
    [
        '(lambda: tokens.get_encoding("o200k_base"), tokens._lock,'
        ' lambda: tokens.count_tokens("hello"))',
        "(pricing.genai_prices_snapshot, pricing._snapshot_lock,"
        ' lambda: pricing.PriceTable().rates("gpt-4o-mini", "openai"))',
    ],
    ids=["tokenizer", "prices"],
)
def test_a_fork_while_an_exporter_thread_loads_the_tokenizer_or_prices_waits_for_it(case):
    """Without the fork guard the child inherits the loading thread's lock, held forever."""
    done = run_python(_FORK_WHILE_LOADING.format(case=case), timeout=120)
    assert done.stdout.strip() == "child exit 0", done.stdout + done.stderr


def test_without_configure_the_tracer_and_prices_load_at_the_first_span():
    found = _loaded(
        """
from llmtrace import llm
out["before"] = [m for m in ("llmtrace.pricing", "importlib.metadata") if m in sys.modules]
from importlib.metadata import version
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from llmtrace._tracing.late import with_late_attributes
exporter = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(exporter))
trace.set_tracer_provider(provider)
@llm(model="gpt-4o-mini", provider="openai")
def call(messages):
    return {"usage": {"prompt_tokens": 1000, "completion_tokens": 100}}
call("hi")
[span] = with_late_attributes(exporter.get_finished_spans())
out["scope"] = [span.instrumentation_scope.name, span.instrumentation_scope.version]
out["version"] = version("llmtrace")
out["cost"] = span.attributes.get("llmtrace.cost.usd")
"""
    )
    assert found["before"] == []
    assert found["scope"] == ["llmtrace", found["version"]]
    assert isinstance(found["cost"], float) and found["cost"] > 0
