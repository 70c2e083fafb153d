"""``evals.Registry``: releases made from completed runs, and their lifecycle.

Stages run candidate -> staging -> production -> superseded (another was promoted) or
rolled_back, and any -> archived. A release never changes after it is registered; each
transition (and each refusal, and each approval) is an event in ``release_events`` with actor,
role, time, reason, the gate it rests on and its evidence.

Example:
    >>> registry = evals.Registry()
    >>> release = registry.register(run, name="support-bot")
    >>> registry.approve(release, by="alice@example.com", role="owner")
    >>> registry.promote(release, to="production", config="gates.yaml", by="alice@example.com")
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from .._store_path import default_db_path
from ..errors import UserError
from . import promotion, rollback
from .release_store import (
    EventRecord,
    append_event,
    fetch,
    now,
    read,
    resolve_release_id,
    resolve_run_id,
    transaction,
)
from .results import Run

__all__ = ["STAGES", "Registry", "Release", "ReleaseEvent"]

STAGES = ("candidate", "staging", "production", "superseded", "rolled_back", "archived")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/-]{0,99}$")
_RELEASE_SQL = "SELECT * FROM releases WHERE release_id = ?"


@dataclass(frozen=True)
class Release:
    """One registered triple, as it stood when it was read (``stage`` is that moment's)."""

    id: str
    name: str
    version: int
    run_id: str
    dataset_name: str | None
    dataset_version: str
    model: str
    prompt_name: str | None
    prompt_version: str | None
    stage: str
    created_at: datetime
    registered_by: str | None = None

    @property
    def triple(self) -> tuple[str, str, str | None]:
        """(dataset_version, model, prompt_version)."""
        return (self.dataset_version, self.model, self.prompt_version)

    @property
    def label(self) -> str:
        return f"{self.name} v{self.version} ({self.id})"

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> Release:
        return cls(
            id=row["release_id"],
            name=row["name"],
            version=int(row["version"]),
            run_id=row["run_id"],
            dataset_name=row["dataset_name"],
            dataset_version=row["dataset_version"],
            model=row["model"],
            prompt_name=row["prompt_name"],
            prompt_version=row["prompt_version"],
            stage=row["stage"],
            created_at=row["created_at"],
            registered_by=row["registered_by"],
        )


@dataclass(frozen=True)
class ReleaseEvent:
    """One row of a release's history: a transition, a refusal or an approval."""

    release_id: str
    name: str
    seq: int
    action: str
    outcome: str
    from_stage: str | None
    to_stage: str | None
    actor: str | None
    role: str | None
    reason: str | None
    occurred_at: datetime
    gate_run_id: str | None
    details: dict[str, Any]

    @classmethod
    def from_row(cls, row: dict[str, Any]) -> ReleaseEvent:
        details = row["details"]
        return cls(
            release_id=row["release_id"],
            name=row["name"],
            seq=int(row["seq"]),
            action=row["action"],
            outcome=row["outcome"],
            from_stage=row["from_stage"],
            to_stage=row["to_stage"],
            actor=row["actor"],
            role=row["role"],
            reason=row["reason"],
            occurred_at=row["occurred_at"],
            gate_run_id=row["gate_run_id"],
            details=json.loads(details) if isinstance(details, str) else dict(details or {}),
        )


def _actor(by: str | None, what: str) -> str:
    if by is None or not str(by).strip():
        raise UserError(f"{what} needs by= (who is doing it), got {by!r}")
    return str(by).strip()


class Registry:
    """The releases in one store (``db=None``: configure()'s db, LLMTRACE_DB, ./llmtrace.duckdb)."""

    def __init__(self, db: str | os.PathLike[str] | None = None) -> None:
        self.db: Path = default_db_path(db)

    # --- reading ------------------------------------------------------------------------------
    def get(self, release: Release | str) -> Release:
        """The release as it stands now (``release`` may be a unique id prefix)."""
        release_id = (
            release.id if isinstance(release, Release) else resolve_release_id(self.db, release)
        )
        rows = read(self.db, _RELEASE_SQL, [release_id])
        if not rows:
            raise UserError(f"no release {release_id!r} in {self.db}")
        return Release.from_row(rows[0])

    def releases(self, name: str | None = None) -> list[Release]:
        """Every release (of ``name``), oldest first."""
        where, params = ("WHERE name = ?", [name]) if name else ("", [])
        rows = read(self.db, f"SELECT * FROM releases {where} ORDER BY name, version", params)
        return [Release.from_row(r) for r in rows]

    def current(self, name: str) -> Release | None:
        """The release of ``name`` in production, or None."""
        rows = read(
            self.db, "SELECT * FROM releases WHERE name = ? AND stage = 'production'", [name]
        )
        return Release.from_row(rows[0]) if rows else None

    def history(self, name: str) -> list[ReleaseEvent]:
        """Every event of ``name``'s releases, oldest first."""
        rows = read(self.db, "SELECT * FROM release_events WHERE name = ? ORDER BY seq", [name])
        return [ReleaseEvent.from_row(r) for r in rows]

    def rollback_candidate(self, name: str) -> Release | None:
        """What a rollback of ``name`` would restore, or None (see :func:`rollback.candidate`)."""
        found = rollback.candidate(self.db, name)
        return self.get(found.release_id) if found.release_id is not None else None

    # --- changing -----------------------------------------------------------------------------
    def register(self, run: Run | str, *, name: str, by: str | None = None) -> Release:
        """A candidate release from a completed run; the same run under the same name gives
        back the release it already is."""
        if not isinstance(name, str) or not _NAME.match(name):
            raise UserError(
                f"release name {name!r}: use letters, digits, '.', '_', '-' or '/' "
                "(at most 100), starting with a letter or digit"
            )
        run_id = run.id if isinstance(run, Run) else resolve_run_id(self.db, run)
        with transaction(self.db) as conn:
            runs = fetch(conn, "SELECT * FROM eval_runs WHERE run_id = ?", [run_id])
            if not runs:
                raise UserError(f"no run {run_id!r} in {self.db}")
            if runs[0]["status"] != "completed":
                raise UserError(
                    f"run {run_id} is {runs[0]['status']}: only a completed run can be released"
                )
            existing = fetch(
                conn, "SELECT * FROM releases WHERE name = ? AND run_id = ?", [name, run_id]
            )
            if existing:
                return Release.from_row(existing[0])
            release_id = _insert_record(conn, name, runs[0], by)
            append_event(
                conn,
                EventRecord(
                    release_id,
                    name,
                    "register",
                    "done",
                    None,
                    "candidate",
                    by,
                    details={"run_id": run_id},
                ),
            )
            return Release.from_row(fetch(conn, _RELEASE_SQL, [release_id])[0])

    def approve(
        self,
        release: Release | str,
        *,
        by: str,
        role: str | None = None,
        note: str | None = None,
    ) -> None:
        """Record an approval of ``release`` by ``by`` (in ``role``)."""
        approver = _actor(by, "an approval")
        target = self.get(release)
        with transaction(self.db) as conn:
            stage = fetch(conn, "SELECT stage FROM releases WHERE release_id = ?", [target.id])
            if stage[0]["stage"] not in ("candidate", "staging"):
                raise UserError(
                    f"release {target.label} is {stage[0]['stage']}: only a candidate or a "
                    "staging release can be approved"
                )
            conn.execute(
                "INSERT INTO approvals (release_id, approver, role, note, approved_at) "
                "VALUES (?, ?, ?, ?, ?)",
                [target.id, approver, role, note, now()],
            )
            append_event(
                conn,
                EventRecord(
                    target.id,
                    target.name,
                    "approve",
                    "done",
                    stage[0]["stage"],
                    None,
                    approver,
                    role,
                    note,
                ),
            )

    def promote(
        self,
        release: Release | str,
        *,
        to: str,
        config: str | os.PathLike[str] | dict[str, Any] | None = None,
        by: str,
        role: str | None = None,
        reason: str | None = None,
        strict: bool = False,
        force: bool = False,
        allow_mismatch: bool = False,
    ) -> Release:
        """Promote ``release`` to staging or production; see :func:`promotion.promote`."""
        target = self.get(release)
        request = promotion.Request(
            target.id,
            target.name,
            target.run_id,
            to,
            _actor(by, "a promotion"),
            role,
            reason,
            strict,
            force,
            allow_mismatch,
        )
        promotion.promote(self.db, request, config)
        return self.get(target.id)

    def rollback(
        self,
        name: str,
        *,
        by: str,
        reason: str,
        to: Release | str | None = None,
        role: str | None = None,
    ) -> Release:
        """Take ``name``'s production release out (rolled_back) and restore the rollback
        candidate (or ``to``); returns the restored release."""
        actor = _actor(by, "a rollback")
        if not reason or not str(reason).strip():
            raise UserError("a rollback needs reason= (why it is rolled back)")
        wanted = None
        if to is not None:
            wanted = to.id if isinstance(to, Release) else resolve_release_id(self.db, to)
        restored_id = rollback.rollback(self.db, name, actor, role, reason, wanted)
        return self.get(restored_id)

    def archive(self, release: Release | str, *, by: str, reason: str | None = None) -> Release:
        """Move ``release`` to archived, from any stage, for good."""
        actor = _actor(by, "archiving")
        target = self.get(release)
        with transaction(self.db) as conn:
            stage = fetch(conn, "SELECT stage FROM releases WHERE release_id = ?", [target.id])
            if stage[0]["stage"] == "archived":
                raise UserError(f"release {target.label} is already archived")
            append_event(
                conn,
                EventRecord(
                    target.id,
                    target.name,
                    "archive",
                    "done",
                    stage[0]["stage"],
                    "archived",
                    actor,
                    reason=reason,
                ),
            )
        return self.get(target.id)


def _insert_record(conn: Any, name: str, run: dict[str, Any], by: str | None) -> str:
    import uuid

    release_id = uuid.uuid4().hex[:16]
    version = conn.execute(
        "SELECT coalesce(max(version), 0) + 1 FROM release_records WHERE name = ?", [name]
    ).fetchall()[0][0]
    conn.execute(
        """INSERT INTO release_records (release_id, name, version, run_id, suite, dataset_name,
               dataset_version, model, prompt_name, prompt_version, registered_by, created_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        [
            release_id,
            name,
            version,
            run["run_id"],
            run["suite"],
            run["dataset_name"],
            run["dataset_version"],
            run["model"],
            run["prompt_name"],
            run["prompt_version"],
            by,
            now(),
        ],
    )
    return release_id
