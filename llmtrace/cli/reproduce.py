"""``llmtrace reproduce RUN``: exit 0 when the run is reproducible, 1 naming what differs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..evals.release_errors import NotReproducible
from ..evals.reproduce import reproduce
from ._common import DbOption
from ._store import readable_store, writable_store
from .evals import load_suite

__all__ = ["reproduce_command"]


def reproduce_command(
    run: Annotated[str, typer.Argument(metavar="RUN", help="A run id (unique prefix).")],
    dataset: Annotated[
        Path | None,
        typer.Option(
            "--dataset", help="The dataset file now (default: its recorded source).", metavar="PATH"
        ),
    ] = None,
    rerun: Annotated[
        str | None,
        typer.Option(
            "--rerun",
            help="Run MODULE:SUITE again and gate it (max_drop: 0).",
            metavar="MODULE:SUITE",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Check that a run could be made again: dataset hash, prompt hash, pinned model and
    judges, clean git commit, package versions (and, with --rerun, the same quality)."""
    path = writable_store(db) if rerun else readable_store(db)
    suite = load_suite(rerun) if rerun else None
    if suite is not None:
        from .._config import configure

        configure(db=path)
    result = reproduce(run, dataset=dataset, rerun=suite, db=path)
    typer.echo(result.to_text())
    if not result.reproducible:
        raise NotReproducible(f"run {result.run_id} is not reproducible", result.failures)
