"""`make bench`: every figure the issues ask for, each as a ratio or against its target,
measured in this run on this machine (shared and noisy: read medians, not single runs)."""

from __future__ import annotations

import platform
import sys

from . import (
    evals_bench,
    faults,
    gate_calibration,
    lean_runtime,
    lean_start,
    production,
    releases,
    report_html,
    serve_ingest,
    store,
    tracing_overhead,
)


def main() -> None:
    quick = "--quick" in sys.argv
    print(
        f"llmtrace benchmarks on {platform.machine()} Python {platform.python_version()}"
        f"{' (quick)' if quick else ''}\n"
    )
    tracing_overhead.run()
    print()
    lean_start.run(quick=quick)
    print()
    lean_runtime.run(quick=quick)
    print()
    serve_ingest.run()
    print()
    store.run(with_ten_million=not quick)
    print()
    faults.run()
    print()
    evals_bench.run()
    print()
    releases.run()
    print()
    report_html.run()
    print()
    production.run(with_ten_million=not quick)
    print()
    gate_calibration.run(300 if quick else 1000)


if __name__ == "__main__":
    main()
