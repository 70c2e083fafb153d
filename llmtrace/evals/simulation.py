"""Simulated gates, to measure the decision rule's calibration and power (tests and bench).

Each calibration cell draws many runs whose true metric sits exactly on the gate's bound and
decides the bound with the same :mod:`llmtrace.evals.stats` call the gate makes for that
metric. Both shares should be at most ``(1 - confidence) / 2`` (2.5% at 0.95): P(pass | truth on
the bound) is how often the gate ships a candidate it had no evidence for, P(fail | truth on the
bound) how often it blocks one that is exactly good enough. Epochs of one example are
correlated (each example has its own difficulty or latency level), as in real evals.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from . import stats

__all__ = [
    "BOOTSTRAP_ALONE_KINDS",
    "CALIBRATION_KINDS",
    "Calibration",
    "calibrate_kind",
    "power_of_max_drop",
    "simulate_max_drop_gates",
]

Rng = np.random.Generator
Decide = Callable[[Rng, int, int, float], str]


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _clusters(matrix: np.ndarray) -> dict[str, list[float]]:
    return dict(zip((f"e{i}" for i in range(len(matrix))), matrix.tolist(), strict=True))


def _example_rates(rng: Rng, n: int, mean: float, concentration: float) -> np.ndarray:
    """Per-example success probabilities with population mean exactly ``mean``: Beta with
    that mean, so epochs of one example agree more than chance (intra-class correlation
    1 / (1 + concentration))."""
    return rng.beta(mean * concentration, (1.0 - mean) * concentration, size=n)


def _binary(rng: Rng, n: int, epochs: int, mean: float) -> dict[str, list[float]]:
    rates = _example_rates(rng, n, mean, concentration=4.0)
    return _clusters((rng.random((n, epochs)) < rates[:, None]).astype(float))


# --- one gate per metric kind, truth on the bound ----------------------------------------------
def _binary_mean(rng: Rng, n: int, epochs: int, confidence: float) -> str:
    bound = 0.9
    interval = stats.clustered_rate(_binary(rng, n, epochs, bound), confidence)
    return stats.decide(interval, bound, "min")


def _continuous_mean(rng: Rng, n: int, epochs: int, confidence: float) -> str:
    # judge scores in [0, 1]: each example has a mean score, each epoch a Beta draw around it
    bound = 0.8
    means = rng.beta(bound * 6.0, (1.0 - bound) * 6.0, size=n)
    scores = rng.beta(
        means[:, None] * 10.0 + 1e-9, (1.0 - means[:, None]) * 10.0 + 1e-9, (n, epochs)
    )
    interval = stats.bounded_mean(_clusters(scores), confidence)
    return stats.decide(interval, bound, "min")


def _rate(rng: Rng, n: int, epochs: int, confidence: float) -> str:
    bound = 0.05
    interval = stats.clustered_rate(_binary(rng, n, epochs, bound), confidence)
    return stats.decide(interval, bound, "max")


def _small_rate(rng: Rng, n: int, epochs: int, confidence: float) -> str:
    # the "zero-bound" regime: a rate bound of 1%, true rate 1%, most samples see none
    bound = 0.01
    interval = stats.clustered_rate(_binary(rng, n, epochs, bound), confidence)
    return stats.decide(interval, bound, "max")


_LATENCY_EXAMPLE_SD, _LATENCY_EPOCH_SD = 0.5, 0.3


def _latency(rng: Rng, n: int, epochs: int) -> np.ndarray:
    level = rng.normal(6.0, _LATENCY_EXAMPLE_SD, size=n)
    return np.exp(level[:, None] + rng.normal(0.0, _LATENCY_EPOCH_SD, size=(n, epochs)))


@functools.cache
def _true_mixture_p95(epochs: int) -> float:
    # each example weighs once: the mixture is lognormal(6, sqrt(sd_u^2 + sd_e^2)) whatever
    # the epochs, so the truth is closed-form
    sd = (_LATENCY_EXAMPLE_SD**2 + _LATENCY_EPOCH_SD**2) ** 0.5
    return float(np.exp(6.0 + NormalDist().inv_cdf(0.95) * sd))


def _latency_mean(rng: Rng, n: int, epochs: int, confidence: float) -> str:
    # latency.mean_ms max: true mean; lognormal, right-skewed like real latency
    bound = float(np.exp(6.0 + (_LATENCY_EXAMPLE_SD**2 + _LATENCY_EPOCH_SD**2) / 2.0))
    latency = _clusters(_latency(rng, n, epochs))
    interval = stats.clustered_mean(latency, confidence, skew_correction=True)
    return stats.decide(interval, bound, "max")


def _p95(rng: Rng, n: int, epochs: int, confidence: float) -> str:
    bound = _true_mixture_p95(epochs)
    interval = stats.percentile_interval(_clusters(_latency(rng, n, epochs)), 95.0, confidence)
    return stats.decide(interval, bound, "max")


def _cost_per_success(rng: Rng, n: int, epochs: int, confidence: float) -> str:
    # cost per example-epoch lognormal with an example effect, successes from example rates;
    # truth = E[cost] / P(success) = exp(mu + sd^2 / 2) / 0.8
    success = (rng.random((n, epochs)) < _example_rates(rng, n, 0.8, 4.0)[:, None]).astype(float)
    cost = np.exp(rng.normal(-7.0, 0.4, size=n)[:, None] + rng.normal(0.0, 0.3, (n, epochs)))
    bound = float(np.exp(-7.0 + (0.4**2 + 0.3**2) / 2.0)) / 0.8
    interval = stats.ratio_interval(cost.sum(axis=1), success.sum(axis=1), confidence)
    return stats.decide(interval, bound, "max")


def _relative(rng: Rng, n: int, epochs: int, confidence: float) -> str:
    # cost.usd_per_example max_increase_pct: 10, the candidate costs exactly 10% more
    level = rng.normal(-7.0, 0.5, size=n)[:, None]
    base = np.exp(level + rng.normal(0.0, 0.3, (n, epochs))).mean(axis=1)
    cand = 1.1 * np.exp(level + rng.normal(0.0, 0.3, (n, epochs))).mean(axis=1)
    ratio = stats.ratio_interval(cand, base, confidence)
    return stats.decide(ratio, 1.1, "max")


def _paired_drop(rng: Rng, n: int, epochs: int, confidence: float) -> str:
    # quality max_drop: 0, candidate as good as the baseline (shared example difficulty)
    rates = _example_rates(rng, n, 0.8, 4.0)
    base = (rng.random((n, epochs)) < rates[:, None]).astype(float)
    cand = (rng.random((n, epochs)) < rates[:, None]).astype(float)
    interval = stats.paired_difference(_clusters(cand), _clusters(base), confidence, bounded=True)
    return stats.decide(interval, 0.0, "min")


_GATE_RESAMPLES = 2000  # a gates file's default bootstrap_resamples (and seed 0)


def _gate_bootstrap_p95(
    cand: np.ndarray, base: np.ndarray, resamples: int = _GATE_RESAMPLES
) -> tuple[np.ndarray, np.ndarray]:
    """The p95 of candidate and baseline on exactly the cluster resamples a gate draws
    (:func:`stats.bootstrap_distribution` at seed 0), vectorised: with equal epochs the
    per-example mixture's p95 is the plain inverted-CDF p95 of the chosen values."""
    m, epochs = base.shape
    # one draw of all the resamples is the same stream as the gate's one rng.choice a resample
    chosen = np.random.default_rng(0).integers(0, m, size=(resamples, m))
    k = int(np.ceil(0.95 * m * epochs - 1e-9)) - 1

    def p95(values: np.ndarray) -> np.ndarray:
        picked = values[chosen].reshape(resamples, m * epochs)
        return np.partition(picked, k, axis=1)[:, k]

    return p95(cand), p95(base)


def _percentile_comparison(
    rng: Rng, n: int, epochs: int, confidence: float, *, rise: bool, refuse: bool = True
) -> str:
    # latency.p95_ms against the baseline: the candidate is 1.1x slower on every example, so
    # its p95 is exactly 10% (and 0.1 * p95 ms) higher; bootstrap as the gate does
    level = rng.normal(6.0, _LATENCY_EXAMPLE_SD, size=n)[:, None]
    base = np.exp(level + rng.normal(0.0, _LATENCY_EPOCH_SD, size=(n, epochs)))
    cand = 1.1 * np.exp(level + rng.normal(0.0, _LATENCY_EPOCH_SD, size=(n, epochs)))
    if refuse and n < stats.percentile_min_clusters(95.0, confidence):
        return "warn"  # the gate: too few examples for a percentile comparison either way
    c_values, b_values = _gate_bootstrap_p95(cand, base)
    c_all = stats.clustered_percentile(cand.tolist(), 95.0)
    b_all = stats.clustered_percentile(base.tolist(), 95.0)
    if rise:
        bound = 0.1 * _true_mixture_p95(epochs)
        values, estimate = c_values - b_values, c_all - b_all
    else:
        bound = 10.0
        values, estimate = (c_values / b_values - 1.0) * 100.0, (c_all / b_all - 1.0) * 100.0
    interval = stats.interval_from_distribution(estimate, values, n, confidence)
    return stats.decide(interval, bound, "max")


def _p95_increase(rng: Rng, n: int, epochs: int, confidence: float) -> str:
    return _percentile_comparison(rng, n, epochs, confidence, rise=False)


def _p95_rise(rng: Rng, n: int, epochs: int, confidence: float) -> str:
    return _percentile_comparison(rng, n, epochs, confidence, rise=True)


# The bootstrap alone at every n, as gates decided before they refused percentile comparisons
# below 72 examples: it failed an on-the-bound candidate 11.8% of the time at n=10.
BOOTSTRAP_ALONE_KINDS: dict[str, tuple[str, Decide]] = {
    "p95 increase, bootstrap alone": (
        "latency.p95_ms max_increase_pct: 10, without the n >= 72 refusal",
        lambda rng, n, e, c: _percentile_comparison(rng, n, e, c, rise=False, refuse=False),
    ),
    "p95 rise, bootstrap alone": (
        "latency.p95_ms max_rise: 0.1 x p95, without the n >= 72 refusal",
        lambda rng, n, e, c: _percentile_comparison(rng, n, e, c, rise=True, refuse=False),
    ),
}


CALIBRATION_KINDS: dict[str, tuple[str, Decide]] = {
    "binary mean": ("quality.x min: 0.9, true accuracy 0.9", _binary_mean),
    "continuous mean": ("quality.judge min: 0.8, true mean score 0.8", _continuous_mean),
    "unbounded mean": ("latency.mean_ms max: true mean (lognormal)", _latency_mean),
    "rate": ("errors.rate max: 0.05, true rate 0.05", _rate),
    "zero-bound rate": ("safety.violation_rate max: 0.01, true rate 0.01", _small_rate),
    "p95": ("latency.p95_ms max: true p95 (lognormal)", _p95),
    "cost per success": ("cost.usd_per_success max: true ratio", _cost_per_success),
    "relative bound": ("cost.usd_per_example max_increase_pct: 10, true +10%", _relative),
    "paired max_drop": ("quality.x max_drop: 0, identical accuracy 0.8", _paired_drop),
    "p95 increase": ("latency.p95_ms max_increase_pct: 10, true +10%", _p95_increase),
    "p95 rise": ("latency.p95_ms max_rise: 0.1 x p95, true rise", _p95_rise),
}


@dataclass(frozen=True)
class Calibration:
    """One cell: how often a gate whose truth sits on its bound passes, and fails."""

    kind: str
    n: int
    epochs: int
    replications: int
    p_pass: float
    p_fail: float


def calibrate_kind(
    kind: str, n: int, epochs: int, *, replications: int, seed: int, confidence: float = 0.95
) -> Calibration:
    """Decide ``replications`` simulated gates of ``kind`` with the truth on the bound."""
    kinds = {**CALIBRATION_KINDS, **BOOTSTRAP_ALONE_KINDS}
    decide = kinds[kind][1]
    # the first nine kinds keep the seeds they had before more were added
    order = sorted(list(kinds)[:9]) + list(kinds)[9:]
    rng = np.random.default_rng([seed, n, epochs, order.index(kind)])
    outcomes = [decide(rng, n, epochs, confidence) for _ in range(replications)]
    return Calibration(
        kind,
        n,
        epochs,
        replications,
        outcomes.count("pass") / replications,
        outcomes.count("fail") / replications,
    )


def power_of_max_drop(
    n: int, epochs: int, p_baseline: float, p_candidate: float, *, replications: int, seed: int
) -> float:
    """P(fail) of ``max_drop: 0`` when the candidate is truly worse (shared difficulty)."""
    rng = np.random.default_rng([seed, n, epochs])
    fails = 0
    for _ in range(replications):
        difficulty = rng.normal(0.0, 1.0, size=n)
        base_p = 1.0 / (1.0 + np.exp(-(_logit(p_baseline) + difficulty)))
        cand_p = 1.0 / (1.0 + np.exp(-(_logit(p_candidate) + difficulty)))
        base = (rng.random((n, epochs)) < base_p[:, None]).astype(float)
        cand = (rng.random((n, epochs)) < cand_p[:, None]).astype(float)
        interval = stats.paired_difference(_clusters(cand), _clusters(base), 0.95, bounded=True)
        fails += stats.decide(interval, 0.0, "min") == "fail"
    return fails / replications


def simulate_max_drop_gates(
    n_examples: int,
    epochs: int,
    p_baseline: float,
    p_candidate: float,
    *,
    trials: int,
    seed: int,
    difficulty_sd: float = 0.0,
    confidence: float = 0.95,
) -> float:
    """The share of ``max_drop: 0`` gates that fail when per-example-epoch correctness is drawn
    with the given accuracies. ``difficulty_sd`` > 0 gives each example its own difficulty
    (on the logit scale, shared by both runs and all epochs), so epochs of one example are
    correlated as in real evals; at 0 the accuracies are exact."""
    rng = np.random.default_rng(seed)
    failures = 0
    for _ in range(trials):
        difficulty = rng.normal(0.0, difficulty_sd, size=n_examples)
        p_base = 1.0 / (1.0 + np.exp(-(_logit(p_baseline) + difficulty)))
        p_cand = 1.0 / (1.0 + np.exp(-(_logit(p_candidate) + difficulty)))
        base_draws = rng.random((n_examples, epochs)) < p_base[:, None]
        cand_draws = rng.random((n_examples, epochs)) < p_cand[:, None]
        interval = stats.paired_difference(
            _clusters(cand_draws.astype(float)),
            _clusters(base_draws.astype(float)),
            confidence,
            bounded=True,
        )
        failures += stats.decide(interval, 0.0, "min") == "fail"
    return failures / trials
