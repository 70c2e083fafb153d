"""Judge agreement with human labels (issue 13, part 9): Cohen's kappa and Krippendorff's
alpha against independent computations, and evals.calibrate end to end."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from statsmodels.stats.inter_rater import cohens_kappa, to_table

from llmtrace import evals
from llmtrace.evals.calibrate import calibrate, cohen_kappa, krippendorff_alpha_interval


@pytest.mark.parametrize("seed", range(5))
def test_cohen_kappa_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    first = list(rng.integers(0, 3, 60))
    second = [a if rng.random() < 0.7 else int(rng.integers(0, 3)) for a in first]
    table, _ = to_table(np.column_stack([first, second]))
    assert cohen_kappa(first, second) == pytest.approx(cohens_kappa(table).kappa, abs=1e-12)


def _alpha_by_coincidence_matrix(first, second):
    # Krippendorff (2011), "Computing Krippendorff's alpha-reliability": coincidence matrix
    # over pairable values, interval metric delta^2 = (c - k)^2
    values = sorted(set(first) | set(second))
    index = {v: i for i, v in enumerate(values)}
    o = np.zeros((len(values), len(values)))
    for a, b in zip(first, second, strict=True):
        o[index[a], index[b]] += 1.0  # each unit has m_u = 2: weight 1 / (m_u - 1) = 1
        o[index[b], index[a]] += 1.0
    n_c = o.sum(axis=1)
    total = n_c.sum()
    delta = np.array([[(c - k) ** 2 for k in values] for c in values])
    observed = (o * delta).sum()
    expected = sum(
        n_c[i] * n_c[j] * delta[i, j] for i, j in itertools.product(range(len(values)), repeat=2)
    ) / (total - 1)
    return 1.0 - observed / expected


@pytest.mark.parametrize("seed", range(5))
def test_krippendorff_alpha_matches_the_coincidence_matrix_computation(seed):
    rng = np.random.default_rng(seed)
    first = [float(v) for v in rng.integers(1, 6, 40)]
    second = [min(5.0, max(1.0, a + float(rng.integers(-1, 2)))) for a in first]
    assert krippendorff_alpha_interval(first, second) == pytest.approx(
        _alpha_by_coincidence_matrix(first, second), abs=1e-12
    )


def test_perfect_and_undefined_agreement():
    assert cohen_kappa([1, 0, 1], [1, 0, 1]) == 1.0
    assert math.isnan(cohen_kappa([1, 1], [1, 1]))
    assert krippendorff_alpha_interval([1.0, 2.0, 3.0], [1.0, 2.0, 3.0]) == 1.0


def _labelled(rows):
    return evals.Dataset.from_records(rows, name="labels")


def test_calibrate_a_binary_judge_with_a_bootstrap_interval():
    rows = [
        {"id": f"l{i}", "input": i, "metadata": {"output": i, "label": i % 3 != 0}}
        for i in range(90)
    ]
    # the judge agrees except on every 10th example
    judge = evals.judge(
        lambda example, output: float((output % 3 != 0) != (output % 10 == 0)),
        model="gpt-4o",
        version="strict-v1",
        name="helpful",
    )
    result = calibrate(judge, _labelled(rows), seed=3)
    human = [r["metadata"]["label"] for r in rows]
    machine = [(i % 3 != 0) != (i % 10 == 0) for i in range(90)]
    assert result.measure == "cohen_kappa" and result.n == 90
    assert result.agreement == pytest.approx(cohen_kappa(human, machine), abs=1e-12)
    assert result.ci_low < result.agreement < result.ci_high <= 1.0
    assert (result.judge, result.judge_version) == ("helpful", "strict-v1")
    assert result == calibrate(judge, _labelled(rows), seed=3)  # seeded


def test_calibrate_interval_labels_and_counts_judge_errors():
    rows = [
        {"id": f"l{i}", "input": i, "metadata": {"output": i, "label": (i % 5) / 4}}
        for i in range(50)
    ]

    def grade(example, output):
        if output == 7:
            raise RuntimeError("judge timed out")
        return (output % 5) / 4

    judge = evals.judge(grade, model="gpt-4o", version="g1", name="graded")
    result = calibrate(judge, _labelled(rows))
    assert result.measure == "krippendorff_alpha_interval" and result.agreement == 1.0
    assert result.judge_errors == 1 and result.n == 49
    assert "1 judge error(s) left out" in result.note


def test_calibrate_names_a_missing_label():
    judge = evals.judge(lambda e, o: 1.0, model="m", version="v", name="j")
    with pytest.raises(ValueError, match="example 'x' needs metadata 'output'"):
        calibrate(judge, _labelled([{"id": "x", "input": 1}]))
