"""Issue 19, lean start: what a user feels before and at the first span, each figure measured
in whole fresh processes beside its baseline in the same run (interleaved, medians).

- ``import llmtrace`` against ``import opentelemetry.sdk.trace``;
- the first traced call of a process against its second, usage given or estimated;
- ``llmtrace --help``, and ``llmtrace sql`` / ``stats`` on a 1M-span store against the same
  query through the duckdb module;
- the application process's peak RSS after 100k ``@llm`` spans into the store against raw
  OpenTelemetry with the same spans and a dropping exporter.

    python -m bench.lean_start [--quick] [imports first_call cli_help cli_queries memory]

Wall times of whole processes are noisy on a shared machine: each line also gives the
processes' CPU time (user + system), which other processes disturb less.

Every process runs with its modules' bytecode cached, as an installed package has it: with
``PYTHONDONTWRITEBYTECODE`` set (as in some shells and CI) llmtrace's own modules, unlike the
baselines' site-packages, would be compiled from source in every process (~20 ms of a CLI run).
The cache goes to a temporary ``PYTHONPYCACHEPREFIX``, not into the source tree, and each
command runs once untimed to fill it.
"""

from __future__ import annotations

import atexit
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import line

PY = sys.executable
CLI = str(Path(PY).with_name("llmtrace"))
_PYCACHE = tempfile.mkdtemp(prefix="llmtrace-bench-pycache-")
atexit.register(shutil.rmtree, _PYCACHE, ignore_errors=True)
_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
_ENV["PYTHONPYCACHEPREFIX"] = _PYCACHE

_IMPORTS = {
    "python (nothing imported)": "pass",
    "import opentelemetry.sdk.trace": "import opentelemetry.sdk.trace",
    "import llmtrace": "import llmtrace",
    "from llmtrace import configure, llm": "from llmtrace import configure, llm",
}

_FIRST_CALL = """
import json, sys, tempfile, time
import llmtrace
folder = tempfile.mkdtemp()
handle = llmtrace.configure(db=folder + "/t.duckdb")
time.sleep(0.05)  # the application starts up: whatever configure() began runs meanwhile
estimated = sys.argv[1] == "estimated"
@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(messages):
    if estimated:
        return "Paris is the capital of France."
    return {"choices": [{"message": {"content": "Paris."}}],
            "usage": {"prompt_tokens": 12, "completion_tokens": 3}}
times = []
for _ in range(3):
    start = time.perf_counter()
    call([{"role": "user", "content": "Capital of France?"}])
    times.append((time.perf_counter() - start) * 1000)
handle.flush()
print(json.dumps(times))
"""

_SPANS = 100_000
_PEAK = """
def peak_mib():  # VmHWM: this process's own peak (ru_maxrss keeps a big parent's across exec)
    with open("/proc/self/status") as status:
        return int(status.read().split("VmHWM:")[1].split()[0]) / 1024
"""
_MEMORY_LLMTRACE = (
    _PEAK
    + """
import sys
import llmtrace
handle = llmtrace.configure(db=sys.argv[2])
@llmtrace.llm(model="gpt-4o-mini", provider="openai")
def call(messages):
    return {"id": "c1", "model": "gpt-4o-mini",
            "choices": [{"message": {"content": "Paris."}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 30}}
for _ in range(int(sys.argv[1])):
    call([{"role": "user", "content": "Capital of France?"}])
ok = handle.flush()
lost = sum(handle.dropped_spans.values())
print(peak_mib(), ok, lost)
"""
)
_MEMORY_RAW = (
    _PEAK
    + """
import sys
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult
class Dropping(SpanExporter):
    def export(self, spans):
        return SpanExportResult.SUCCESS
provider = TracerProvider(resource=Resource.create({"service.name": "bench"}))
provider.add_span_processor(BatchSpanProcessor(Dropping()))
tracer = provider.get_tracer("bench")
start = {"llmtrace.span.kind": "llm", "gen_ai.operation.name": "chat",
         "gen_ai.provider.name": "openai", "gen_ai.request.model": "gpt-4o-mini"}
end = {"gen_ai.response.model": "gpt-4o-mini", "gen_ai.response.id": "c1",
       "gen_ai.response.finish_reasons": ("stop",), "llmtrace.usage.source": "provider",
       "gen_ai.usage.input_tokens": 120, "gen_ai.usage.output_tokens": 30}
for _ in range(int(sys.argv[1])):
    with tracer.start_as_current_span("chat gpt-4o-mini", attributes=start) as span:
        span.set_attributes(end)
provider.shutdown()
print(peak_mib())
"""
)


def _process(args: list[str]) -> tuple[float, float, str]:
    """Wall and CPU milliseconds of one process run to its end, and its stdout."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    done = subprocess.run(args, capture_output=True, text=True, check=False, timeout=600, env=_ENV)
    wall = (time.perf_counter() - start) * 1000
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError(f"{args[:3]} failed: {done.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000
    return wall, cpu, done.stdout


def _medians(commands: dict[str, list[str]], repeats: int) -> dict[str, tuple[float, float]]:
    """Median wall and CPU ms of each command, the commands interleaved run by run, after one
    untimed run of each (bytecode cached, files in the page cache)."""
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for args in commands.values():
        _process(args)
    for _ in range(repeats):
        for name, args in commands.items():
            wall, cpu, _ = _process(args)
            walls[name].append(wall)
            cpus[name].append(cpu)
    return {n: (statistics.median(walls[n]), statistics.median(cpus[n])) for n in commands}


def _ms(figure: tuple[float, float]) -> str:
    return f"{figure[0]:.0f} ms ({figure[1]:.0f} cpu)"


def imports(repeats: int) -> dict[str, float]:
    found = _medians({name: [PY, "-c", code] for name, code in _IMPORTS.items()}, repeats)
    sdk = found["import opentelemetry.sdk.trace"]
    print("import (whole process)")
    for name, figure in found.items():
        ratio = f"{figure[0] / sdk[0]:.2f}x wall, {figure[1] / sdk[1]:.2f}x cpu of the sdk"
        target = "(target <= 1.5x)" if name == "import llmtrace" else ""
        line(name, _ms(figure), f"{ratio} {target}")
    return {
        "import_ratio": found["import llmtrace"][0] / sdk[0],
        "import_tracing_ratio": found["from llmtrace import configure, llm"][0] / sdk[0],
    }


def first_call(repeats: int) -> dict[str, float]:
    print("first traced call in a fresh process, 50 ms after configure(db=...)")
    figures: dict[str, float] = {}
    for usage in ("given", "estimated"):
        extra, firsts = [], []
        _process([PY, "-c", _FIRST_CALL, usage])  # untimed: bytecode cached
        for _ in range(repeats):
            times = json.loads(_process([PY, "-c", _FIRST_CALL, usage])[2])
            extra.append(times[0] - times[1])
            firsts.append(times[0])
        figures[f"first_call_extra_ms_{usage}"] = statistics.median(extra)
        line(
            f"usage {usage}: first call, and its excess over the second",
            f"{statistics.median(firsts):.2f} / +{statistics.median(extra):.2f} ms",
            "(target <= +5 ms)",
        )
    return figures


def cli_help(repeats: int) -> dict[str, float]:
    found = _medians({"python": [PY, "-c", "pass"], "help": [CLI, "--help"]}, repeats)
    print("CLI start (whole process)")
    line("python -c pass", _ms(found["python"]))
    line("llmtrace --help", _ms(found["help"]), "(target < 150 ms)")
    return {"help_ms": found["help"][0], "python_ms": found["python"][0]}


def cli_queries(repeats: int) -> dict[str, float]:
    """``llmtrace sql`` and ``stats`` on 1M spans against the same SQL in ``python -c``."""
    from llmtrace.cli.stats import stats_sql

    from .store import build_store

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "store-1m.duckdb"
        build_store(path, 1)
        sql = "SELECT model, count(*) AS n, sum(cost_usd) AS cost FROM llm_calls GROUP BY 1"
        stats, params = stats_sql(["model"], "llm", None)
        direct = (
            "import duckdb, sys; c = duckdb.connect(sys.argv[1], read_only=True); "
            "print(c.execute(sys.argv[2], {}).fetchall())"
        )
        found = _medians(
            {
                "duckdb sql": [PY, "-c", direct.format("None"), str(path), sql],
                "llmtrace sql": [CLI, "sql", sql, "--db", str(path)],
                "duckdb stats": [PY, "-c", direct.format(repr(params)), str(path), stats],
                "llmtrace stats": [CLI, "stats", "--db", str(path)],
            },
            repeats,
        )
    print("CLI queries on 1M spans (whole process)")
    figures: dict[str, float] = {}
    for what in ("sql", "stats"):
        base, ours = found[f"duckdb {what}"], found[f"llmtrace {what}"]
        line(f"the {what} query through the duckdb module (python -c)", _ms(base))
        line(
            f"llmtrace {what}",
            _ms(ours),
            f"{ours[0] / base[0]:.2f}x wall, {ours[1] / base[1]:.2f}x cpu (target <= 1.3x)",
        )
        figures[f"{what}_ratio"] = ours[0] / base[0]
    return figures


def _stored(path: Path) -> int:
    from llmtrace.store.query import open_store_for_read  # merges what the process left

    conn = open_store_for_read(path)
    try:
        return int(conn.execute("SELECT count(*) FROM spans").fetchall()[0][0])
    finally:
        conn.close()


def memory(repeats: int) -> dict[str, float]:
    ours, raw = [], []
    checks = ""
    for i in range(repeats):
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"m{i}.duckdb"
            out = _process([PY, "-c", _MEMORY_LLMTRACE, str(_SPANS), str(path)])[2]
            rss, ok, lost = out.split()
            checks = f"flushed {ok}, lost {lost}, stored {_stored(path):,}"
        ours.append(float(rss))
        raw.append(float(_process([PY, "-c", _MEMORY_RAW, str(_SPANS)])[2]))
    ours_mib, raw_mib = statistics.median(ours), statistics.median(raw)
    print(f"peak RSS of the application process after {_SPANS:,} spans")
    line("raw OpenTelemetry, same attributes, dropping exporter", f"{raw_mib:.0f} MiB")
    line(f"@llmtrace.llm into the store ({checks})", f"{ours_mib:.0f} MiB")
    line("  llmtrace over raw", f"+{ours_mib - raw_mib:.0f} MiB", "(target <= +40 MiB)")
    return {"rss_extra_mib": ours_mib - raw_mib}


SECTIONS = ("imports", "first_call", "cli_help", "cli_queries", "memory")


def run(quick: bool = False, sections: tuple[str, ...] = SECTIONS) -> dict[str, float]:
    print("lean start (issue 19)")
    repeats = {
        "imports": 7 if quick else 11,
        "first_call": 3 if quick else 7,
        "cli_help": 7 if quick else 11,
        "cli_queries": 3 if quick else 7,
        "memory": 1 if quick else 3,
    }
    figures: dict[str, float] = {}
    for section in sections:
        figures |= globals()[section](repeats[section])
    return figures


if __name__ == "__main__":
    # python -m bench.lean_start [--quick] [section ...]: every section unless some are named
    chosen = tuple(a for a in sys.argv[1:] if not a.startswith("--"))
    unknown = sorted(set(chosen) - set(SECTIONS))
    if unknown:
        sys.exit(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    run(quick="--quick" in sys.argv, sections=chosen or SECTIONS)
