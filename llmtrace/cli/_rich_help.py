"""Typer's rich help without importing what llmtrace's help never uses.

Typer draws ``--help`` with ``typer.rich_utils``, which imports ``rich.markdown`` (markdown-it
and its tables, ~45 ms) for ``rich_markup_mode="markdown"`` and ``rich.traceback`` (pygments,
~15 ms) for pretty exceptions. llmtrace uses neither: its help is ``rich`` markup and its
errors are one line (``cli/__init__.py:main``). :func:`load` imports ``typer.rich_utils`` with
stand-ins for those two names, so the help looks exactly as typer draws it, in about half the
time.

The stand-ins stay in ``typer.rich_utils`` (and nowhere else: ``sys.modules`` gets the real
modules back, or none). Each forwards to the real class, imported when first used, so another
typer app in the same process that asks for markdown help or a pretty traceback still gets
it (``tests/test_cli_start.py`` checks both).
"""

from __future__ import annotations

import sys
import types
from typing import Any

__all__ = ["load"]


class _Markdown:
    """``rich.markdown.Markdown``, imported when one is made."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from rich.markdown import Markdown

        return Markdown(*args, **kwargs)


class _Traceback:
    """``rich.traceback.Traceback``, imported when one is made."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from rich.traceback import Traceback

        return Traceback(*args, **kwargs)

    @classmethod
    def from_exception(cls, *args: Any, **kwargs: Any) -> Any:
        from rich.traceback import Traceback

        return Traceback.from_exception(*args, **kwargs)


_STAND_INS = {"rich.markdown": ("Markdown", _Markdown), "rich.traceback": ("Traceback", _Traceback)}


def load() -> None:
    """Import ``typer.rich_utils`` (once) without ``rich.markdown`` and ``rich.traceback``."""
    if "typer.rich_utils" in sys.modules:
        return
    placed: dict[str, types.ModuleType] = {}
    for name, (attribute, stand_in) in _STAND_INS.items():
        if name not in sys.modules:
            module = types.ModuleType(name, "llmtrace's stand-in while typer.rich_utils loads")
            setattr(module, attribute, stand_in)
            sys.modules[name] = placed[name] = module
    try:
        import typer.rich_utils
    except ImportError:
        pass  # a typer that wants more of them than the stand-ins give: the real ones, below
    finally:
        for name, module in placed.items():
            if sys.modules.get(name) is module:
                del sys.modules[name]
    if "typer.rich_utils" not in sys.modules:
        import typer.rich_utils  # noqa: F401
