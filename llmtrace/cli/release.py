"""``llmtrace register|approve|promote|rollback|releases``: the release registry.

Exit 0 done, 1 refused (gate failed, approvals missing, no rollback candidate), 2 bad input.
Run and release ids may be given by a unique prefix.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from ..errors import UserError
from ..evals.registry import Registry, Release, ReleaseEvent
from ..evals.release_errors import PromotionRefused
from ..evals.release_store import read
from ..evals.rollback import candidate
from ._common import DbOption, FormatOption, OutputFormat, emit_rows, id_column
from ._store import readable_store, writable_store
from ._table import Column, compact_number, render

__all__ = ["approve", "promote", "register", "releases", "rollback"]

ByOption = Annotated[str, typer.Option("--by", help="Who is doing it.", metavar="WHO")]
RoleOption = Annotated[
    str | None, typer.Option("--role", help="The role they act in.", metavar="ROLE")
]


def _describe(release: Release) -> str:
    return (
        f"{release.name} v{release.version} {release.id} [{release.stage}]: "
        f"model {release.model} / prompt {release.prompt_version or '-'} / "
        f"dataset {release.dataset_version} / run {release.run_id}"
    )


def register(
    run: Annotated[str, typer.Argument(metavar="RUN", help="A completed run (unique prefix).")],
    name: Annotated[str, typer.Option("--name", help="The release name.", metavar="NAME")],
    by: Annotated[str | None, typer.Option("--by", help="Who registers it.", metavar="WHO")] = None,
    db: DbOption = None,
) -> None:
    """Register a completed run as a candidate release of NAME; prints the release id last."""
    release = Registry(writable_store(db)).register(run, name=name, by=by)
    typer.echo(_describe(release))
    typer.echo(release.id)


def approve(
    release: Annotated[str, typer.Argument(metavar="RELEASE", help="Release id (prefix).")],
    by: ByOption,
    role: RoleOption = None,
    note: Annotated[str | None, typer.Option("--note", help="What was reviewed.")] = None,
    db: DbOption = None,
) -> None:
    """Record an approval of a candidate or staging release."""
    registry = Registry(writable_store(db))
    target = registry.get(release)
    registry.approve(target, by=by, role=role, note=note)
    typer.echo(f"approved {target.label} by {by}" + (f" ({role})" if role else ""))


def _print_gate(db: Path, event: ReleaseEvent | None) -> None:
    if event is None or event.gate_run_id is None:
        typer.echo("gate: not run")
        return
    rows = read(db, "SELECT result FROM release_gates WHERE gate_run_id = ?", [event.gate_run_id])
    result = json.loads(rows[0]["result"])
    against = result["baseline_run_id"]
    typer.echo(
        f"gate {event.gate_run_id}: run {result['candidate_run_id']}"
        + (f" vs production run {against}" if against else " (absolute bounds only)")
    )
    columns = [Column("decision", shrink=False), Column("rule"), Column("estimate", numeric=True)]
    cells = [
        (g["decision"], g["rule"], "-" if g["estimate"] is None else compact_number(g["estimate"]))
        for g in result["gates"]
    ]
    for line in render(columns, cells):
        typer.echo(line)
    typer.echo(f"decision: {result['decision']}")


def _last_promotion(registry: Registry, release: Release) -> ReleaseEvent | None:
    events = [e for e in registry.history(release.name) if e.release_id == release.id]
    promotions = [e for e in events if e.action == "promote"]
    return promotions[-1] if promotions else None


def promote(
    release: Annotated[str, typer.Argument(metavar="RELEASE", help="Release id (prefix).")],
    to: Annotated[str, typer.Option("--to", help="staging or production.", metavar="STAGE")],
    by: ByOption,
    config: Annotated[
        Path | None, typer.Option("--config", help="The gates YAML file.", metavar="FILE")
    ] = None,
    reason: Annotated[str | None, typer.Option("--reason", help="Why.", metavar="TEXT")] = None,
    role: RoleOption = None,
    strict: Annotated[bool, typer.Option("--strict", help="Treat warn as fail.")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Promote despite refusals (needs --reason).")
    ] = False,
    allow_mismatch: Annotated[
        bool,
        typer.Option("--allow-mismatch", help="Gate against production on other data/judges."),
    ] = False,
    db: DbOption = None,
) -> None:
    """Run the gate against production and promote on pass; exit 1 with every reason if not."""
    registry = Registry(writable_store(db))
    target = registry.get(release)
    try:
        promoted = registry.promote(
            target,
            to=to,
            config=config,
            by=by,
            role=role,
            reason=reason,
            strict=strict,
            force=force,
            allow_mismatch=allow_mismatch,
        )
    except PromotionRefused as refused:
        _print_gate(registry.db, _last_promotion(registry, target))
        for line in refused.reasons:
            typer.echo(f"refused: {line}")
        raise
    _print_gate(registry.db, _last_promotion(registry, promoted))
    typer.echo(f"promoted {promoted.label} to {promoted.stage}")


def rollback(
    name: Annotated[str, typer.Argument(metavar="NAME", help="The release name.")],
    by: ByOption,
    reason: Annotated[str, typer.Option("--reason", help="Why.", metavar="TEXT")],
    to: Annotated[
        str | None, typer.Option("--to", help="Restore this release.", metavar="RELEASE")
    ] = None,
    role: RoleOption = None,
    db: DbOption = None,
) -> None:
    """Roll NAME's production release back to the rollback candidate (or --to)."""
    registry = Registry(writable_store(db))
    current = registry.current(name)
    restored = registry.rollback(name, by=by, reason=reason, to=to, role=role)
    typer.echo(f"rolled back {current.label if current else '-'}; restored {restored.label}")


def _overview(db: Path) -> tuple[list[str], list[tuple[Any, ...]]]:
    registry = Registry(db)
    names = sorted({r.name for r in registry.releases()})
    rows = []
    for name in names:
        current = registry.current(name)
        found = candidate(db, name)
        all_of = registry.releases(name)
        rows.append(
            (
                name,
                f"v{current.version} {current.id}" if current else "-",
                _restores(all_of, found.release_id),
                len(all_of),
                sum(r.stage in ("candidate", "staging") for r in all_of),
            )
        )
    return ["name", "production", "rollback_restores", "releases", "waiting"], rows


def _restores(releases_of: list[Release], release_id: str | None) -> str:
    for release in releases_of:
        if release.id == release_id:
            return f"v{release.version} {release.id}"
    return "-"


def releases(
    name: Annotated[str | None, typer.Argument(metavar="NAME", help="One release name.")] = None,
    fmt: FormatOption = OutputFormat.table,
    db: DbOption = None,
) -> None:
    """What is in production for each name, and what a rollback would restore."""
    path = readable_store(db)
    if name is None:
        columns, rows = _overview(path)
        emit_rows(columns, rows, fmt)
        return
    registry = Registry(path)
    listed = registry.releases(name)
    if not listed:
        raise UserError(f"no releases named {name!r} in {path}")
    columns = [
        "version",
        "release_id",
        "stage",
        "model",
        "prompt_version",
        "dataset_version",
        "run_id",
        "created_at",
    ]
    rows = [
        (
            r.version,
            r.id,
            r.stage,
            r.model,
            r.prompt_version,
            r.dataset_version,
            r.run_id,
            r.created_at,
        )
        for r in listed
    ]
    display = {
        "release_id": id_column("release", [r.id for r in listed]),
        "run_id": id_column("run", [r.run_id for r in listed]),
        "prompt_version": Column("prompt"),
        "dataset_version": Column("dataset"),
        "created_at": None,
    }
    emit_rows(columns, rows, fmt, display=display)
    if fmt == OutputFormat.table:
        current, found = registry.current(name), candidate(path, name)
        typer.echo(f"in production: {current.label if current else '-'}")
        typer.echo(f"a rollback restores: {_restores(listed, found.release_id)}")
        for why in found.excluded.values():
            typer.echo(f"  not a rollback candidate: {why}")
