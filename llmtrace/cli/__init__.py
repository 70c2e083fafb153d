"""The ``llmtrace`` command. Exit codes: 0 success (a gate passed or warned), 1 a gate failed,
2 bad usage or input (one line on stderr, no traceback)."""

from __future__ import annotations

import sys

import typer

from ._common import UserError
from .evals import eval_command, runs
from .export import export
from .gate import GateFailed, gate_command
from .sql import sql
from .stats import stats
from .traces import traces

__all__ = ["app", "main"]

EXIT_OK, EXIT_GATE_FAILED, EXIT_USAGE = 0, 1, 2

app = typer.Typer(
    name="llmtrace",
    help="Traces, SQL, evals and release gates for LLM applications.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
app.command()(sql)
app.command()(traces)
app.command()(stats)
app.command()(export)
app.command(name="eval")(eval_command)
app.command()(runs)
app.command(name="gate")(gate_command)


def main(argv: list[str] | None = None) -> None:
    """Run the CLI and map outcomes to exit codes."""
    try:
        app(args=argv, prog_name="llmtrace", standalone_mode=False)
    except UserError as exc:
        typer.echo(f"llmtrace: error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
    except typer.Abort:
        typer.echo("llmtrace: aborted", err=True)
        sys.exit(EXIT_USAGE)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.TyperException as exc:  # usage errors: unknown option, bad value...
        typer.echo(f"llmtrace: error: {exc.format_message()}", err=True)
        sys.exit(EXIT_USAGE)
    except GateFailed as exc:
        typer.echo(str(exc), err=True)
        sys.exit(EXIT_GATE_FAILED)
    sys.exit(EXIT_OK)
