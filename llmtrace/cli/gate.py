"""``llmtrace gate``: decide a release from stored runs; exit 0 pass/warn, 1 fail, 2 error."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path
from typing import Annotated

import typer

from ..errors import Refused, UserError
from ..evals.gate_report import report as write_report
from ..evals.gates import GateResult, gate
from ..evals.reports import to_json, to_junit, to_markdown
from ._common import DbOption, resolve_prefix
from ._reports import JsonOption, JunitOption, MarkdownOption, check_report_path, write_reports
from ._store import writable_store
from ._table import Column, compact_number, render, terminal_width
from .gate_traces import run_trace_gate, trace_source

_SINCE_HELP = "With --traces: the window, like 24h, 7d..1d or an ISO time (s, m, h, d, w)."


class GateFailed(Refused):
    """A gate decided fail: exit code 1."""


def _interval(low: float | None, high: float | None) -> str:
    if low is None or high is None:
        return "-"
    return f"[{compact_number(low)}, {compact_number(high)}]"


def print_result(result: GateResult) -> None:
    """The gate table, one line per bound, then the notes of bounds that did not pass."""
    title = f"gate: candidate {result.candidate_run_id}"
    if result.baseline_run_id:
        title += f" vs baseline {result.baseline_run_id}"
    typer.echo(title)
    columns = [
        Column("decision", shrink=False),
        Column("rule"),
        Column("estimate", numeric=True),
        Column("interval", numeric=True),
        Column("n", numeric=True),
    ]
    rows = [
        (
            g.decision,
            g.rule,
            "-" if g.estimate is None else compact_number(g.estimate),
            _interval(g.ci_low, g.ci_high),
            g.n,
        )
        for g in result.gates
    ]
    for line in render(columns, rows):
        typer.echo(line)
    width = terminal_width()
    for g in result.gates:
        if g.decision != "pass" and g.reason:
            typer.echo(
                textwrap.fill(
                    g.reason,
                    width,
                    initial_indent=f"{g.decision} {g.rule}: ",
                    subsequent_indent="    ",
                )
            )
    typer.echo(f"decision: {result.decision}")


def _append_step_summary(markdown: str) -> None:
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if not summary:
        return
    try:
        with open(summary, "a", encoding="utf-8") as handle:
            handle.write(markdown)
    except OSError as exc:
        typer.echo(
            f"llmtrace: warning: GITHUB_STEP_SUMMARY={summary}: not written: {exc.strerror or exc}",
            err=True,
        )


def gate_command(
    config: Annotated[Path, typer.Option("--config", help="The gates YAML file.", metavar="FILE")],
    candidate: Annotated[
        str | None,
        typer.Option(help="The candidate run id (a unique prefix is enough).", metavar="RUN"),
    ] = None,
    baseline: Annotated[
        str | None,
        typer.Option(help="The baseline run id (a unique prefix is enough).", metavar="RUN"),
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warn as fail.")] = False,
    allow_mismatch: Annotated[
        bool,
        typer.Option(
            "--allow-mismatch", help="Compare runs on different dataset or judge versions."
        ),
    ] = False,
    junit: JunitOption = None,
    markdown: MarkdownOption = None,
    json_path: JsonOption = None,
    html: Annotated[
        Path | None,
        typer.Option(help="Write a self-contained HTML report (llmtrace report).", metavar="FILE"),
    ] = None,
    db: DbOption = None,
    traces: Annotated[
        bool, typer.Option("--traces", help="Gate a window of stored traces, not a run.")
    ] = False,
    since: Annotated[str | None, typer.Option(help=_SINCE_HELP, metavar="WHEN")] = None,
    until: Annotated[str | None, typer.Option(help="End of the window.", metavar="WHEN")] = None,
    baseline_since: Annotated[
        str | None, typer.Option(help="Start of the baseline window.", metavar="WHEN")
    ] = None,
    baseline_until: Annotated[
        str | None, typer.Option(help="End of the baseline window.", metavar="WHEN")
    ] = None,
    where: Annotated[
        str | None, typer.Option(help="SQL on spans narrowing both windows.", metavar="SQL")
    ] = None,
) -> None:
    """Decide pass / warn / fail for a candidate run, optionally against a baseline, or with
    --traces for a window of stored traces (optionally against a baseline window)."""
    path = trace_source(db) if traces or since is not None else writable_store(db)
    for option, report in (
        ("--junit", junit),
        ("--markdown", markdown),
        ("--json", json_path),
        ("--html", html),
    ):
        check_report_path(option, report)
    if traces or since is not None:
        if candidate or baseline or html:
            raise UserError("--traces gates a window: drop --candidate, --baseline and --html")
        result: GateResult = run_trace_gate(
            config, since=since, until=until, baseline_since=baseline_since,
            baseline_until=baseline_until, where=where, strict=strict, db=path,
        )  # fmt: skip
    else:
        if candidate is None:
            raise UserError("give --candidate RUN, or --traces --since WINDOW")
        candidate_id = resolve_prefix(db, "eval_runs", "run_id", candidate, "run")
        baseline_id = (
            resolve_prefix(db, "eval_runs", "run_id", baseline, "run") if baseline else None
        )
        result = gate(
            candidate_id, baseline_id, config, strict=strict, allow_mismatch=allow_mismatch, db=path
        )
    print_result(result)
    markdown_text = to_markdown(result)
    write_reports(
        ((junit, to_junit(result)), (markdown, markdown_text), (json_path, to_json(result)))
    )
    if html is not None:
        write_report(result.candidate_run_id, result=result, out=html, db=path)
    _append_step_summary(markdown_text)
    if not result.passed:
        failed = sum(g.decision == "fail" for g in result.gates)
        raise GateFailed(f"gate failed: {failed} rule{'s' if failed != 1 else ''} failed")
