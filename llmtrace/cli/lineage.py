"""``llmtrace lineage RELEASE|RUN``: what a release or run rests on, as text, Mermaid, DOT or
JSON."""

from __future__ import annotations

from enum import Enum
from typing import Annotated

import typer

from ..evals.lineage import lineage
from ._common import DbOption
from ._store import readable_store

__all__ = ["lineage_command"]


class LineageFormat(str, Enum):
    text = "text"
    mermaid = "mermaid"
    dot = "dot"
    json = "json"


def lineage_command(
    subject: Annotated[
        str, typer.Argument(metavar="RELEASE|RUN", help="A release or run id (unique prefix).")
    ],
    fmt: Annotated[
        LineageFormat, typer.Option("--format", "-f", help="text, mermaid, dot or json.")
    ] = LineageFormat.text,
    db: DbOption = None,
) -> None:
    """The lineage DAG: dataset, prompt, model, judges, indexes, code, environment, run,
    gate, approvals and releases, each named by its content hash."""
    graph = lineage(subject, db=readable_store(db))
    render = {
        LineageFormat.text: graph.to_text,
        LineageFormat.mermaid: graph.to_mermaid,
        LineageFormat.dot: graph.to_dot,
        LineageFormat.json: graph.to_json,
    }[fmt]
    typer.echo(render())
