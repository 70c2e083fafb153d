"""Statistics against independent computations (scipy, by hand), and the gate's calibration
and power by simulation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp

from llmtrace.evals import stats
from llmtrace.evals.simulation import simulate_max_drop_gates


@pytest.mark.parametrize("df", [1, 2, 3, 5, 9, 19, 29, 99, 199, 999, 5000])
@pytest.mark.parametrize("p", [0.5 + 0.8 / 2, 0.975, 0.995, 0.9995, 0.025, 0.6])
def test_t_quantile_matches_scipy(df, p):
    assert stats.t_quantile(p, df) == pytest.approx(sp.t.ppf(p, df), abs=1e-9)


def test_clustered_mean_against_hand_computation():
    # Three examples, two epochs: cluster means 0.5, 1.0, 0.0 -> mean 0.5,
    # sd of cluster means = 0.5, SE = 0.5 / sqrt(3), t(0.975, df=2) = 4.302652729911275.
    clusters = {"a": [1.0, 0.0], "b": [1.0, 1.0], "c": [0.0, 0.0]}
    interval = stats.clustered_mean(clusters, 0.95)
    se = 0.5 / math.sqrt(3)
    assert interval.estimate == 0.5 and interval.n == 3
    assert interval.se == pytest.approx(se, abs=1e-12)
    assert interval.low == pytest.approx(0.5 - 4.302652729911275 * se, abs=1e-9)
    assert interval.high == pytest.approx(0.5 + 4.302652729911275 * se, abs=1e-9)


def test_clustered_mean_matches_scipy_t_interval_on_fixed_data():
    rng = np.random.default_rng(42)
    clusters = {f"e{i}": list(rng.normal(0.7, 0.2, size=3)) for i in range(40)}
    means = np.array([np.mean(v) for v in clusters.values()])
    low, high = sp.t.interval(0.9, len(means) - 1, loc=means.mean(), scale=sp.sem(means))
    interval = stats.clustered_mean(clusters, 0.9)
    assert (interval.low, interval.high) == (
        pytest.approx(low, abs=1e-9),
        pytest.approx(high, abs=1e-9),
    )


def test_paired_difference_matches_scipy_paired_t():
    rng = np.random.default_rng(7)
    base = {f"e{i}": list(rng.random(2)) for i in range(60)}
    cand = {k: [v + 0.05 + rng.normal(0, 0.1) for v in vs] for k, vs in base.items()}
    diffs = np.array([np.mean(cand[k]) - np.mean(base[k]) for k in base])
    low, high = sp.t.interval(0.95, len(diffs) - 1, loc=diffs.mean(), scale=sp.sem(diffs))
    interval = stats.paired_difference(cand, base, 0.95)
    assert interval.estimate == pytest.approx(diffs.mean(), abs=1e-12)
    assert (interval.low, interval.high) == (
        pytest.approx(low, abs=1e-9),
        pytest.approx(high, abs=1e-9),
    )
    # Pairing matches by id: examples only in one run are ignored.
    extra = {**cand, "only-here": [1.0, 1.0]}
    assert stats.paired_difference(extra, base, 0.95).n == 60


@pytest.mark.parametrize(("k", "n"), [(0, 10), (3, 10), (50, 100), (199, 200), (10, 10)])
def test_wilson_interval_matches_statsmodels_formula(k, n):
    z = sp.norm.ppf(0.975)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    interval = stats.wilson_interval(k, n, 0.95)
    assert interval.low == pytest.approx(max(0.0, centre - half), abs=1e-9)
    assert interval.high == pytest.approx(min(1.0, centre + half), abs=1e-9)
    if k == 0:
        assert interval.low == 0.0
    if k == n:
        assert interval.high == 1.0


def test_bootstrap_is_seeded_and_covers_the_percentile():
    rng = np.random.default_rng(1)
    latencies = {f"e{i}": list(rng.lognormal(5, 0.5, size=2)) for i in range(200)}
    keys = sorted(latencies)

    def p95(chosen):
        return float(np.percentile([v for k in chosen for v in latencies[k]], 95))

    first = stats.bootstrap_interval(p95, keys, 0.95, seed=3)
    again = stats.bootstrap_interval(p95, keys, 0.95, seed=3)
    assert first == again
    assert first.low < first.estimate < first.high


def test_decision_rule():
    inside = stats.Interval(0.9, 0.85, 0.95, 100)
    straddles = stats.Interval(0.8, 0.75, 0.85, 100)
    outside = stats.Interval(0.7, 0.65, 0.75, 100)
    assert [stats.decide(i, 0.8, "min") for i in (inside, straddles, outside)] == [
        "pass",
        "warn",
        "fail",
    ]
    assert [stats.decide(i, 0.8, "max") for i in (outside, straddles, inside)] == [
        "pass",
        "warn",
        "fail",
    ]


def test_power_helpers():
    se = 0.01
    mde = stats.minimum_detectable_effect(se, 0.95, 0.8)
    assert mde == pytest.approx((sp.norm.ppf(0.975) + sp.norm.ppf(0.8)) * se, abs=1e-12)
    # Halving the distance needs four times the examples.
    assert stats.required_n(100, se, mde / 2, 0.95) == 400


def test_calibration_identical_candidate_fails_about_2_5_percent():
    share = simulate_max_drop_gates(200, 2, 0.8, 0.8, trials=1000, seed=11, difficulty_sd=1.0)
    assert 0.01 <= share <= 0.04, share


def test_power_a_five_point_drop_fails_at_least_80_percent_at_n_1000():
    share = simulate_max_drop_gates(1000, 1, 0.90, 0.85, trials=300, seed=5, difficulty_sd=0.0)
    assert share >= 0.80, share
