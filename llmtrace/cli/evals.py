"""``llmtrace eval MODULE:SUITE`` runs a suite for one triple; ``llmtrace runs`` lists runs."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..evals.dataset import DatasetError
from ..evals.runner import TARGET_SCORER, Run, Suite
from ._common import DbOption, OutputFormat, UserError, console, emit_rows, read_rows, resolve_db

_RUNS = """
SELECT r.run_id, r.suite, r.dataset_version, r.model, r.prompt_version, r.epochs, r.status,
       r.started_at, count(DISTINCT (e.example_id, e.epoch)) AS example_epochs,
       round(avg(e.score) FILTER (WHERE e.kind = 'quality'), 4) AS mean_quality,
       round(avg(1 - e.score) FILTER (WHERE e.scorer = 'target'), 4) AS error_rate
FROM eval_runs r LEFT JOIN eval_results e USING (run_id)
GROUP BY ALL ORDER BY r.started_at DESC LIMIT ?
"""


def load_suite(reference: str) -> Suite:
    """Import ``module:attribute`` (the current directory is importable) and check it."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise UserError(f"{reference!r}: expected MODULE:SUITE, like evals.qa:suite")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except DatasetError as exc:
        raise UserError(str(exc)) from None
    except ImportError as exc:
        raise UserError(f"cannot import {module_name!r}: {exc}") from None
    suite = getattr(module, attribute, None)
    if suite is None:
        raise UserError(f"module {module_name!r} has no attribute {attribute!r}")
    if callable(suite) and not isinstance(suite, Suite):
        suite = suite()
    if not isinstance(suite, Suite):
        raise UserError(f"{reference} is {type(suite).__name__}, not an evals.Suite")
    return suite


def print_run(run: Run) -> None:
    table = Table(
        title=f"run {run.id}: {run.suite} / {run.model} / prompt "
        f"{run.prompt_version or '-'} / dataset {run.dataset_version}"
    )
    table.add_column("scorer")
    table.add_column("mean", justify="right")
    table.add_column("errors", justify="right")
    names = [n for n in (run.results[0].scores if run.results else {}) if n != TARGET_SCORER]
    for name in names:
        mean = run.mean(name)
        errors = sum(r.scores[name].error is not None for r in run.results)
        table.add_row(name, "-" if mean is None else f"{mean:.4f}", str(errors))
    console.print(table)
    console.print(
        f"{len(run.results)} example-epochs, error rate {run.error_rate:.2%}, status {run.status}"
    )


def eval_command(
    reference: Annotated[str, typer.Argument(metavar="MODULE:SUITE")],
    model: Annotated[str, typer.Option(help="The model of the triple.")],
    prompt_version: Annotated[str | None, typer.Option(help="One of the suite's prompts.")] = None,
    epochs: Annotated[int, typer.Option(min=1)] = 1,
    concurrency: Annotated[int, typer.Option(min=1)] = 8,
    seed: Annotated[int, typer.Option()] = 0,
    db: DbOption = None,
) -> None:
    """Run a suite for one (dataset version, model, prompt version) triple and store it."""
    suite = load_suite(reference)
    try:
        prompt = suite.prompt_for(prompt_version) if prompt_version else None
    except ValueError as exc:
        raise UserError(str(exc)) from None
    from .._config import configure

    path = resolve_db(db)
    configure(db=path)
    run = suite.run(
        model=model, prompt=prompt, epochs=epochs, concurrency=concurrency, seed=seed, db=path
    )
    print_run(run)
    typer.echo(run.id)


def runs(
    limit: Annotated[int, typer.Option(help="How many recent runs.")] = 20,
    fmt: Annotated[OutputFormat, typer.Option("--format", "-f")] = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """Recent eval runs with their triple, status and headline scores."""
    columns, rows = read_rows(db, _RUNS, [limit])
    emit_rows(columns, rows, fmt, title="eval runs")
