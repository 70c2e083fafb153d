"""``llmtrace calibrate MODULE:JUDGE --labels FILE``: measure a judge against human labels and
store the result, where the ``judge.<name>.agreement`` gate metric and the reports find it.
Exit 0 when stored, 2 on bad input (a bad reference, not a judge, an unreadable or unlabelled
file)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

import typer

from ..errors import UserError
from ..evals.calibrate import calibrate
from ..evals.calibration_store import store_calibration
from ..evals.dataset import Dataset
from ..evals.scorers import Scorer
from ._common import DbOption
from ._imports import import_reference
from ._store import writable_store

__all__ = ["calibrate_command", "load_judge"]


def load_judge(reference: str) -> Scorer:
    """Import ``module:attribute`` (the current directory is importable): an ``evals.judge``."""
    found, module_name, attribute = import_reference(
        reference, repr(reference), "MODULE:JUDGE, like judges:helpful"
    )
    if not isinstance(found, Scorer):
        raise UserError(f"{reference!r}: {attribute!r} in {module_name} is not an evals.judge")
    if found.judge_version is None:
        raise UserError(
            f"{reference!r}: scorer {found.name!r} is not a judge (no judge version): only a "
            "judge's agreement with human labels is calibrated"
        )
    return found


def _labelled(path: Path) -> Dataset:
    if path.suffix.lower() == ".csv":
        return Dataset.from_csv(path)
    return Dataset.from_jsonl(path)


def calibrate_command(
    judge_ref: Annotated[str, typer.Argument(metavar="MODULE:JUDGE", help="The judge to measure.")],
    labels: Annotated[
        Path,
        typer.Option(
            help="Labelled dataset (JSONL, or CSV by its extension): each row's metadata has "
            "the 'output' to judge and the human 'label'.",
            metavar="FILE",
        ),
    ],
    kind: Annotated[
        Literal["binary", "categorical", "interval"] | None,
        typer.Option(help="How to read the labels (default: inferred).", metavar="KIND"),
    ] = None,
    confidence: Annotated[float, typer.Option(min=0.5, max=0.999)] = 0.95,
    resamples: Annotated[int, typer.Option(min=200, max=100_000)] = 2000,
    seed: Annotated[int, typer.Option()] = 0,
    db: DbOption = None,
) -> None:
    """Measure a judge's agreement with human labels (Cohen's kappa or Krippendorff's alpha,
    with a bootstrap interval) and store it for the judge version it measured."""
    judge = load_judge(judge_ref)
    labelled = _labelled(labels)
    path = writable_store(db)
    try:
        result = calibrate(
            judge, labelled, labels=kind, confidence=confidence, resamples=resamples, seed=seed
        )
    except ValueError as exc:
        raise UserError(f"--labels {labels}: {exc}") from None
    store_calibration(path, result)
    typer.echo(
        f"judge {result.judge} version {result.judge_version}: {result.measure} "
        f"{result.agreement:.3g} [{result.ci_low:.3g}, {result.ci_high:.3g}] at "
        f"{confidence:.0%} on {result.n} labels ({labelled.name}@{labelled.version})"
        + (f"; {result.note}" if result.note else "")
        + f"; stored in {path}"
    )
