"""``llmtrace score``: score stored LLM calls after the fact (online evaluation); exit 0 when
done, 2 on bad input (no content captured, a bad scorer), 130 when stopped (run it again to
resume: nothing is scored twice)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from typing import Annotated

import typer

from ..errors import Interrupted, UserError
from ..evals.production.scoring import ScoreReport, score_traces
from ..evals.production.windows import window_from_options
from ..evals.scorers import Scorer, scorer
from ._common import DbOption
from ._imports import import_reference
from ._store import writable_store

__all__ = ["load_scorer", "score_command"]


def load_scorer(reference: str) -> Scorer:
    """Import ``module:attribute`` (the current directory is importable): an evals.Scorer, or
    a function ``(example, output) -> float | bool`` scored as quality under its own name."""
    found, module_name, attribute = import_reference(
        reference, f"--scorer {reference!r}", "MODULE:SCORER, like scorers:helpful"
    )
    if isinstance(found, Scorer):
        return found
    if callable(found):
        return scorer(name=attribute)(found)
    raise UserError(f"--scorer {reference!r}: no scorer or function {attribute!r} in {module_name}")


@contextmanager
def _progress(show: bool) -> Iterator[Callable[[int, int], None] | None]:
    if not show:
        yield None
        return
    from rich.progress import Progress

    with Progress(transient=False) as bar:
        task = bar.add_task("score", total=None)

        def advance(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield advance


def _summary(report: ScoreReport) -> str:
    parts = [
        f"scored {report.scored} LLM call(s) in {report.window} with {report.scorer} "
        f"(version {report.version})",
        f"{report.already_scored} already scored by this version",
    ]
    if report.without_content:
        parts.append(f"{report.without_content} without captured content (capture was off)")
    if report.errors:
        parts.append(f"{report.errors} scorer error(s), not stored (retried next time)")
    return "; ".join(parts)


def score_command(
    scorer_ref: Annotated[
        str, typer.Option("--scorer", help="MODULE:SCORER to run.", metavar="MODULE:SCORER")
    ],
    since: Annotated[
        str, typer.Option(help="The window, like 1h, 7d..1d or an ISO time.", metavar="WHEN")
    ],
    until: Annotated[str | None, typer.Option(help="End of the window.", metavar="WHEN")] = None,
    sample: Annotated[
        float,
        typer.Option(help="Share of traces to score (the same ones every run).", metavar="SHARE"),
    ] = 1.0,
    where: Annotated[
        str | None, typer.Option(help="SQL on spans narrowing the traces.", metavar="SQL")
    ] = None,
    db: DbOption = None,
) -> None:
    """Score stored LLM calls with a scorer or judge and record the scores as evaluation
    events on their spans (idempotent and resumable)."""
    path = writable_store(db)
    window = window_from_options(since, until, datetime.now(timezone.utc))
    assert window is not None
    chosen = load_scorer(scorer_ref)
    with _progress(sys.stderr.isatty()) as advance:
        report = score_traces(
            chosen, window=window, where=where, sample=sample, db=path, on_progress=advance
        )
    typer.echo(_summary(report))
    if report.interrupted:
        raise Interrupted("score interrupted: the batches written stay; run it again to resume")
