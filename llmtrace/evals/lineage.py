"""``evals.lineage(release | run)``: the DAG of what a release or run rests on, over content hashes.

dataset (name, version, rows, source) -> run; prompt (name, version, template hash) -> run;
model (requested, and the response snapshots seen) -> run; judges (model, version) -> run;
retrieval indexes (name, version, seen in the run's spans) -> run; code (git commit, dirty) and
environment (python, packages) -> run; run and baseline run -> gate -> release; approvals ->
release; release -> the release it superseded or was restored over.

"Which releases used dataset version X or index version Y?" is one query on the
``release_inputs`` view (see :mod:`llmtrace.store.release_tables`).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .._store_path import default_db_path
from ..errors import UserError
from .lineage_graph import Edge, Lineage, LineageNode
from .registry import Release
from .release_store import read, reading, resolve_release_id
from .results import Run

__all__ = ["Edge", "Lineage", "LineageNode", "lineage"]


def _run_inputs(graph: Lineage, db: Path, run: dict[str, Any], run_node: str) -> None:
    envelope = json.loads(run["envelope"] or "{}")
    for row in read(
        db,
        "SELECT * FROM datasets WHERE name = ? AND version = ?",
        [run["dataset_name"], run["dataset_version"]],
    ):
        node = graph.add(
            "dataset",
            row["content_hash"][:16],
            f"dataset {row['name']}@{row['version']}",
            name=row["name"],
            version=row["version"],
            rows=row["row_count"],
            content_hash=row["content_hash"],
            source=row["source_path"],
        )
        graph.link(node, run_node, "evaluated on")
    if run["prompt_version"] is not None:
        template_hash = envelope.get("prompt_hash") or _span_value(db, run["run_id"], "prompt_hash")
        node = graph.add(
            "prompt",
            template_hash or run["prompt_version"],
            f"prompt {run['prompt_name']}@{run['prompt_version']}",
            name=run["prompt_name"],
            version=run["prompt_version"],
            template_hash=template_hash,
        )
        graph.link(node, run_node, "prompted with")
    snapshots = _snapshots(db, run["run_id"])
    node = graph.add(
        "model",
        run["model"],
        f"model {run['model']}",
        requested=run["model"],
        snapshots_seen=snapshots,
    )
    graph.link(node, run_node, "answered by")
    _judges_and_indexes(graph, db, run["run_id"], run_node)
    git = envelope.get("git") or {}
    if git.get("commit"):
        dirty = "+dirty" if git.get("dirty") else ""
        node = graph.add(
            "code",
            f"{git['commit'][:12]}{dirty}",
            f"code {git['commit'][:12]}{dirty}",
            commit=git["commit"],
            dirty=git.get("dirty"),
        )
        graph.link(node, run_node, "built from")
    environment = {"python": envelope.get("python"), "packages": envelope.get("packages")}
    node = graph.add("environment", environment, f"python {environment['python']}", **environment)
    graph.link(node, run_node, "ran in")


def _span_value(db: Path, run_id: str, column: str) -> str | None:
    rows = read(
        db,
        f"SELECT DISTINCT {column} AS v FROM spans WHERE eval_run_id = ? "
        f"AND {column} IS NOT NULL LIMIT 1",
        [run_id],
    )
    return str(rows[0]["v"]) if rows else None


def _snapshots(db: Path, run_id: str) -> list[str]:
    rows = read(
        db,
        "SELECT DISTINCT attributes['gen_ai.response.model']::VARCHAR AS model FROM spans "
        "WHERE eval_run_id = ? AND kind = 'llm' AND model IS NOT NULL ORDER BY 1",
        [run_id],
    )
    return [r["model"] for r in rows if r["model"]]


def _judges_and_indexes(graph: Lineage, db: Path, run_id: str, run_node: str) -> None:
    for row in read(
        db,
        "SELECT DISTINCT judge_model, judge_version FROM eval_results WHERE "
        "run_id = ? AND (judge_model IS NOT NULL OR judge_version IS NOT NULL) "
        "ORDER BY 1, 2",
        [run_id],
    ):
        key = f"{row['judge_model']}@{row['judge_version']}"
        node = graph.add(
            "judge", key, f"judge {key}", model=row["judge_model"], version=row["judge_version"]
        )
        graph.link(node, run_node, "scored by")
    for row in read(
        db,
        "SELECT DISTINCT retrieval_index AS idx, retrieval_index_version AS v "
        "FROM spans WHERE eval_run_id = ? AND retrieval_index IS NOT NULL "
        "ORDER BY 1, 2",
        [run_id],
    ):
        key = f"{row['idx']}@{row['v']}"
        node = graph.add("retrieval_index", key, f"index {key}", name=row["idx"], version=row["v"])
        graph.link(node, run_node, "retrieved from")


def _run_node(graph: Lineage, db: Path, run_id: str, *, expand: bool) -> str:
    rows = read(db, "SELECT * FROM eval_runs WHERE run_id = ?", [run_id])
    if not rows:
        return graph.add("run", run_id, f"run {run_id} (not in this store)", run_id=run_id)
    run = rows[0]
    node = graph.add(
        "run",
        run_id,
        f"run {run_id}",
        suite=run["suite"],
        model=run["model"],
        status=run["status"],
        epochs=run["epochs"],
        seed=run["seed"],
    )
    if expand:
        _run_inputs(graph, db, run, node)
    return node


def _release_node(graph: Lineage, db: Path, release_id: str) -> str:
    row = read(db, "SELECT * FROM releases WHERE release_id = ?", [release_id])[0]
    return graph.add(
        "release",
        release_id,
        f"release {row['name']} v{row['version']}",
        name=row["name"],
        version=row["version"],
        stage=row["stage"],
    )


def _release_evidence(graph: Lineage, db: Path, release_id: str, run_node: str) -> str:
    node = _release_node(graph, db, release_id)
    graph.link(run_node, node, "registered as")
    for gate_row in read(
        db, "SELECT * FROM release_gates WHERE release_id = ? ORDER BY decided_at", [release_id]
    ):
        gate_node = graph.add(
            "gate",
            gate_row["gate_run_id"],
            f"gate {gate_row['decision']}",
            decision=gate_row["decision"],
            baseline_run_id=gate_row["baseline_run_id"],
        )
        graph.link(run_node, gate_node, "candidate of")
        if gate_row["baseline_run_id"]:
            base = _run_node(graph, db, gate_row["baseline_run_id"], expand=False)
            graph.link(base, gate_node, "baseline of")
        graph.link(gate_node, node, "decided")
    for approval in read(
        db, "SELECT * FROM approvals WHERE release_id = ? ORDER BY approved_at", [release_id]
    ):
        key = {"release": release_id, **approval}
        approval_node = graph.add(
            "approval",
            key,
            f"approval by {approval['approver']}",
            approver=approval["approver"],
            role=approval["role"],
            note=approval["note"],
            at=approval["approved_at"],
        )
        graph.link(approval_node, node, "approved")
    _neighbours(graph, db, release_id)
    return node


def _neighbours(graph: Lineage, db: Path, release_id: str) -> None:
    """Edges to the releases this one superseded, was superseded by, or was rolled back to."""
    rows = read(
        db,
        "SELECT release_id, action, details FROM release_events WHERE outcome = 'done' AND "
        "action IN ('supersede', 'rollback') AND name = "
        "(SELECT name FROM release_records WHERE release_id = ?) ORDER BY seq",
        [release_id],
    )
    for row in rows:
        details = json.loads(row["details"] or "{}")
        if row["action"] == "supersede":
            source, target, relation = details.get("superseded_by"), row["release_id"], "superseded"
        else:
            source, target, relation = row["release_id"], details.get("restored"), "rolled back to"
        if source and target and release_id in (source, target):
            graph.link(_release_node(graph, db, source), _release_node(graph, db, target), relation)


def lineage(subject: Release | Run | str, *, db: str | os.PathLike[str] | None = None) -> Lineage:
    """The lineage of a release or a run (``subject`` may be a unique id prefix of either)."""
    path = default_db_path(db or (subject.db_path if isinstance(subject, Run) else None))
    with reading(path):
        return _lineage(path, subject)


def _lineage(path: Path, subject: Release | Run | str) -> Lineage:
    if isinstance(subject, Run):
        run_id, release_id = subject.id, None
    elif isinstance(subject, Release):
        run_id, release_id = subject.run_id, subject.id
    else:
        run_id, release_id = _resolve(path, subject)
    graph = Lineage(root="")
    run_node = _run_node(graph, path, run_id, expand=True)
    graph.root = run_node
    releases = (
        [release_id]
        if release_id
        else [
            r["release_id"]
            for r in read(
                path,
                "SELECT release_id FROM release_records WHERE run_id = ? ORDER BY created_at",
                [run_id],
            )
        ]
    )
    for rid in releases:
        node = _release_evidence(graph, path, rid, run_node)
        if rid == release_id:
            graph.root = node
    return graph


def _resolve(db: Path, prefix: str) -> tuple[str, str | None]:
    cleaned = prefix.strip().lower()
    runs = read(db, "SELECT run_id FROM eval_runs WHERE starts_with(run_id, ?) LIMIT 2", [cleaned])
    releases = read(
        db,
        "SELECT release_id, run_id FROM release_records WHERE starts_with(release_id, ?) LIMIT 2",
        [cleaned],
    )
    if len(runs) + len(releases) > 1:
        raise UserError(f"id {prefix!r} is ambiguous between runs and releases; give more")
    if releases:
        release_id = resolve_release_id(db, prefix)
        return str(releases[0]["run_id"]), release_id
    if runs:
        return str(runs[0]["run_id"]), None
    raise UserError(f"no run or release with id starting {prefix!r} in {db}")
