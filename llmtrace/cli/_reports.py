"""The report files a deciding command writes (``gate``, ``drift``): the options, a check of
each path before any work is stored, and the writing itself."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UserError

__all__ = ["JsonOption", "JunitOption", "MarkdownOption", "check_report_path", "write_reports"]

JunitOption = Annotated[Path | None, typer.Option(help="Write a JUnit XML report.", metavar="FILE")]
MarkdownOption = Annotated[
    Path | None, typer.Option(help="Write a Markdown report.", metavar="FILE")
]
JsonOption = Annotated[
    Path | None, typer.Option("--json", help="Write a JSON report.", metavar="FILE")
]


def check_report_path(option: str, path: Path | None) -> None:
    """Refuse a report path that cannot be written before anything is stored; create missing
    folders (as pytest's --junitxml does)."""
    if path is None:
        return
    if path.is_dir():
        raise UserError(f"{option} {path} is a folder; give a file path, like {path / 'gate.xml'}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UserError(
            f"{option} {path}: cannot create its folder: {exc.strerror or exc}"
        ) from None


def write_reports(reports: Iterable[tuple[Path | None, str]]) -> None:
    """Write each (path, text) whose path was given; a failure is one line, exit 2."""
    for path, text in reports:
        if path is None:
            continue
        try:
            path.write_text(text, encoding="utf-8")
        except OSError as exc:
            raise UserError(f"{path}: not written: {exc.strerror or exc}") from None
