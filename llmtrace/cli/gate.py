"""``llmtrace gate``: decide a release from stored runs; exit 0 pass/warn, 1 fail, 2 error."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from ..evals.dataset import DatasetError
from ..evals.gate_config import GateConfigError
from ..evals.gates import GateError, GateResult, gate
from ..evals.reports import to_json, to_junit, to_markdown
from ..store.connection import StoreBusyError, StoreMissingError
from ._common import DbOption, UserError, console, resolve_db

_STYLE = {"pass": "green", "warn": "yellow", "fail": "red"}


class GateFailed(Exception):
    """A gate decided fail: exit code 1."""


def _print(result: GateResult) -> None:
    table = Table(
        title=f"gate: candidate {result.candidate_run_id}"
        + (f" vs baseline {result.baseline_run_id}" if result.baseline_run_id else "")
    )
    for column in ("decision", "rule", "estimate", "interval", "n", "note"):
        table.add_column(column, overflow="fold")
    for g in result.gates:
        table.add_row(
            f"[{_STYLE[g.decision]}]{g.decision}[/]",
            g.rule,
            f"{g.estimate:.4g}" if g.estimate is not None else "-",
            f"[{g.ci_low:.4g}, {g.ci_high:.4g}]"
            if g.ci_low is not None and g.ci_high is not None
            else "-",
            str(g.n),
            g.reason,
        )
    console.print(table)
    console.print(f"decision: [bold {_STYLE[result.decision]}]{result.decision}[/]")


def gate_command(
    config: Annotated[Path, typer.Option("--config", help="The gates YAML file.")],
    candidate: Annotated[str, typer.Option(help="The candidate run id.")],
    baseline: Annotated[str | None, typer.Option(help="The baseline run id.")] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warn as fail.")] = False,
    allow_mismatch: Annotated[
        bool,
        typer.Option(
            "--allow-mismatch", help="Compare runs on different dataset or judge versions."
        ),
    ] = False,
    junit: Annotated[Path | None, typer.Option(help="Write a JUnit XML report.")] = None,
    markdown: Annotated[Path | None, typer.Option(help="Write a Markdown report.")] = None,
    json_path: Annotated[Path | None, typer.Option("--json", help="Write a JSON report.")] = None,
    db: DbOption = None,
) -> None:
    """Decide pass / warn / fail for a candidate run, optionally against a baseline."""
    try:
        result = gate(
            candidate,
            baseline,
            config,
            strict=strict,
            allow_mismatch=allow_mismatch,
            db=resolve_db(db),
        )
    except (GateError, GateConfigError, DatasetError, StoreBusyError) as exc:
        raise UserError(str(exc)) from None
    except StoreMissingError:
        raise UserError(
            f"no llmtrace store at {resolve_db(db)} (set --db or LLMTRACE_DB)"
        ) from None
    _print(result)
    markdown_text = to_markdown(result)
    for path, text in (
        (junit, to_junit(result)),
        (markdown, markdown_text),
        (json_path, to_json(result)),
    ):
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown_text)
    if not result.passed:
        raise GateFailed(f"gate failed: {sum(g.decision == 'fail' for g in result.gates)} rule(s)")
