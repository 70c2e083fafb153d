"""Importing what a command names as ``MODULE:ATTRIBUTE`` (a scorer, a judge), with one-line
errors that say which reference failed and why."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

from ..errors import UserError

__all__ = ["import_reference"]


def import_reference(reference: str, label: str, example: str) -> tuple[object, str, str]:
    """Import ``module:attribute`` (the current directory is importable) and return the
    attribute (None when the module lacks it), the module's name and the attribute's name.

    ``label`` starts every error (``"--scorer 'x:y'"``); ``example`` shows the expected form
    (``"MODULE:SCORER, like scorers:helpful"``)."""
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise UserError(f"{label}: expected {example}")
    if str(Path.cwd()) not in sys.path:
        sys.path.insert(0, str(Path.cwd()))
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise UserError(
            f"{label}: importing {module_name!r} raised {type(exc).__name__}: {first}"
        ) from None
    return getattr(module, attribute, None), module_name, attribute
