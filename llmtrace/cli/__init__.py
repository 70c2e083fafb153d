"""The ``llmtrace`` command.

Exit codes, decided in one place (:func:`main`): 0 success (a gate passed or warned), 1 a gate
failed or a release was refused, 2 bad usage or input (one line on stderr, no traceback),
130/143 a run stopped by SIGINT/SIGTERM, 70 an internal failure (with its traceback).
"""

from __future__ import annotations

import atexit
import gc
import sys
import traceback
from typing import Annotated, NoReturn

import typer
from typer._click import exceptions as click_exceptions

from ..errors import (
    EXIT_INTERNAL,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_USAGE,
    Interrupted,
    Refused,
    UserError,
)
from ._help import version_callback
from ._lazy import LazyCommand, LazyGroup

__all__ = ["app", "main"]

app = typer.Typer(
    name="llmtrace",
    help="Traces, SQL, evals and release gates for LLM applications.",
    cls=LazyGroup,
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", help="Show the version and exit.", callback=version_callback, is_eager=True
        ),
    ] = False,
) -> None:
    """Traces, SQL, evals and release gates for LLM applications."""


# Each command's module is imported only when the command runs; the root --help lists them
# from these summaries (tests/test_cli_lazy.py checks each against the command's own help).
LazyGroup.COMMANDS = {
    name: LazyCommand(module, attribute, summary)
    for name, module, attribute, summary in (
        (
            "sql",
            "sql",
            "sql",
            "Run read-only SQL over spans and eval records (tables spans, eval_runs...; views "
            "llm_calls, tool_calls, traces). The store is never changed, and unless --allow-files "
            "no other file is read or written and nothing is installed.",
        ),
        (
            "traces",
            "traces",
            "traces",
            "List recent traces, or show one trace's span tree with durations, tokens and cost.",
        ),
        (
            "stats",
            "stats",
            "stats",
            "Count, error rate, p50/p95 latency, tokens and cost, grouped (LLM calls by default).",
        ),
        (
            "export",
            "export",
            "export",
            "Write every span to Parquet under DIR/date=YYYY-MM-DD/, readable by any engine.",
        ),
        (
            "eval",
            "evals",
            "eval_command",
            "Run a suite for one (dataset version, model, prompt version) triple and store it.",
        ),
        (
            "runs",
            "evals",
            "runs",
            "Recent eval runs with their triple, status and headline scores.",
        ),
        (
            "gate",
            "gate",
            "gate_command",
            "Decide pass / warn / fail for a candidate run, optionally against a baseline, or with "
            "--traces for a window of stored traces (optionally against a baseline window).",
        ),
        (
            "register",
            "release",
            "register",
            "Register a completed run as a candidate release of NAME; prints the release id last.",
        ),
        (
            "approve",
            "release",
            "approve",
            "Record an approval of a candidate or staging release.",
        ),
        (
            "promote",
            "release",
            "promote",
            "Run the gate against production and promote on pass; exit 1 with every reason if not.",
        ),
        (
            "rollback",
            "release",
            "rollback",
            "Roll NAME's production release back to the rollback candidate (or --to).",
        ),
        (
            "releases",
            "release",
            "releases",
            "What is in production for each name, and what a rollback would restore.",
        ),
        (
            "card",
            "card",
            "card_command",
            "The model card of a release: stored evidence plus the sections written in card.yaml.",
        ),
        (
            "lineage",
            "lineage",
            "lineage_command",
            "The lineage DAG: dataset, prompt, model, judges, indexes, code, environment, run, "
            "gate, approvals and releases, each named by its content hash.",
        ),
        (
            "reproduce",
            "reproduce",
            "reproduce_command",
            "Check that a run could be made again: dataset hash, prompt hash, pinned model and "
            "judges, clean git commit, package versions (and, with --rerun, the same quality).",
        ),
        (
            "plan",
            "plan",
            "plan_command",
            "Print the examples each gate bound needs, at 1, 2, 3 and 5 epochs, to detect an "
            "effect.",
        ),
        (
            "report",
            "report",
            "report_command",
            "Write an HTML report: the gate, its intervals, distributions, cost and changed "
            "examples.",
        ),
        (
            "reprice",
            "reprice",
            "reprice_command",
            "Recompute the cost of stored model calls with the installed price table.",
        ),
        (
            "serve",
            "serve",
            "serve_command",
            "Receive OTLP spans from any process or a Collector into the store, until stopped.",
        ),
        (
            "drift",
            "drift",
            "drift_command",
            "Compare features (tokens, latency, cost, model, prompt version, tools, guardrail "
            "actions, finish reasons, scores) of a reference and a current run or window: PSI and "
            "JS per feature with bins fixed from the reference, recorded in drift_results.",
        ),
        (
            "score",
            "score",
            "score_command",
            "Score stored LLM calls with a scorer or judge and record the scores as evaluation "
            "events on their spans (idempotent and resumable).",
        ),
        (
            "calibrate",
            "calibrate",
            "calibrate_command",
            "Measure a judge's agreement with human labels (Cohen's kappa or Krippendorff's "
            "alpha, with a bootstrap interval) and store it for the judge version it measured.",
        ),
        (
            "bundle",
            "bundle",
            "bundle_app",
            "Carry runs and releases between stores in one hash-verified file.",
        ),
    )
}


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI and map every outcome to its exit code (see the module docstring).

    Run as the process's own command (``argv`` None: the ``llmtrace`` script, ``python -m
    llmtrace``), the process's objects are frozen (``gc.freeze``) after every other exit
    handler has run, so the interpreter's final garbage collections skip them: ~15-25 ms of a
    read command's exit, spent freeing memory the process is about to give back anyway.
    """
    if argv is None:
        atexit.register(gc.freeze)  # registered first, so it runs last
    try:
        code = app(args=argv, prog_name="llmtrace", standalone_mode=False)
    except click_exceptions.NoArgsIsHelpError:
        sys.exit(EXIT_USAGE)  # the help is already printed; there is nothing else to say
    except click_exceptions.UsageError as exc:
        hint = f" (see: {exc.ctx.command_path} --help)" if exc.ctx is not None else ""
        _fail(f"llmtrace: error: {exc.format_message()}{hint}", EXIT_USAGE)
    except click_exceptions.ClickException as exc:  # a bad file argument and the like
        _fail(f"llmtrace: error: {exc.format_message()}", EXIT_USAGE)
    except typer.Abort:
        _fail("llmtrace: aborted", 130)
    except Refused as exc:
        _fail(f"llmtrace: {exc}", EXIT_REFUSED)
    except Interrupted as exc:
        _fail(f"llmtrace: {exc}", exc.exit_code)
    except UserError as exc:  # every input mistake, whichever module found it
        _fail(f"llmtrace: error: {_one_line(exc)}", EXIT_USAGE)
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (| head): nothing left to tell it
        sys.exit(EXIT_OK)
    except Exception:
        traceback.print_exc()
        _fail(
            "llmtrace: internal error (a bug in llmtrace, not in your input): please report it "
            "with the traceback above",
            EXIT_INTERNAL,
        )
    sys.exit(code if isinstance(code, int) else EXIT_OK)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text or type(exc).__name__
