"""``evals.calibrate(judge, labelled)``: how well a judge agrees with human labels.

Cohen's kappa for binary or categorical labels (agreement beyond what the two label
distributions would give by chance), Krippendorff's alpha with the interval metric for graded
labels; both with a seeded bootstrap interval over examples. A judge whose agreement is not
shown to be high should not decide a release on its own.

The labelled dataset is an :class:`~llmtrace.evals.Dataset` whose rows carry, in ``metadata``,
the ``output`` to judge and the human ``label`` (``expected`` stays the reference answer the
judge may use). A judge error is left out and counted, never scored.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Literal

import numpy as np

from .._store_path import default_db_path
from . import stats
from .calibration_store import JudgeCalibration, store_calibration
from .dataset import Dataset
from .scorers import Scorer

__all__ = ["JudgeCalibration", "calibrate", "cohen_kappa", "krippendorff_alpha_interval"]

LabelKind = Literal["binary", "categorical", "interval"]


def cohen_kappa(first: Sequence[Hashable], second: Sequence[Hashable]) -> float:
    """Cohen's kappa of two raters over the same items: (p_o - p_e) / (1 - p_e), with p_e from
    each rater's own label frequencies. NaN when p_e is 1 (both raters always give one label)."""
    if len(first) != len(second) or not first:
        raise ValueError("cohen_kappa needs two equally long, non-empty label lists")
    n = len(first)
    categories = sorted(set(first) | set(second), key=repr)
    observed = sum(a == b for a, b in zip(first, second, strict=True)) / n
    expected = sum((first.count(c) / n) * (second.count(c) / n) for c in categories)
    if expected >= 1.0:
        return math.nan
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha_interval(first: Sequence[float], second: Sequence[float]) -> float:
    """Krippendorff's alpha, interval metric, for two coders who both rated every unit:
    1 - D_o / D_e with D_o the mean squared difference within units and D_e the mean squared
    difference over all pairs of the 2n values. NaN when every value is the same."""
    a = np.asarray(first, dtype=float)
    b = np.asarray(second, dtype=float)
    if a.shape != b.shape or not len(a):
        raise ValueError("krippendorff_alpha_interval needs two equally long, non-empty lists")
    values = np.concatenate([a, b])
    total = len(values)
    expected = 2.0 * float(((values - values.mean()) ** 2).sum()) / (total - 1)
    if expected == 0.0:
        return math.nan
    observed = float(((a - b) ** 2).mean())
    return 1.0 - observed / expected


def _label_kind(labels: Sequence[Any]) -> LabelKind:
    if all(isinstance(v, bool) or v in (0, 1) for v in labels):
        return "binary"
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in labels):
        return "interval"
    return "categorical"


def _judged(judge: Scorer, labelled: Dataset) -> tuple[list[Any], list[Any], int]:
    human, machine, errors = [], [], 0
    for example in labelled.examples:
        if "label" not in example.metadata or "output" not in example.metadata:
            raise ValueError(
                f"labelled dataset {labelled.name!r}: example {example.id!r} needs metadata "
                "'output' (what the judge grades) and 'label' (the human verdict)"
            )
        score = judge.score(example, example.metadata["output"])
        if score.value is None:
            errors += 1
            continue
        human.append(example.metadata["label"])
        machine.append(score.value)
    return human, machine, errors


def _measure(
    kind: LabelKind, human: list[Any], machine: list[Any]
) -> Callable[[Sequence[str]], float]:
    """The agreement of the examples whose positions are given (as strings, for the bootstrap)."""
    if kind == "binary":
        human = [bool(v) for v in human]
        machine = [v >= 0.5 for v in machine]

    def measure(chosen: Sequence[str]) -> float:
        first = [human[int(k)] for k in chosen]
        second = [machine[int(k)] for k in chosen]
        if kind == "interval":
            return krippendorff_alpha_interval(first, second)
        return cohen_kappa(first, second)

    return measure


def calibrate(
    judge: Scorer,
    labelled: Dataset,
    *,
    labels: LabelKind | None = None,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
    db: str | os.PathLike[str] | None = None,
) -> JudgeCalibration:
    """Grade every labelled example with ``judge`` and measure its agreement with the labels.

    ``labels`` is inferred when not given: 0/1 or bool labels are binary (the judge's score is
    read as pass at 0.5 or more), other numbers interval, anything else categorical (compared
    with the judge's value as is). The interval is a seeded percentile bootstrap over examples;
    resamples where the measure is undefined widen it (see
    :func:`llmtrace.evals.stats.interval_from_distribution`).

    With ``db`` the result is also stored there (table ``judge_calibrations``), where the
    ``judge.<name>.agreement`` gate metric and the reports find it for the judge version that
    scored a run.

    Example:
        >>> result = evals.calibrate(helpful_judge, evals.Dataset.from_jsonl("labels.jsonl"))
        >>> result.agreement, result.ci_low, result.judge_version
    """
    human, machine, errors = _judged(judge, labelled)
    if len(human) < 2:
        raise ValueError(
            f"judge {judge.name!r} scored {len(human)} labelled example(s) ({errors} judge "
            "error(s)); calibration needs at least 2"
        )
    kind = labels or _label_kind(human)
    keys = [str(i) for i in range(len(human))]
    measure = _measure(kind, human, machine)
    values = stats.bootstrap_distribution(measure, keys, resamples=resamples, seed=seed)
    interval = stats.interval_from_distribution(measure(keys), values, len(keys), confidence)
    note = f"{errors} judge error(s) left out" if errors else ""
    result = JudgeCalibration(
        judge.name,
        judge.judge_model,
        judge.judge_version,
        labelled.version,
        "krippendorff_alpha_interval" if kind == "interval" else "cohen_kappa",
        interval.estimate,
        interval.low,
        interval.high,
        len(keys),
        errors,
        confidence,
        "; ".join(n for n in (note, interval.note) if n),
        labelled.name,
    )
    if db is not None:
        store_calibration(default_db_path(db), result)
    return result
