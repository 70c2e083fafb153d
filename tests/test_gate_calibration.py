"""Issue 13: a gate whose truth sits exactly on its bound passes, and fails, at most 4% of the
time (nominal 2.5%) for every metric kind, over small and large n and 1 or 3 epochs; and
max_drop still has the power to catch a real 5-point drop at n=1000.

A reduced grid (n up to 200, plus n=1000 for the cheap kinds) with 1000 replications a cell;
``python -m bench.gate_calibration`` prints the full grid. Seeds are fixed, so the shares are
deterministic.
"""

from __future__ import annotations

import numpy as np
import pytest

from llmtrace.evals import stats
from llmtrace.evals.simulation import (
    CALIBRATION_KINDS,
    _gate_bootstrap_p95,
    calibrate_kind,
    power_of_max_drop,
)

pytestmark = pytest.mark.simulation

REPLICATIONS = 1000
TARGET = 0.04
CHEAP_AT_1000 = {"binary mean", "p95", "cost per success", "relative bound", "unbounded mean"}
CELLS = [
    (kind, n, epochs)
    for kind in CALIBRATION_KINDS
    for n in (10, 20, 50, 200, 1000)
    for epochs in (1, 3)
    if (n < 1000 or kind in CHEAP_AT_1000) and not kind.startswith("p95 ")
]


@pytest.mark.parametrize(("kind", "n", "epochs"), CELLS)
def test_truth_on_the_bound_passes_and_fails_rarely(kind, n, epochs):
    cell = calibrate_kind(kind, n, epochs, replications=REPLICATIONS, seed=13)
    limit = TARGET
    assert cell.p_pass <= limit, f"{kind} n={n} epochs={epochs}: P(pass) {cell.p_pass:.1%}"
    assert cell.p_fail <= limit, f"{kind} n={n} epochs={epochs}: P(fail) {cell.p_fail:.1%}"


def test_p95_below_72_examples_never_passes():
    for n in (10, 20, 50):
        assert calibrate_kind("p95", n, 3, replications=200, seed=1).p_pass == 0.0


def test_a_five_point_drop_fails_max_drop_at_n_1000():
    assert power_of_max_drop(1000, 1, 0.90, 0.85, replications=300, seed=5) >= 0.80


def test_the_simulated_percentile_bootstrap_is_the_gates_own():
    # the vectorised p95 resamples equal stats.bootstrap_distribution over clustered_percentile
    # at the gate's seed, so the calibration measures what gates decide
    rng = np.random.default_rng(3)
    cand, base = rng.lognormal(6.0, 0.5, (15, 3)), rng.lognormal(6.0, 0.5, (15, 3))
    ours_c, ours_b = _gate_bootstrap_p95(cand, base, resamples=300)
    keys = [str(i) for i in range(15)]
    for values, ours in ((cand, ours_c), (base, ours_b)):
        by_key = dict(zip(keys, values.tolist(), strict=True))
        theirs = stats.bootstrap_distribution(
            lambda ks, by_key=by_key: stats.clustered_percentile([by_key[k] for k in ks], 95.0),
            keys,
            resamples=300,
            seed=0,
        )
        assert np.array_equal(ours, theirs)


@pytest.mark.parametrize("kind", ["p95 increase", "p95 rise"])
def test_percentile_baseline_comparisons_within_target(kind):
    # the bootstrap alone failed an on-the-bound candidate 11.8% (increase) and 7.2% (rise) of
    # the time at n=10; gates now warn below 72 examples, and at 100 the bootstrap is in target
    for n, replications in ((10, 300), (100, 200)):
        cell = calibrate_kind(kind, n, 1, replications=replications, seed=13)
        assert cell.p_pass <= TARGET and cell.p_fail <= TARGET, (kind, n, cell)
    alone = calibrate_kind(f"{kind}, bootstrap alone", 10, 1, replications=300, seed=13)
    assert alone.p_fail > TARGET  # what the refusal below 72 examples is for
