"""``llmtrace card RELEASE``: the model card, Markdown or HTML, to stdout or a file."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from ..errors import UserError
from ..evals.card import card
from ._common import DbOption
from ._store import readable_store

__all__ = ["card_command"]


class CardFormat(str, Enum):
    md = "md"
    html = "html"


def card_command(
    release: Annotated[str, typer.Argument(metavar="RELEASE", help="Release id (prefix).")],
    fmt: Annotated[CardFormat, typer.Option("--format", "-f", help="md or html.")] = CardFormat.md,
    out: Annotated[
        Path | None, typer.Option("--out", help="Write the card here.", metavar="FILE")
    ] = None,
    card_yaml: Annotated[
        Path,
        typer.Option("--card-yaml", help="The sections people write.", metavar="FILE"),
    ] = Path("card.yaml"),
    db: DbOption = None,
) -> None:
    """The model card of a release: stored evidence plus the sections written in card.yaml."""
    text = card(release, fmt.value, card_yaml=card_yaml, db=readable_store(db))
    if out is None:
        typer.echo(text, nl=False)
        return
    try:
        out.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"--out {out}: not written: {exc.strerror or exc}") from None
    typer.echo(f"wrote {out}")
