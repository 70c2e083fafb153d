"""Issue 13: every gate kind with its truth exactly on the bound, over n and epochs.

P(pass | truth on the bound) is how often a gate ships a candidate it had no evidence for;
P(fail | truth on the bound) how often it blocks one that is exactly good enough. Nominal is
2.5% each at confidence 0.95 (one-sided per bound); the target is at most 4% wherever the gate
decides. Also the power of max_drop: 0 against a true 5-point drop at n=1000 (target >= 80%).

Run alone with ``python -m bench.gate_calibration [--replications N]``.
"""

from __future__ import annotations

import sys
import time

from llmtrace.evals import stats
from llmtrace.evals.simulation import CALIBRATION_KINDS, calibrate_kind, power_of_max_drop

from .common import line

SIZES = (10, 20, 50, 200, 1000)
EPOCHS = (1, 3)
TARGET = 0.04


def _cannot_pass(kind: str, n: int) -> str:
    needed = stats.percentile_min_clusters(95.0, 0.95)
    if kind == "p95" and n < needed:
        return f"  (n < {needed}: cannot bound p95, never passes)"
    return ""


def calibration_table(
    replications: int = 1000, seed: int = 13
) -> list[tuple[str, int, int, float, float]]:
    """Print and return (kind, n, epochs, P(pass), P(fail)) for every cell of the grid."""
    print(f"gate calibration, truth on the bound ({replications} replications a cell, issue 13)")
    print(f"  {'kind':<17} {'n':>5} {'epochs':>6} {'P(pass)':>8} {'P(fail)':>8}")
    rows = []
    worst = 0.0
    for kind, (rule, _) in CALIBRATION_KINDS.items():
        print(f"  {kind}: {rule}")
        for n in SIZES:
            for epochs in EPOCHS:
                cell = calibrate_kind(kind, n, epochs, replications=replications, seed=seed)
                flag = " <-- over target" if max(cell.p_pass, cell.p_fail) > TARGET else ""
                print(
                    f"  {'':<17} {n:>5} {epochs:>6} {cell.p_pass:>8.1%} {cell.p_fail:>8.1%}"
                    f"{_cannot_pass(kind, n)}{flag}"
                )
                rows.append((kind, n, epochs, cell.p_pass, cell.p_fail))
                worst = max(worst, cell.p_pass, cell.p_fail)
    line("worst cell", f"{worst:.1%}", f"(target <= {TARGET:.0%}, nominal 2.5%)")
    return rows


def power(replications: int = 1000) -> dict[int, float]:
    """P(fail) of max_drop: 0 when accuracy truly falls from 90% to 85% at n=1000."""
    shares = {}
    for epochs in EPOCHS:
        shares[epochs] = power_of_max_drop(
            1000, epochs, 0.90, 0.85, replications=replications, seed=5
        )
        line(
            f"power: a true 5-point drop (90% -> 85%) fails max_drop: 0, n=1000, {epochs} epoch(s)",
            f"{shares[epochs]:.1%}",
            "(target >= 80%)",
        )
    return shares


def run(replications: int = 1000) -> None:
    start = time.perf_counter()
    calibration_table(replications)
    power(replications)
    line("simulation time", f"{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    count = 1000
    if "--replications" in sys.argv:
        count = int(sys.argv[sys.argv.index("--replications") + 1])
    run(count)
