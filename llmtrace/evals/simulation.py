"""Simulated gates, to check the decision rule's calibration and power (tests and bench)."""

from __future__ import annotations

import numpy as np

from . import stats

__all__ = ["simulate_max_drop_gates"]


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


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
        base = {f"e{i}": base_draws[i].astype(float).tolist() for i in range(n_examples)}
        cand = {f"e{i}": cand_draws[i].astype(float).tolist() for i in range(n_examples)}
        interval = stats.paired_difference(cand, base, confidence)
        failures += stats.decide(interval, 0.0, "min") == "fail"
    return failures / trials
