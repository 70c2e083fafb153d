"""``llmtrace eval MODULE:SUITE`` runs a suite for one triple; ``llmtrace runs`` lists runs."""

from __future__ import annotations

import contextlib
import importlib
import signal
import sys
import traceback
from collections.abc import Iterator
from pathlib import Path
from types import FrameType
from typing import Annotated

import typer

from ..errors import Interrupted, RunInterrupted, UserError
from ..evals.runner import TARGET_SCORER, Run, Suite
from ._common import (
    DbOption,
    FormatOption,
    OutputFormat,
    emit_rows,
    id_column,
    limit_option,
    read_rows,
)
from ._store import writable_store
from ._table import Column, compact_number, render

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
    except UserError:
        raise  # a dataset error names its file and line already
    except ModuleNotFoundError as exc:
        if exc.name and module_name.startswith(exc.name):
            raise UserError(
                f"cannot import {module_name!r}: no module named {exc.name!r}"
            ) from None
        raise UserError(_import_failure(module_name, exc)) from None
    except Exception as exc:
        raise UserError(_import_failure(module_name, exc)) from None
    suite = getattr(module, attribute, None)
    if suite is None:
        raise UserError(f"module {module_name!r} has no attribute {attribute!r}")
    if callable(suite) and not isinstance(suite, Suite):
        suite = suite()
    if not isinstance(suite, Suite):
        raise UserError(f"{reference} is {type(suite).__name__}, not an evals.Suite")
    return suite


def _import_failure(module_name: str, exc: BaseException) -> str:
    """``importing 'm' raised ValueError: ... (m.py, line 3)``: where, not a traceback."""
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "importlib" not in f.filename]
    where = f" ({frames[-1].filename}, line {frames[-1].lineno})" if frames else ""
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"importing {module_name!r} raised {type(exc).__name__}: {message}{where}"


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised in the main thread so the run stops like on Ctrl-C."""

    signum = signal.SIGTERM


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise _Terminated()

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def print_run(run: Run) -> None:
    typer.echo(
        f"run {run.id}: {run.suite} / {run.model} / prompt {run.prompt_version or '-'} / "
        f"dataset {run.dataset_version}"
    )
    names = [n for n in (run.results[0].scores if run.results else {}) if n != TARGET_SCORER]
    rows = []
    for name in names:
        mean = run.mean(name)
        errors = sum(r.scores[name].error is not None for r in run.results)
        rows.append((name, "-" if mean is None else compact_number(mean), errors))
    if rows:
        columns = [Column("scorer"), Column("mean", numeric=True), Column("errors", numeric=True)]
        for line in render(columns, rows):
            typer.echo(line)
    failed = sum(r.error is not None for r in run.results)
    typer.echo(
        f"{len(run.results)} example-epochs, {failed} failed ({run.error_rate:.0%}), "
        f"status {run.status}"
    )


def eval_command(
    reference: Annotated[
        str,
        typer.Argument(
            metavar="MODULE:SUITE",
            help="Where the suite is: a module importable from here and the name of an "
            "evals.Suite in it (or of a function returning one), like evals.qa:suite.",
        ),
    ],
    model: Annotated[str, typer.Option(help="The model of the triple.", metavar="MODEL")],
    prompt_version: Annotated[
        str | None,
        typer.Option(
            help="The version of one of the suite's prompts (needed when it has several).",
            metavar="VERSION",
        ),
    ] = None,
    epochs: Annotated[int, typer.Option(min=1, help="Runs of each example.", metavar="N")] = 1,
    concurrency: Annotated[
        int, typer.Option(min=1, help="Examples in flight at once.", metavar="N")
    ] = 8,
    seed: Annotated[int, typer.Option(help="Passed to targets that take seed=.", metavar="N")] = 0,
    db: DbOption = None,
) -> None:
    """Run a suite for one (dataset version, model, prompt version) triple and store it.

    Prints the run id last. Ctrl-C (or SIGTERM) stops it: the finished examples are kept, the
    run is stored as incomplete, and the exit code is 130 (143).
    """
    path = writable_store(db)
    suite = load_suite(reference)
    prompt = suite.prompt_for(prompt_version) if prompt_version else None
    from .._config import configure

    configure(db=path)
    try:
        with _stop_on_sigterm():
            run = suite.run(
                model=model,
                prompt=prompt,
                epochs=epochs,
                concurrency=concurrency,
                seed=seed,
                db=path,
            )
    except RunInterrupted as exc:
        print_run(exc.run)
        name = signal.Signals(exc.signum).name
        raise Interrupted(
            f"run {exc.run.id} incomplete: stopped by {name} after "
            f"{len(exc.run.results)} of {exc.run.example_count * exc.run.epochs} example-epochs",
            exc.signum,
        ) from None
    print_run(run)
    if run.results and all(r.error is not None for r in run.results):
        raise UserError(
            f"run {run.id}: every example-epoch failed, first with {run.results[0].error}"
        )
    typer.echo(run.id)


def runs(
    limit: Annotated[int, limit_option("runs")] = 20,
    fmt: FormatOption = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """Recent eval runs with their triple, status and headline scores."""
    columns, rows = read_rows(db, _RUNS, [limit])
    emit_rows(
        columns,
        rows,
        fmt,
        display={
            "run_id": id_column("run", [r[0] for r in rows]),
            "dataset_version": id_column("dataset", [r[2] for r in rows]),
            "prompt_version": Column("prompt"),
            "epochs": Column("ep", numeric=True),
            "status": Column("status", shrink=False),
            "started_at": None,  # runs come newest first; json and csv have the time
            "example_epochs": Column("n", numeric=True),
            "mean_quality": Column("quality", numeric=True),
            "error_rate": Column("errors", numeric=True),
        },
    )
