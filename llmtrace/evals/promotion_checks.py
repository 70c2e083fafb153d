"""The checks a promotion makes before its gate: approvals, git state, comparability."""

from __future__ import annotations

import json
from pathlib import Path

from .release_policy import StagePolicy
from .release_store import read

__all__ = ["approval_reasons", "comparability_problems", "git_reasons"]


def approval_reasons(db: Path, release_id: str, stage: str, policy: StagePolicy) -> list[str]:
    """Why the approvals recorded for ``release_id`` do not satisfy ``stage``'s policy."""
    if policy.approvals == 0:
        return []
    rows = read(
        db,
        "SELECT DISTINCT approver, role FROM approvals WHERE release_id = ?",
        [release_id],
    )
    counted = {r["approver"] for r in rows if not policy.roles or r["role"] in policy.roles}
    if len(counted) >= policy.approvals:
        return []
    roles = f" with role {' or '.join(policy.roles)}" if policy.roles else ""
    have = f"has {len(counted)}" + (f" ({', '.join(sorted(counted))})" if counted else "")
    return [f"{stage} needs {policy.approvals} approval(s){roles}; {have}"]


def git_reasons(db: Path, run_id: str, policy: StagePolicy) -> list[str]:
    """Why ``run_id``'s recorded git state does not satisfy ``require_clean_git``."""
    if not policy.require_clean_git:
        return []
    rows = read(db, "SELECT envelope FROM eval_runs WHERE run_id = ?", [run_id])
    envelope = json.loads(rows[0]["envelope"] or "{}") if rows else {}
    git = envelope.get("git") or {}
    if not git.get("commit"):
        return [f"run {run_id} recorded no git commit (require_clean_git)"]
    if git.get("dirty") is not False:
        return [
            f"run {run_id} was made from a dirty git tree at {git['commit'][:12]} "
            "(require_clean_git): commit, then run it again"
        ]
    return []


def _judges(db: Path, run_id: str) -> dict[str, set[str | None]]:
    rows = read(
        db,
        "SELECT DISTINCT scorer, judge_version FROM eval_results WHERE run_id = ? "
        "AND (judge_model IS NOT NULL OR judge_version IS NOT NULL)",
        [run_id],
    )
    judges: dict[str, set[str | None]] = {}
    for row in rows:
        judges.setdefault(row["scorer"], set()).add(row["judge_version"])
    return judges


def comparability_problems(db: Path, run_id: str, baseline_run_id: str) -> list[str]:
    """Why two runs cannot be compared: different dataset versions or judge versions."""
    runs = {
        r["run_id"]: r
        for r in read(
            db,
            "SELECT run_id, dataset_version FROM eval_runs WHERE run_id IN (?, ?)",
            [run_id, baseline_run_id],
        )
    }
    problems = []
    ours, theirs = runs[run_id]["dataset_version"], runs[baseline_run_id]["dataset_version"]
    if ours != theirs:
        problems.append(f"dataset versions differ: candidate {ours}, production {theirs}")
    mine, production = _judges(db, run_id), _judges(db, baseline_run_id)
    for scorer in sorted(set(mine) & set(production)):
        if mine[scorer] != production[scorer]:
            problems.append(
                f"judge {scorer!r} versions differ: candidate {sorted(map(str, mine[scorer]))}, "
                f"production {sorted(map(str, production[scorer]))}"
            )
    return problems
