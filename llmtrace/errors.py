"""One exception hierarchy for everything llmtrace reports to a user.

The CLI maps it to exit codes in one place (``llmtrace.cli.main``):

- :class:`UserError` and its subclasses: a mistake in the input. One line on stderr, exit 2.
- :class:`Refused`: the command worked and the answer is no (a gate failed, a release was
  refused). Exit 1, and nothing else exits 1.
- :class:`Interrupted`: a run stopped by SIGINT or SIGTERM. Exit 128 + the signal (130, 143).
- Anything else is an internal failure: the traceback, then exit 70.

Library code raises these too, so ``except llmtrace.errors.UserError`` catches every mistake
llmtrace can name, whichever module found it.
"""

from __future__ import annotations

import signal
from typing import Any

__all__ = [
    "EXIT_INTERNAL",
    "EXIT_OK",
    "EXIT_REFUSED",
    "EXIT_USAGE",
    "Interrupted",
    "LlmtraceError",
    "Refused",
    "RunInterrupted",
    "StoreUnusable",
    "UserError",
]

EXIT_OK = 0
EXIT_REFUSED = 1
EXIT_USAGE = 2
EXIT_INTERNAL = 70  # EX_SOFTWARE in sysexits.h


class LlmtraceError(Exception):
    """The base of every error llmtrace raises on purpose."""


class UserError(LlmtraceError, ValueError):
    """A mistake in the input (an argument, a file, a dataset row): one line, exit 2.

    The message names what was wrong, shows the value with ``!r`` and says what to do.
    """


class StoreUnusable(UserError):
    """The store path is not a file llmtrace can use: a folder, another file type, another
    application's DuckDB, or a place it cannot write."""


class Refused(LlmtraceError):
    """A decision that says no: a gate failed, a release was refused. Exit 1."""


class Interrupted(LlmtraceError):
    """A command stopped by a signal; exit ``128 + signum`` like a shell reports it."""

    def __init__(self, message: str, signum: int = signal.SIGINT) -> None:
        super().__init__(message)
        self.signum = int(signum)

    @property
    def exit_code(self) -> int:
        return 128 + self.signum


class RunInterrupted(KeyboardInterrupt):
    """``Suite.run`` stopped by Ctrl-C (or SIGTERM under ``llmtrace eval``).

    A ``KeyboardInterrupt``, so code that catches Ctrl-C still does; ``.run`` is the stored
    run, status ``incomplete``, with the example-epochs that finished.
    """

    def __init__(self, run: Any, signum: int = signal.SIGINT) -> None:
        super().__init__(f"run {run.id} incomplete: interrupted")
        self.run = run
        self.signum = int(signum)
