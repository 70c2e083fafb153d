"""Rollback: take a name's production release out and restore the one before it.

The rollback candidate is the most recent release that was in production before the current
one, passed its gate (pass or warn), was not rolled back itself, is not archived and whose run
is still in the store. With none, a rollback is refused, saying why each earlier production
release does not qualify.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from ..errors import UserError
from ..store.query import open_store_for_read
from .release_errors import RollbackRefused
from .release_store import EventRecord, append_event, fetch, transaction

__all__ = ["Candidate", "candidate", "rollback"]


@dataclass
class Candidate:
    """What a rollback would restore (``release_id``), what is in production now, and why
    each other earlier production release does not qualify."""

    release_id: str | None
    production_id: str | None
    excluded: dict[str, str] = field(default_factory=dict)
    eligible: list[str] = field(default_factory=list)


def _past(conn: duckdb.DuckDBPyConnection, name: str) -> list[dict[str, Any]]:
    """Each release of ``name`` that was ever in production: its stage, whether its run is
    stored, when it last entered production, and its best gate decision."""
    return fetch(
        conn,
        """WITH entered AS (
               SELECT release_id, max(seq) AS last_seq,
                      list(gate_run_id) FILTER (WHERE gate_run_id IS NOT NULL) AS gates
               FROM release_events
               WHERE name = ? AND outcome = 'done' AND to_stage = 'production'
               GROUP BY release_id)
           SELECT r.release_id, r.version, r.stage, r.run_id, e.last_seq,
                  ev.run_id IS NOT NULL AS run_stored,
                  (SELECT list(g.decision) FROM release_gates g
                   WHERE list_contains(e.gates, g.gate_run_id)) AS decisions
           FROM entered e JOIN releases r USING (release_id)
           LEFT JOIN eval_runs ev ON ev.run_id = r.run_id
           ORDER BY e.last_seq DESC""",
        [name],
    )


def _why_not(row: dict[str, Any]) -> str | None:
    label = f"v{row['version']} ({row['release_id']})"
    if row["stage"] == "rolled_back":
        return f"{label} was rolled back"
    if row["stage"] == "archived":
        return f"{label} is archived"
    if not any(d in ("pass", "warn") for d in row["decisions"] or []):
        return f"{label} never passed its gate (forced, or promoted without one)"
    if not row["run_stored"]:
        return f"{label}: its run {row['run_id']} is no longer in the store"
    return None


def find_candidate(conn: duckdb.DuckDBPyConnection, name: str) -> Candidate:
    """The rollback candidate of ``name`` read on an open connection."""
    found = Candidate(None, None)
    for row in _past(conn, name):
        if row["stage"] == "production":
            found.production_id = row["release_id"]
            continue
        why = _why_not(row)
        if why is None:
            found.eligible.append(row["release_id"])
        else:
            found.excluded[row["release_id"]] = why
    found.release_id = found.eligible[0] if found.eligible else None
    return found


def candidate(db: Path, name: str) -> Candidate:
    """The rollback candidate of ``name`` (see the module docstring)."""
    conn = open_store_for_read(db)
    try:
        return find_candidate(conn, name)
    finally:
        conn.close()


def _refusal_reasons(name: str, found: Candidate, wanted: str | None) -> list[str]:
    reasons = []
    if found.production_id is None:
        reasons.append(f"nothing of {name} is in production")
    if wanted is not None and wanted not in found.eligible:
        why = found.excluded.get(wanted, f"{wanted} was never in production before the current one")
        reasons.append(f"cannot restore {why}")
    elif wanted is None and found.release_id is None:
        excluded = "; ".join(found.excluded.values())
        reasons.append(
            f"no rollback candidate for {name}: "
            + (excluded if excluded else "no earlier release was in production")
        )
    return reasons


def rollback(
    db: Path, name: str, actor: str, role: str | None, reason: str, wanted: str | None
) -> str:
    """Roll ``name`` back (to ``wanted`` or the candidate); returns the restored release id."""
    with transaction(db) as conn:
        latest = fetch(
            conn,
            "SELECT release_id FROM release_records WHERE name = ? ORDER BY version DESC LIMIT 1",
            [name],
        )
        if not latest:
            raise UserError(f"no releases named {name!r}")
        if wanted is not None:
            owner = fetch(conn, "SELECT name FROM release_records WHERE release_id = ?", [wanted])
            if owner[0]["name"] != name:
                raise UserError(f"release {wanted} belongs to {owner[0]['name']!r}, not {name!r}")
        found = find_candidate(conn, name)
        reasons = _refusal_reasons(name, found, wanted)
        subject = found.production_id or latest[0]["release_id"]
        if reasons:
            details = {"reasons": reasons, "excluded": found.excluded, "wanted": wanted}
            append_event(
                conn,
                EventRecord(
                    subject,
                    name,
                    "rollback",
                    "refused",
                    None,
                    "rolled_back",
                    actor,
                    role,
                    reason,
                    details=details,
                ),
            )
        else:
            restored = str(wanted or found.release_id)
            _apply(conn, name, str(found.production_id), restored, actor, role, reason, found)
    if reasons:
        raise RollbackRefused(f"rollback of {name} refused", reasons)
    return restored


def _apply(
    conn: duckdb.DuckDBPyConnection,
    name: str,
    current: str,
    restored: str,
    actor: str,
    role: str | None,
    reason: str,
    found: Candidate,
) -> None:
    details: dict[str, Any] = {"restored": restored, "excluded": found.excluded}
    append_event(
        conn,
        EventRecord(
            current,
            name,
            "rollback",
            "done",
            "production",
            "rolled_back",
            actor,
            role,
            reason,
            details=details,
        ),
    )
    prior = fetch(conn, "SELECT stage FROM releases WHERE release_id = ?", [restored])[0]["stage"]
    passed = fetch(
        conn,
        "SELECT gate_run_id FROM release_gates WHERE release_id = ? AND decision IN "
        "('pass', 'warn') ORDER BY decided_at DESC LIMIT 1",
        [restored],
    )
    gate_run_id = passed[0]["gate_run_id"] if passed else None
    append_event(
        conn,
        EventRecord(
            restored,
            name,
            "restore",
            "done",
            prior,
            "production",
            actor,
            role,
            reason,
            gate_run_id,  # the gate it passed when it was promoted: what the restore rests on
            details={"rolled_back": current},
        ),
    )
