"""Issue 19, the runtime half: the merger's memory, exit, many short processes, the ``@llm``
hot path and throughput into the store. Each figure is a ratio against a baseline measured in
this run (or a bound), printed next to its target. Every figure runs in fresh processes, so one
does not inherit another's heap, threads or merger.

    python -m bench.lean_runtime [--quick] [hot merger exit short loop]
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .common import line

ROOT = Path(__file__).resolve().parents[1]

# Every process runs with its modules' bytecode cached, as an installed package has it (pip
# compiles it at install), and as bench.lean_start runs them: with PYTHONDONTWRITEBYTECODE set
# (as here), or a source tree whose __pycache__ is stale, every traced process compiled the
# llmtrace modules an untraced one does not load from source, ~20 ms of CPU a process. The
# cache goes to a temporary PYTHONPYCACHEPREFIX, filled by one untimed run (``_warm``).
_PYCACHE = tempfile.mkdtemp(prefix="llmtrace-bench-pycache-")
atexit.register(shutil.rmtree, _PYCACHE, ignore_errors=True)
_BASE_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
_BASE_ENV["PYTHONPYCACHEPREFIX"] = _PYCACHE

# The @llm call every figure traces, and a raw OpenTelemetry span with the same attributes.
_PRELUDE = """
import gc, os, sys, time
RESPONSE = {"id": "chatcmpl-1", "model": "gpt-4o-mini",
            "choices": [{"message": {"content": "Paris."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30}}
MESSAGES = [{"role": "user", "content": "Capital of France?"}]
def model_call(messages):
    return RESPONSE
ATTRS = {"llmtrace.span.kind": "llm", "gen_ai.operation.name": "chat",
         "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini",
         "gen_ai.prompt.name": "answer", "gen_ai.prompt.version": "1", "llmtrace.prompt.hash": "x"}
END = {"gen_ai.response.model": "gpt-4o-mini", "gen_ai.response.id": "chatcmpl-1",
       "gen_ai.response.finish_reasons": ("stop",), "llmtrace.usage.source": "provider",
       "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30,
       "llmtrace.cost.usd": 3.6e-05, "llmtrace.cost.input_usd": 1.8e-05,
       "llmtrace.cost.output_usd": 1.8e-05, "llmtrace.pricing.source": "genai-prices"}
def raw_tracing():
    # A raw span with the same attributes on a provider of its own (a batch processor and an
    # exporter that drops): the provider, to flush, and the traced call.
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
    class Dropping(SpanExporter):
        def export(self, spans):
            return SpanExportResult.SUCCESS
    provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
    provider.add_span_processor(BatchSpanProcessor(Dropping(), max_queue_size=65536,
        max_export_batch_size=8192, schedule_delay_millis=500))
    tracer = provider.get_tracer("bench")
    def raw():
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=ATTRS) as span:
            result = model_call(MESSAGES)
            span.set_attributes(END)
            return result
    return provider, raw
MODE, N, DB = sys.argv[1], int(sys.argv[2]), sys.argv[3]
if MODE == "llmtrace":
    import llmtrace
    handle = llmtrace.configure(service_name="bench", db=DB)
    traced = llmtrace.llm(model="gpt-4o-mini", provider="openai")(model_call)
    def one():
        return traced(MESSAGES)
elif MODE == "raw":
    provider, one = raw_tracing()
else:  # untraced: the same program, nothing configured
    import llmtrace
    traced = llmtrace.llm(model="gpt-4o-mini", provider="openai")(model_call)
    def one():
        return traced(MESSAGES)
"""

# Exit: the time from the last traced call to the end of the process, seen from outside.
_EXIT = (
    _PRELUDE
    + """
for _ in range(N):
    one()
sys.stdout.write(repr(time.time()) + "\\n")
sys.stdout.flush()
"""
)

# Memory: 100k spans, then the merger's peak RSS (RUSAGE_CHILDREN once it was waited for).
_MEMORY = (
    _PRELUDE
    + """
import resource
for i in range(N):
    one()
    if i % 1000 == 999:
        time.sleep(0.002)  # an application does other things between calls
handle.shutdown()
child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(child)
"""
)

# Throughput: spans/s of a tight loop until every span is exported (stored, or dropped).
_LOOP = (
    _PRELUDE
    + """
import json
if MODE == "llmtrace":
    # The same raw span as the baseline, through llmtrace's provider into the store.
    from llmtrace._tracing.runtime import runtime
    tracer = runtime.tracer
    def one():
        with tracer.start_as_current_span("chat gpt-4o-mini", attributes=ATTRS) as span:
            result = model_call(MESSAGES)
            span.set_attributes(END)
            return result
start, cpu = time.perf_counter(), time.process_time()
for _ in range(N):
    one()
loop = time.perf_counter() - start
if MODE == "llmtrace":
    ok = handle.flush()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu  # this process's threads; the merger is another process
    dropped = sum(handle.dropped_spans.values())
    handle.shutdown()
    stored = llmtrace.query("SELECT count(*) AS n FROM spans")[0]["n"]
else:
    provider.force_flush()
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu
    ok, dropped, stored = True, 0, N
print(json.dumps({"rate": N / elapsed, "dropped": dropped, "stored": stored, "ok": ok,
                  "cpu": cpu, "flush": elapsed - loop}))
"""
)


# Hot path: per-call microseconds, interleaved, in one process: @llm into the real store, a
# workflow around it, and raw spans with the same attributes on a provider of its own (a batch
# processor and a dropping exporter): one, and a workflow span around one (the raw pair).
# Every timed run opens N spans, so the nested ones make N/2 calls: per_call_us collects before
# each run, and a run that opened 2N spans crossed CPython's full-collection threshold (25% of
# the long-lived heap; ~85 ms here) where a run of N did not, so each nested run carried one
# full collection that the single-span runs it was divided by never met (2.4-2.6x; 1.8x with
# N/2 calls). Raw and llmtrace spans keep the same objects alive (11 a span) until exported.
_HOT = (
    _PRELUDE
    + """
import json
from bench.common import interleaved, per_call_us, then
llm_call = one
flow = llmtrace.workflow("answer")(lambda m: traced(m))
provider, raw = raw_tracing()
raw_tracer = provider.get_tracer("bench")
FLOW = {"llmtrace.span.kind": "workflow", "gen_ai.operation.name": "invoke_workflow",
        "gen_ai.workflow.name": "answer"}
def raw_pair():
    with raw_tracer.start_as_current_span("invoke_workflow answer", attributes=FLOW):
        return raw()
llm_call(); flow(MESSAGES); raw(); raw_pair()
pairs = N // 2
figures = interleaved({  # each run flushed after it is timed: none drops for lack of room
    "raw": then(lambda: per_call_us(raw, N), provider.force_flush),
    "raw_pair": then(lambda: per_call_us(raw_pair, pairs), provider.force_flush),
    "llm": then(lambda: per_call_us(llm_call, N), handle.flush),
    "nested": then(lambda: per_call_us(lambda: flow(MESSAGES), pairs), handle.flush),
}, int(sys.argv[4]))
ok = handle.flush()
figures["dropped"] = sum(handle.dropped_spans.values())
print(json.dumps(figures))
"""
)


def _python(code: str, *args: str, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=_BASE_ENV if env is None else env,
        check=True,
    )
    return result.stdout


def _warm(folder: Path) -> None:
    """One untimed run of each mode, which fills the bytecode cache (a traced one also that of
    the merger it starts)."""
    for mode in ("raw", "untraced", "llmtrace"):
        _python(_EXIT, mode, "10", str(folder / "warm.duckdb"))


def _exit_env(fast: bool, extra: dict[str, str] | None = None) -> dict[str, str]:
    env = {k: v for k, v in _BASE_ENV.items() if k != "LLMTRACE_FAST_EXIT"}
    if fast:
        env["LLMTRACE_FAST_EXIT"] = "1"
    return {**env, **(extra or {})}


# The shared merger (exporters/duckdb/hub.py) turned off; and one of its own for each run (a
# setting no other process has: the hub's name hashes them), started cold by that process.
_NO_HUB = {"LLMTRACE_SHARED_MERGER": "0"}


def _cold_hub() -> dict[str, str]:
    return {"LLMTRACE_BENCH_COLD_HUB": str(time.monotonic_ns()), "LLMTRACE_MERGER_LINGER_S": "0"}


def _exit_ms(
    mode: str,
    spans: int,
    folder: Path,
    fast: bool = False,
    db: Path | None = None,
    extra: dict[str, str] | None = None,
) -> float:
    """Milliseconds from the last traced call to the end of the process, into a new store
    (or into ``db``)."""
    db = db or folder / f"exit-{mode}-{time.monotonic_ns()}.duckdb"
    process = subprocess.Popen(
        [sys.executable, "-c", _EXIT, mode, str(spans), str(db)],
        stdout=subprocess.PIPE,
        cwd=ROOT,
        env=_exit_env(fast, extra),
    )
    assert process.stdout is not None
    stamp = float(process.stdout.readline())
    process.wait()
    return (time.time() - stamp) * 1000


def _stored(db: Path) -> int:
    """Spans stored, read through llmtrace (which merges what waits in the spool first)."""
    import llmtrace

    return int(llmtrace.query("SELECT count(*) AS n FROM spans", db=db)[0]["n"])


def _plainly_stored(db: Path) -> int:
    """Spans a plain read-write ``duckdb.connect`` sees (0: no store, or the file was held)."""
    import duckdb

    try:
        conn = duckdb.connect(str(db))
    except duckdb.Error:
        return 0
    try:
        return int(conn.execute("SELECT count(*) FROM spans").fetchall()[0][0])
    except duckdb.Error:
        return 0
    finally:
        conn.close()


def _short_processes(
    mode: str,
    processes: int,
    spans: int,
    db: Path,
    fast: bool = False,
    extra: dict[str, str] | None = None,
) -> float:
    """Wall seconds for ``processes`` processes of ``spans`` calls each, all at once."""
    start = time.perf_counter()
    env = _exit_env(fast, extra)
    with ThreadPoolExecutor(processes) as pool:
        list(
            pool.map(lambda _: _python(_EXIT, mode, str(spans), str(db), env=env), range(processes))
        )
    return time.perf_counter() - start


def memory(spans: int, folder: Path) -> float:
    """The merger's peak RSS (MiB) after ``spans`` @llm spans; every span must have been
    stored by then (a merger that failed its files would measure low)."""
    db = folder / "memory.duckdb"
    peak = float(_python(_MEMORY, "llmtrace", str(spans), str(db)).split()[-1])
    stored = _plainly_stored(db)
    if stored != spans:
        raise RuntimeError(f"the memory run stored {stored} of {spans} spans")
    return peak


def merger_floor(folder: Path) -> float:
    """The peak RSS (MiB) of a merger that has stored one span into a store that exists: its
    Python, DuckDB and the store open, before any row group is in flight (what no setting of
    the merger's chunks or DuckDB's memory reaches below)."""
    from llmtrace.exporters.duckdb import merger_boot
    from llmtrace.exporters.duckdb.gathering import Document
    from llmtrace.exporters.duckdb.reading import encode_salvaging
    from llmtrace.store.connection import connect_write
    from llmtrace.store.spool import write_handoff
    from llmtrace.testing import make_spans

    db = folder / "floor.duckdb"
    connect_write(db).close()  # the store exists, as the shared merger leaves it
    document, _ = encode_salvaging(make_spans(1))
    assert isinstance(document, Document)
    path = write_handoff(db, document)
    boot = Path(merger_boot.__file__)
    process = subprocess.Popen(
        [sys.executable, str(boot), str(db), f"--parent={os.getpid()}"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env=_BASE_ENV,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(f"file {path}\n")
        process.stdin.flush()
        assert process.stdout.readline().split()[:2] == ["done", "1"]
        with open(f"/proc/{process.pid}/status") as status:
            peak = next(x for x in status if x.startswith("VmHWM:"))
        process.stdin.write("stop\n")
        process.stdin.flush()
    finally:
        process.stdin.close()
        process.wait()
    return int(peak.split()[1]) / 1024


def exits(repeats: int, folder: Path) -> dict[str, float]:
    """Exit times: raw OTel, llmtrace into a new store, into a store that exists (the usual
    case), with LLMTRACE_FAST_EXIT=1, into a new store through a shared merger started cold by
    the process itself, and with no shared merger (the process merges at exit itself)."""
    modes = ("raw", "llmtrace", "existing", "fast", "cold", "nohub")
    runs: dict[str, list[float]] = {mode: [] for mode in modes}
    existing = folder / "exit-existing.duckdb"
    _exit_ms("llmtrace", 10, folder, db=existing)  # creates it
    for _ in range(repeats):
        for mode in runs:
            fast = mode == "fast"
            db = existing if mode == "existing" else None
            traced = "raw" if mode == "raw" else "llmtrace"
            extra = _cold_hub() if mode == "cold" else _NO_HUB if mode == "nohub" else None
            runs[mode].append(_exit_ms(traced, 1000, folder, fast, db, extra))
    return {mode: statistics.median(values) for mode, values in runs.items()}


def _env(pause_gc: bool) -> dict[str, str]:
    env = {k: v for k, v in _BASE_ENV.items() if k != "LLMTRACE_EXPORT_PAUSES_GC"}
    if pause_gc:
        env["LLMTRACE_EXPORT_PAUSES_GC"] = "1"
    return env


def throughput(
    spans: int, repeats: int, folder: Path, *, pause_gc: bool = False
) -> dict[str, dict[str, float]]:
    runs: dict[str, list[dict[str, float]]] = {"raw": [], "llmtrace": []}
    for _ in range(repeats):
        for mode in runs:
            db = folder / f"loop-{time.monotonic_ns()}.duckdb"
            out = _python(_LOOP, mode, str(spans), str(db), env=_env(pause_gc))
            runs[mode].append(json.loads(out.splitlines()[-1]))
    return {
        mode: {
            "rate": statistics.median(r["rate"] for r in values),
            "cpu": statistics.median(r["cpu"] for r in values),
            "flush": statistics.median(r["flush"] for r in values),
            "dropped": max(r["dropped"] for r in values),
            "short": max(spans - r["stored"] for r in values),
        }
        for mode, values in runs.items()
    }


def hot_path(calls: int, repeats: int, folder: Path, *, pause_gc: bool = False) -> dict[str, float]:
    db = folder / f"hot-{time.monotonic_ns()}.duckdb"
    out = _python(_HOT, "llmtrace", str(calls), str(db), str(repeats), env=_env(pause_gc))
    return dict(json.loads(out.splitlines()[-1]))


def _hot_section(quick: bool, folder: Path) -> dict[str, float]:
    hot = hot_path(2_000 if quick else 4_000, 7 if quick else 21, folder)
    line("raw OTel span, same attributes, BSP + dropping", f"{hot['raw']:.2f} us/call")
    line("@llm into the real store", f"{hot['llm']:.2f} us/call")
    line("  ratio @llm / raw span", f"{hot['llm'] / hot['raw']:.2f}x", "(target <= 1.2x)")
    line("workflow -> @llm into the real store", f"{hot['nested']:.2f} us/call")
    line("  ratio nested / raw span", f"{hot['nested'] / hot['raw']:.2f}x", "(target <= 2.2x)")
    line("raw workflow span -> raw span, same attributes", f"{hot['raw_pair']:.2f} us/call")
    line("  ratio nested / raw pair", f"{hot['nested'] / hot['raw_pair']:.2f}x")
    line("  spans dropped", f"{hot['dropped']:.0f}", "(target: 0)")
    return {
        "llm_ratio": hot["llm"] / hot["raw"],
        "nested_ratio": hot["nested"] / hot["raw"],
        "nested_pair_ratio": hot["nested"] / hot["raw_pair"],
    }


def _merger_section(quick: bool, folder: Path) -> dict[str, float]:
    merger_mib = memory(100_000, folder)
    line("merger peak RSS, 100k @llm spans", f"{merger_mib:.0f} MiB", "(target <= 80 MiB)")
    floor_mib = merger_floor(folder)
    line(
        "  the same merger after one span (Python, DuckDB, the store open)", f"{floor_mib:.0f} MiB"
    )
    return {"merger_mib": merger_mib, "merger_floor_mib": floor_mib}


def _exit_section(quick: bool, folder: Path) -> dict[str, float]:
    exit_ms = exits(3 if quick else 7, folder)
    added = exit_ms["llmtrace"] - exit_ms["raw"]
    line("exit after 1,000 spans: raw OTel + dropping", f"{exit_ms['raw']:.0f} ms")
    line("exit after 1,000 spans: llmtrace + store", f"{exit_ms['llmtrace']:.0f} ms")
    line("  added at exit over raw OTel", f"{added:+.0f} ms", "(target <= +100 ms)")
    existing_added = exit_ms["existing"] - exit_ms["raw"]
    line("  the same into a store that exists already", f"{existing_added:+.0f} ms")
    fast_added = exit_ms["fast"] - exit_ms["raw"]
    line(
        "  with LLMTRACE_FAST_EXIT=1 (opt-in: merged by the next reader)",
        f"{fast_added:+.0f} ms",
    )
    cold_added = exit_ms["cold"] - exit_ms["raw"]
    line("  new store, the shared merger started cold by the process", f"{cold_added:+.0f} ms")
    nohub_added = exit_ms["nohub"] - exit_ms["raw"]
    line("  new store, no shared merger (LLMTRACE_SHARED_MERGER=0)", f"{nohub_added:+.0f} ms")
    return {
        "exit_added_cold_hub_ms": cold_added,
        "exit_added_no_hub_ms": nohub_added,
        "exit_added_existing_ms": existing_added,
        "exit_added_ms": added,
        "exit_added_fast_ms": fast_added,
    }


def _short_section(quick: bool, folder: Path) -> dict[str, float]:
    """Untraced and traced bursts alternate, a round each (one with --quick), and the ratio is
    the median of the rounds' ratios: a single burst on a shared machine moves by +-0.3x."""
    untraced: list[float] = []
    traced: list[float] = []
    stored: list[int] = []
    no_hub: list[float] = []
    no_hub_stored: list[int] = []
    for round_ in range(1 if quick else 3):
        untraced.append(_short_processes("untraced", 50, 10, folder / f"short-u{round_}.duckdb"))
        short_db = folder / f"short-{round_}.duckdb"
        traced.append(_short_processes("llmtrace", 50, 10, short_db))
        stored.append(_plainly_stored(short_db))
        no_hub_db = folder / f"short-no-hub-{round_}.duckdb"
        no_hub.append(_short_processes("llmtrace", 50, 10, no_hub_db, extra=_NO_HUB))
        no_hub_stored.append(_plainly_stored(no_hub_db))
    base = statistics.median(untraced)
    ratio = statistics.median(t / u for t, u in zip(traced, untraced, strict=True))
    no_hub_ratio = statistics.median(n / u for n, u in zip(no_hub, untraced, strict=True))
    fast_db = folder / "short-fast.duckdb"
    fast = _short_processes("llmtrace", 50, 10, fast_db, fast=True)
    fast_stored = _stored(fast_db)
    line("50 parallel processes x 10 spans: untraced", f"{base:.2f} s")
    line(
        "50 parallel processes x 10 spans: traced into one store",
        f"{statistics.median(traced):.2f} s",
    )
    rounds = " ".join(f"{t / u:.2f}" for t, u in zip(traced, untraced, strict=True))
    line("  ratio traced / untraced", f"{ratio:.2f}x", f"(target <= 1.5x; rounds {rounds})")
    line("  spans a plain duckdb.connect sees after", f"{min(stored)} of 500", "(target: all)")
    line("  with LLMTRACE_FAST_EXIT=1 (opt-in)", f"{fast / base:.2f}x")
    line("  spans stored (read through llmtrace)", f"{fast_stored} of 500", "(target: all)")
    no_hub_rounds = " ".join(f"{n / u:.2f}" for n, u in zip(no_hub, untraced, strict=True))
    line(
        "  no shared merger (LLMTRACE_SHARED_MERGER=0)",
        f"{no_hub_ratio:.2f}x",
        f"(rounds {no_hub_rounds})",
    )
    line(
        "  spans a plain duckdb.connect sees after", f"{min(no_hub_stored)} of 500", "(target: all)"
    )
    return {
        "short_ratio_no_hub": no_hub_ratio,
        "short_stored_no_hub": min(no_hub_stored),
        "short_ratio": ratio,
        "short_stored": min(stored),
        "short_ratio_fast": fast / base,
        "short_stored_fast": fast_stored,
    }


def _loop_section(quick: bool, folder: Path) -> dict[str, float]:
    loop_spans, loop_repeats = (20_000, 3) if quick else (100_000, 5)
    paused = throughput(loop_spans, loop_repeats, folder, pause_gc=True)
    line(
        "  with LLMTRACE_EXPORT_PAUSES_GC=1 (opt-in): store / raw OTel",
        f"{paused['llmtrace']['rate'] / paused['raw']['rate']:.2f}x",
    )
    loop = throughput(loop_spans, loop_repeats, folder)
    rate = loop["llmtrace"]["rate"] / loop["raw"]["rate"]
    line("tight loop: raw OTel + dropping exporter", f"{loop['raw']['rate']:,.0f} spans/s")
    line("tight loop: the same spans into the store", f"{loop['llmtrace']['rate']:,.0f} spans/s")
    line("  ratio store / raw OTel", f"{rate:.2f}x", "(target >= 0.8x)")
    cpu = loop["llmtrace"]["cpu"] / loop["raw"]["cpu"]
    line("  the traced process's CPU (all threads) / raw OTel's", f"{cpu:.2f}x")
    line("  of the store's wall time: the last flush", f"{loop['llmtrace']['flush']:.2f} s")
    line(
        "  spans dropped / not stored (worst run)",
        f"{loop['llmtrace']['dropped']:.0f} / {loop['llmtrace']['short']:.0f}",
        "(target: 0 / 0)",
    )
    return {"loop_ratio": rate, "loop_cpu_ratio": cpu}


SECTIONS = {
    "hot": _hot_section,
    "merger": _merger_section,
    "exit": _exit_section,
    "short": _short_section,
    "loop": _loop_section,
}


def run(quick: bool = False, sections: tuple[str, ...] = tuple(SECTIONS)) -> dict[str, float]:
    print("lean runtime (issue 19): merger, exit, short processes, throughput into the store")
    figures: dict[str, float] = {}
    with tempfile.TemporaryDirectory() as tmp:
        _warm(Path(tmp))
        for section in sections:
            figures |= SECTIONS[section](quick, Path(tmp))
    return figures


if __name__ == "__main__":
    # python -m bench.lean_runtime [--quick] [section ...]: every section unless some are named
    chosen = tuple(a for a in sys.argv[1:] if not a.startswith("--"))
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        sys.exit(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    run(quick="--quick" in sys.argv, sections=chosen or tuple(SECTIONS))
