"""``llmtrace bundle export RUN|RELEASE --out FILE`` and ``llmtrace bundle import FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..evals.bundle import BundleSummary, export_bundle, import_bundle
from ._common import DbOption
from ._help import Command, Group
from ._store import writable_store

__all__ = ["bundle_app"]

bundle_app = typer.Typer(
    name="bundle",
    help="Carry runs and releases between stores in one hash-verified file.",
    cls=Group,
    no_args_is_help=True,
)


def _counts(rows: dict[str, int]) -> str:
    return ", ".join(f"{table} {count}" for table, count in rows.items() if count)


@bundle_app.command("export", cls=Command)
def export_command(
    subject: Annotated[
        str, typer.Argument(metavar="RUN|RELEASE", help="A run or release id (unique prefix).")
    ],
    out: Annotated[Path, typer.Option("--out", help="The bundle file to write.", metavar="FILE")],
    db: DbOption = None,
) -> None:
    """Write a run (with its dataset record, results, spans, gates and releases) or a release
    (with its run, events, approvals and gates) to one file."""
    summary: BundleSummary = export_bundle(subject, out, db=writable_store(db))
    typer.echo(
        f"exported {summary.subject_kind} {summary.subject_id} to {out}: {_counts(summary.rows)}"
    )


@bundle_app.command("import", cls=Command)
def import_command(
    bundle: Annotated[Path, typer.Argument(metavar="FILE", help="A bundle file.")],
    db: DbOption = None,
) -> None:
    """Load a bundle into this store, all or nothing; a corrupted or edited one is refused."""
    summary = import_bundle(bundle, db=writable_store(db))
    new = _counts(summary.imported) or "nothing new (already in this store)"
    typer.echo(f"imported {summary.subject_kind} {summary.subject_id} from {bundle}: {new}")
