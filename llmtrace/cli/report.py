"""``llmtrace report``: one self-contained HTML file for a run, against a baseline if given."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UserError
from ..evals.gate_report import report
from ._common import DbOption, resolve_prefix
from ._store import readable_store, writable_store


def report_command(
    run: Annotated[
        str, typer.Argument(help="The run id (a unique prefix is enough).", metavar="RUN")
    ],
    baseline: Annotated[
        str | None,
        typer.Option(help="The baseline run id (a unique prefix is enough).", metavar="RUN"),
    ] = None,
    out: Annotated[
        Path, typer.Option("--out", help="Where to write the HTML file.", metavar="FILE")
    ] = Path("report.html"),
    config: Annotated[
        Path | None,
        typer.Option(
            "--config",
            help="Decide the gate now with this gates file (it is stored); without it the "
            "newest stored gate of these runs is shown.",
            metavar="FILE",
        ),
    ] = None,
    max_examples: Annotated[
        int,
        typer.Option(
            help="Changed examples shown in full; the rest are counted.", min=0, metavar="N"
        ),
    ] = 50,
    trace_link: Annotated[
        str | None,
        typer.Option(
            help="A URL template for trace ids in your tracing UI, with {trace_id}.",
            metavar="URL",
        ),
    ] = None,
    db: DbOption = None,
) -> None:
    """Write an HTML report: the gate, its intervals, distributions, cost and changed examples.

    Exits 0 once written, whatever the gate decided (llmtrace gate --html exits 1 on fail).
    """
    path = writable_store(db) if config is not None else readable_store(db)
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a file path, like {out / 'report.html'}")
    if trace_link is not None and "{trace_id}" not in trace_link:
        raise UserError(f"--trace-link {trace_link!r} has no {{trace_id}} to fill in")
    run_id = resolve_prefix(db, "eval_runs", "run_id", run, "run")
    baseline_id = resolve_prefix(db, "eval_runs", "run_id", baseline, "run") if baseline else None
    report(
        run_id,
        baseline_id,
        config=config,
        out=out,
        db=path,
        max_examples=max_examples,
        trace_link=trace_link,
    )
    typer.echo(f"wrote {out} ({out.stat().st_size / 1024:,.0f} KB)")
