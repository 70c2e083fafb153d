"""Help that reads like a man page: flags without a type, arguments as ``QUERY`` not ``{query}``.

Typer shows ``<bool>`` beside every flag (``--strict <bool>``), which suggests a value the flag
does not take, and writes required arguments as ``{query}``. These classes fix both for every
command, so no command has to remember to.
"""

from __future__ import annotations

from typing import Any

import typer
from typer.core import HAS_RICH, TyperArgument, TyperCommand, TyperGroup, TyperOption

from . import _rich_help
from ._coerce import install_params

__all__ = ["Command", "Group"]


def _plain_flags(params: list[Any]) -> list[Any]:
    for param in params:
        if isinstance(param, TyperOption) and (param.is_flag or param.count):
            param.metavar = ""  # a flag takes no value: show none
    return install_params(params)  # and plain values converted without pydantic


class Command(TyperCommand):
    """A command whose help shows flags bare and arguments in capitals."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces = ["[OPTIONS]"] if any(isinstance(p, TyperOption) for p in self.params) else []
        for param in self.params:
            if isinstance(param, TyperArgument):
                name = (param.metavar or param.name or "ARG").upper()
                name += "..." if param.nargs != 1 else ""
                pieces.append(name if param.required else f"[{name}]")
        return pieces

    def format_help(self, ctx: Any, formatter: Any) -> None:
        if HAS_RICH and self.rich_markup_mode is not None:
            _rich_help.load()
        super().format_help(ctx, formatter)


class Group(TyperGroup):
    """The top-level group: the same help rules as :class:`Command`."""

    def get_params(self, ctx: Any) -> list[Any]:
        return _plain_flags(super().get_params(ctx))

    def format_help(self, ctx: Any, formatter: Any) -> None:
        if HAS_RICH and self.rich_markup_mode is not None:
            _rich_help.load()
        super().format_help(ctx, formatter)


def version_callback(value: bool) -> None:
    """``llmtrace --version``: print the installed version and stop."""
    if value:
        from .._tracing.runtime import _version

        typer.echo(f"llmtrace {_version()}")
        raise typer.Exit()
