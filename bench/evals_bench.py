"""Issues 5 and 6: eval runner throughput against the ideal, and the gate's calibration and
power by simulation."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import llmtrace
from llmtrace import evals
from llmtrace.evals.simulation import simulate_max_drop_gates

from .common import line


def _timed_run(examples: int, epochs: int, concurrency: int, sleep_s: float) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        handle = llmtrace.configure(service_name="bench", db=Path(tmp) / "evals.duckdb")
        dataset = evals.Dataset.from_records(
            [{"id": f"ex{i}", "input": i, "expected": i} for i in range(examples)], name="bench"
        )

        def target(example: evals.Example) -> object:
            time.sleep(sleep_s)
            return example.input

        suite = evals.Suite(
            name="bench", dataset=dataset, target=target, scorers=[evals.exact_match()]
        )
        start = time.perf_counter()
        run = suite.run(model="stand-in", epochs=epochs, concurrency=concurrency, progress=False)
        wall = time.perf_counter() - start
        handle.shutdown()
    assert len(run.results) == examples * epochs
    return wall


def runner_throughput(
    examples: int = 1000, epochs: int = 3, concurrency: int = 32, sleep_s: float = 0.020
) -> float:
    cold = _timed_run(examples, epochs, concurrency, sleep_s)  # pays imports and first loads
    wall = statistics.median(_timed_run(examples, epochs, concurrency, sleep_s) for _ in range(3))
    ideal = examples * epochs * sleep_s / concurrency
    print("eval runner (issue 5)")
    line(
        f"{examples} x {epochs} epochs, 20 ms target, concurrency {concurrency} (median of 3)",
        f"{wall:.2f} s",
    )
    line("ideal (examples x epochs x 20 ms / concurrency)", f"{ideal:.2f} s")
    line("ratio wall / ideal", f"{wall / ideal:.2f}x", "(target <= 1.30x)")
    line("ratio for the first (cold) run in the process", f"{cold / ideal:.2f}x")
    return wall / ideal


def gate_statistics() -> dict[str, float]:
    start = time.perf_counter()
    calibration = simulate_max_drop_gates(200, 2, 0.8, 0.8, trials=1000, seed=11, difficulty_sd=1.0)
    power = simulate_max_drop_gates(1000, 1, 0.90, 0.85, trials=1000, seed=5)
    print("gate statistics by simulation (issue 6)")
    line(
        "identical candidate fails max_drop: 0 (n=200, 2 epochs, 1000 gates)",
        f"{calibration:.1%}",
        "(target 2.5% +/- 1.5)",
    )
    line("true 5-point drop from 90% fails (n=1000, 1000 gates)", f"{power:.1%}", "(target >= 80%)")
    line("simulation time", f"{time.perf_counter() - start:.1f} s")
    return {"calibration": calibration, "power": power}


def run() -> None:
    runner_throughput()
    print()
    gate_statistics()


if __name__ == "__main__":
    run()
