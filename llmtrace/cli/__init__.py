"""The ``llmtrace`` command.

Exit codes, decided in one place (:func:`main`): 0 success (a gate passed or warned), 1 a gate
failed or a release was refused, 2 bad usage or input (one line on stderr, no traceback),
130/143 a run stopped by SIGINT/SIGTERM, 70 an internal failure (with its traceback).
"""

from __future__ import annotations

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
from ._help import Command, Group, version_callback
from .bundle import bundle_app
from .card import card_command
from .drift import drift_command
from .evals import eval_command, runs
from .export import export
from .gate import gate_command
from .lineage import lineage_command
from .plan import plan_command
from .release import approve, promote, register, releases, rollback
from .report import report_command
from .reprice import reprice_command
from .reproduce import reproduce_command
from .score import score_command
from .serve import serve_command
from .sql import sql
from .stats import stats
from .traces import traces

__all__ = ["app", "main"]

app = typer.Typer(
    name="llmtrace",
    help="Traces, SQL, evals and release gates for LLM applications.",
    cls=Group,
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


for name, function in (
    ("sql", sql),
    ("traces", traces),
    ("stats", stats),
    ("export", export),
    ("eval", eval_command),
    ("runs", runs),
    ("gate", gate_command),
    *(("register", register), ("approve", approve), ("promote", promote)),
    *(("rollback", rollback), ("releases", releases)),
    *(("card", card_command), ("lineage", lineage_command), ("reproduce", reproduce_command)),
    ("plan", plan_command),
    ("report", report_command),
    ("reprice", reprice_command),
    ("serve", serve_command),
    ("drift", drift_command),
    ("score", score_command),
):
    app.command(name=name, cls=Command)(function)
app.add_typer(bundle_app, name="bundle")


def _fail(message: str, code: int) -> NoReturn:
    typer.echo(message, err=True)
    sys.exit(code)


def main(argv: list[str] | None = None) -> NoReturn:
    """Run the CLI and map every outcome to its exit code (see the module docstring)."""
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
