"""Command-line values converted without pydantic when they are plainly what they should be.

Typer (>= 0.29) converts every value, defaults included, through a pydantic ``TypeAdapter``:
the first one imports pydantic (and its plugin loader, which reads every installed package's
metadata), about 60 ms of a ~250 ms ``llmtrace sql``. Most of llmtrace's values are a string,
a path, a number or one of a few choices, given plainly. :func:`install` gives each parameter
of a loaded command a conversion that handles exactly those cases the way typer's does, and
hands everything else (an empty path, ``1_000``, a value out of range, a wrong choice...) to
typer's own conversion, so what a command receives and every error message stay typer's.
``tests/test_cli_start.py`` checks both against typer's conversion value by value.

It sets typer's per-parameter cache (``_TyperParameter._runtime_param``, filled lazily by
typer itself). With a typer whose internals differ (no such module, or a ``RuntimeParam`` that
takes other fields) it installs nothing and typer converts everything.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

try:
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_choice, coerce_cli_path
    from typer.core import _TyperParameter
except ImportError:  # pragma: no cover - another typer: its own conversion throughout
    RuntimeParam = None  # type: ignore[assignment,misc]

__all__ = ["install", "install_params", "quick_conversion"]

# Plain numbers only: no sign but "-", no leading zero, underscore, space or exponent.
_INTEGER = re.compile(r"-?(0|[1-9][0-9]{0,17})")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]{0,14})(\.[0-9]{1,15})?")


class _NotPlain(Exception):
    """The value is not plainly of the type: typer's own conversion decides."""


Convert = Callable[[Any, Any, Any, Any], Any]  # (value, descriptor, param, ctx) -> value


def _text(value: Any, descriptor: Any, param: Any, ctx: Any) -> Any:
    if type(value) is not str:
        raise _NotPlain
    return value


def _flag(value: Any, descriptor: Any, param: Any, ctx: Any) -> Any:
    if type(value) is not bool:
        raise _NotPlain
    return value


def _texts(value: Any, descriptor: Any, param: Any, ctx: Any) -> Any:
    if not isinstance(value, (list, tuple)) or any(type(v) is not str for v in value):
        raise _NotPlain
    return list(value)


def _number(value: Any, descriptor: Any, param: Any, ctx: Any) -> Any:
    kind, info = descriptor.annotation, descriptor.parameter_info
    if type(value) is str and (_INTEGER if kind is int else _DECIMAL).fullmatch(value):
        value = kind(value)
    elif type(value) is not kind:
        raise _NotPlain
    if (info.min is not None and value < info.min) or (info.max is not None and value > info.max):
        raise _NotPlain  # typer's message says what the range is
    return value


def _choice(value: Any, descriptor: Any, param: Any, ctx: Any) -> Any:
    try:
        return coerce_cli_choice(
            value,
            choices=descriptor.choices,
            case_sensitive=descriptor.case_sensitive,
            ctx=ctx,
        )
    except ValueError:
        raise _NotPlain from None


def _path(value: Any, descriptor: Any, param: Any, ctx: Any) -> Any:
    if type(value) is not str or not value or "\0" in value:
        raise _NotPlain
    # A Path given to typer's path check skips the pydantic conversion of a str to a Path,
    # which for a plain non-empty string is Path(value); the checks (exists, dir_okay...) and
    # their messages are typer's.
    return coerce_cli_path(
        Path(value), descriptor.parameter_info, path_type=Path, param=param, ctx=ctx
    )


def quick_conversion(descriptor: Any) -> Convert | None:
    """The plain conversion for a parameter's type, or None when typer's is the only one."""
    annotation, info = descriptor.annotation, descriptor.parameter_info
    if descriptor.file_annotation is not None or info.parser is not None:
        return None
    if annotation is str:
        return _text
    if annotation is bool:
        return _flag
    if annotation in (int, float) and not info.clamp:
        return _number
    if get_origin(annotation) is list and get_args(annotation) == (str,):
        return _texts
    if descriptor.is_choice and not descriptor.is_list:
        return _choice
    if annotation is Path and info.path_type is None:
        return _path
    return None


if RuntimeParam is not None:

    @dataclass(frozen=True, repr=False, eq=False)  # fewer generated methods: ~0.5 ms less
    class _Quick(RuntimeParam):
        """Typer's runtime conversion contract: plain values here, the rest to typer."""

        descriptor: Any
        convert: Convert

        def _coerce_value(self, value: Any, param: Any, ctx: Any) -> Any:
            try:
                return self.convert(value, self.descriptor, param, ctx)
            except _NotPlain:
                typer_own = build_runtime_param(self.descriptor)
                return typer_own._coerce_value(value, param=param, ctx=ctx)


def install(command: Any) -> None:
    """Give each parameter of ``command`` (and of its subcommands) the plain conversion."""
    for sub in getattr(command, "commands", {}).values():
        install(sub)
    install_params(command.params)


def install_params(params: list[Any]) -> list[Any]:
    """Give each of ``params`` the plain conversion where there is one; returns ``params``."""
    if RuntimeParam is None:  # pragma: no cover
        return params
    for param in params:
        if not isinstance(param, _TyperParameter) or param._runtime_param is not None:
            continue
        descriptor = param.type_descriptor
        convert = quick_conversion(descriptor)
        if convert is None:
            continue
        try:
            param._runtime_param = _Quick(
                parameter_info=descriptor.parameter_info,
                annotation=descriptor.annotation,
                descriptor=descriptor,
                convert=convert,
            )
        except TypeError:  # a typer whose RuntimeParam takes other fields: its own throughout
            break
    return params
