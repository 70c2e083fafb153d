"""``llmtrace drift``: PSI and Jensen-Shannon divergence per feature between two runs or windows;
exit 1 when a ``drift:`` rule of the gates file is broken, 2 on bad input."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import Refused
from ..evals.production import drift
from ..evals.production.drift_html import drift_to_html
from ..evals.production.drift_report import drift_to_json, drift_to_junit, drift_to_markdown
from ..evals.production.drift_result import DriftResult
from ._common import DbOption
from ._reports import JsonOption, JunitOption, MarkdownOption, check_report_path, write_reports
from ._table import Column, compact_number, render
from .gate_traces import trace_source

__all__ = ["drift_command"]


class DriftFailed(Refused):
    """A drift rule was broken: exit code 1."""


def _number(value: float | None) -> str:
    return "-" if value is None else compact_number(value)


def print_drift(result: DriftResult) -> None:
    """One line per feature: decision, feature, PSI, JS, bins, then why a feature failed."""
    typer.echo(f"drift: reference {result.reference} vs current {result.current}")
    columns = [
        Column("decision", shrink=False),
        Column("feature"),
        Column("psi", numeric=True),
        Column("js", numeric=True),
        Column("bins", numeric=True),
    ]
    rows = [
        (f.decision, f.feature, _number(f.psi), _number(f.js), len(f.reference_counts))
        for f in result.features
    ]
    for line in render(columns, rows):
        typer.echo(line)
    for f in result.features:
        if f.reason:
            typer.echo(f"{f.decision} {f.feature}: {f.reason}")
    typer.echo(f"decision: {result.decision}")


def drift_command(
    reference: Annotated[
        str,
        typer.Option(
            help="An eval run id (or prefix), or a window like 8d..1d.", metavar="RUN|WINDOW"
        ),
    ],
    current: Annotated[
        str,
        typer.Option(
            help="An eval run id (or prefix), or a window like 24h.", metavar="RUN|WINDOW"
        ),
    ],
    config: Annotated[
        Path | None,
        typer.Option("--config", help="A gates file with a drift: section.", metavar="FILE"),
    ] = None,
    where: Annotated[
        str | None, typer.Option(help="SQL on spans narrowing both sides.", metavar="SQL")
    ] = None,
    feature: Annotated[
        list[str] | None,
        typer.Option("--feature", help="Only this feature (repeatable).", metavar="NAME"),
    ] = None,
    junit: JunitOption = None,
    markdown: MarkdownOption = None,
    json_path: JsonOption = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Write a self-contained HTML report.", metavar="FILE"),
    ] = None,
    db: DbOption = None,
) -> None:
    """Compare features (tokens, latency, cost, model, prompt version, tools, guardrail actions,
    finish reasons, scores) of a reference and a current run or window: PSI and JS per feature
    with bins fixed from the reference, recorded in drift_results."""
    for option, report in (
        ("--junit", junit),
        ("--markdown", markdown),
        ("--json", json_path),
        ("--html", html),
    ):
        check_report_path(option, report)
    path = trace_source(db)
    result = drift(reference, current, where=where, features=feature, config=config, db=path)
    print_drift(result)
    write_reports(
        (
            (junit, drift_to_junit(result)),
            (markdown, drift_to_markdown(result)),
            (json_path, drift_to_json(result)),
            (html, drift_to_html(result) if html else ""),
        )
    )
    if not result.passed:
        failed = sum(f.decision == "fail" for f in result.features)
        plural = "s" if failed != 1 else ""
        raise DriftFailed(f"drift failed: {failed} feature{plural} over a bound")
