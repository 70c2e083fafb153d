"""``evals.reproduce(run, dataset=...)``: could this run be made again, and would it agree?

R(run) holds when the dataset's content hash recomputed from its source equals the recorded
one, the prompt template hash matches, the model is a pinned snapshot (``gpt-4o-2024-08-06``,
not the alias ``gpt-4o``), every judge has a pinned version, the git commit is recorded and
clean, and the package versions are recorded and installed now. ``rerun=suite`` also runs the
suite again and checks the new quality estimates with a paired gate (``max_drop: 0``, no fail).
Each failed check says what differs.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._store_path import default_db_path
from ..errors import UserError
from ..prompts import Prompt
from .dataset import Dataset, DatasetError
from .envelope import _git, _package_versions
from .gates import GateResult, gate
from .release_store import read, resolve_run_id
from .runner import Run, Suite

__all__ = ["Check", "Reproduction", "is_pinned_model", "reproduce"]

_SNAPSHOT = re.compile(r"\d{4}-\d{2}-\d{2}|\d{8}|-\d{4}$")


def is_pinned_model(model: str) -> bool:
    """A dated snapshot (``gpt-4o-2024-08-06``, ``claude-3-5-sonnet-20241022``,
    ``gpt-4-0613``), not an alias that moves (``gpt-4o-mini``, ``*-latest``)."""
    return "latest" not in model and bool(_SNAPSHOT.search(model))


@dataclass(frozen=True)
class Check:
    """One part of the predicate: what was recorded, what is there now, and what differs."""

    name: str
    recorded: Any
    current: Any
    ok: bool
    note: str = ""


@dataclass
class Reproduction:
    run_id: str
    checks: list[Check] = field(default_factory=list)
    rerun_run_id: str | None = None
    gate: GateResult | None = None

    @property
    def reproducible(self) -> bool:
        return all(check.ok for check in self.checks)

    @property
    def failures(self) -> list[str]:
        return [f"{c.name}: {c.note}" for c in self.checks if not c.ok]

    def to_text(self) -> str:
        lines = [f"reproduce run {self.run_id}:"]
        for c in self.checks:
            lines.append(f"  {'ok  ' if c.ok else 'FAIL'} {c.name}: {c.note or c.current}")
        verdict = "reproducible" if self.reproducible else "not reproducible"
        lines.append(f"{verdict} ({sum(c.ok for c in self.checks)}/{len(self.checks)} checks)")
        return "\n".join(lines)


def _load_dataset(source: Dataset | str | os.PathLike[str], name: str) -> Dataset:
    if isinstance(source, Dataset):
        return source
    path = Path(source)
    return Dataset.from_csv(path, name) if path.suffix == ".csv" else Dataset.from_jsonl(path, name)


def _dataset_check(db: Path, run: dict[str, Any], envelope: dict[str, Any], source: Any) -> Check:
    rows = read(
        db,
        "SELECT * FROM datasets WHERE name = ? AND version = ?",
        [run["dataset_name"], run["dataset_version"]],
    )
    recorded = rows[0]["content_hash"] if rows else envelope.get("dataset_hash")
    source = source or (rows[0]["source_path"] if rows else None) or envelope.get("dataset_source")
    if source is None:
        return Check("dataset", recorded, None, False, "no source to recompute it from (dataset=)")
    try:
        current = _load_dataset(source, run["dataset_name"])
    except DatasetError as exc:
        return Check("dataset", recorded, None, False, f"cannot read it: {exc}")
    if current.content_hash == recorded:
        return Check("dataset", recorded, current.content_hash, True, f"{len(current)} rows")
    ids = {
        r["example_id"]
        for r in read(
            db, "SELECT DISTINCT example_id FROM eval_results WHERE run_id = ?", [run["run_id"]]
        )
    }
    now_ids = {e.id for e in current.examples}
    added, removed = sorted(now_ids - ids), sorted(ids - now_ids)
    detail = f"; ids added {added[:5]}" if added else ""
    detail += f"; ids removed {removed[:5]}" if removed else ""
    if not detail:
        detail = "; same ids, so a row's content was edited"
    return Check(
        "dataset",
        recorded,
        current.content_hash,
        False,
        f"content hash {str(recorded)[:12]} recorded, {current.content_hash[:12]} now "
        f"({run['example_count']} rows then, {len(current)} now){detail}",
    )


def _prompt_check(run: dict[str, Any], envelope: dict[str, Any], prompt: Prompt | None) -> Check:
    version, recorded = run["prompt_version"], envelope.get("prompt_hash")
    if version is None:
        return Check("prompt", None, None, True, "the run used no prompt")
    if prompt is not None:
        ok = prompt.hash == recorded if recorded else prompt.version == version
        note = (
            "template hash matches"
            if ok
            else (f"template hash {str(recorded)[:12]} recorded, {prompt.hash[:12]} now")
        )
        return Check("prompt", recorded, prompt.hash, ok, note)
    if recorded and recorded.startswith(version):
        return Check(
            "prompt", recorded, recorded, True, f"version {version} is the template's content hash"
        )
    return Check(
        "prompt",
        recorded,
        None,
        False,
        f"version {version!r} does not pin the template: give the prompt (or --rerun)",
    )


def _judge_check(db: Path, run_id: str) -> Check:
    rows = read(
        db,
        "SELECT DISTINCT scorer, judge_model, judge_version FROM eval_results WHERE "
        "run_id = ? AND (judge_model IS NOT NULL OR judge_version IS NOT NULL) "
        "ORDER BY 1",
        [run_id],
    )
    judges = {r["scorer"]: f"{r['judge_model']}@{r['judge_version']}" for r in rows}
    unpinned = [r["scorer"] for r in rows if not r["judge_version"]]
    note = f"no version for {unpinned}" if unpinned else f"{len(judges)} judge(s) pinned"
    return Check("judges", judges, judges, not unpinned, note)


def _git_check(envelope: dict[str, Any]) -> Check:
    git = envelope.get("git") or {}
    head = _git("rev-parse", "HEAD")
    if not git.get("commit"):
        return Check("git", None, head, False, "no git commit recorded")
    if git.get("dirty") is not False:
        return Check(
            "git",
            git["commit"],
            head,
            False,
            f"the tree was dirty at {git['commit'][:12]}: uncommitted code ran",
        )
    return Check("git", git["commit"], head, True, f"clean at {git['commit'][:12]}")


def _packages_check(envelope: dict[str, Any]) -> Check:
    recorded: dict[str, str] = envelope.get("packages") or {}
    current = _package_versions()
    if not recorded:
        return Check("packages", recorded, current, False, "no package versions recorded")
    differ = [
        f"{name} {v} -> {current.get(name, 'missing')}"
        for name, v in sorted(recorded.items())
        if current.get(name) != v
    ]
    note = "; ".join(differ) if differ else f"{len(recorded)} packages as recorded"
    return Check("packages", recorded, current, not differ, note)


def _rerun(db: Path, run: dict[str, Any], suite: Suite) -> tuple[Check, Run, GateResult]:
    prompt = suite.prompt_for(run["prompt_version"]) if run["prompt_version"] else None
    again = suite.run(
        model=run["model"],
        prompt=prompt,
        epochs=run["epochs"],
        seed=run["seed"],
        params=json.loads(run["params"] or "{}"),
        db=db,
        progress=False,
    )
    scorers = [s.name for s in suite.scorers if s.kind == "quality"]
    if not scorers:
        raise UserError(f"suite {suite.name!r} has no quality scorer to compare a re-run on")
    rules = {"gates": [{"metric": f"quality.{s}", "max_drop": 0} for s in scorers]}
    result = gate(again.id, run["run_id"], rules, db=db)
    failed = [g.rule for g in result.gates if g.decision == "fail"]
    note = f"re-run {again.id}: gate {result.decision}" + (
        f" ({', '.join(failed)})" if failed else ""
    )
    return Check("rerun", run["run_id"], again.id, result.passed, note), again, result


def reproduce(
    run: Run | str,
    *,
    dataset: Dataset | str | os.PathLike[str] | None = None,
    prompt: Prompt | None = None,
    rerun: Suite | None = None,
    db: str | os.PathLike[str] | None = None,
) -> Reproduction:
    """Check R(run) (see the module docstring); ``run`` may be a unique id prefix."""
    path = default_db_path(db or (run.db_path if isinstance(run, Run) else None))
    run_id = run.id if isinstance(run, Run) else resolve_run_id(path, run)
    row = read(path, "SELECT * FROM eval_runs WHERE run_id = ?", [run_id])[0]
    envelope = json.loads(row["envelope"] or "{}")
    if prompt is None and rerun is not None and row["prompt_version"]:
        prompt = rerun.prompt_for(row["prompt_version"])
    result = Reproduction(run_id)
    result.checks = [
        _dataset_check(path, row, envelope, dataset),
        _prompt_check(row, envelope, prompt),
        Check(
            "model",
            row["model"],
            row["model"],
            is_pinned_model(row["model"]),
            "a dated snapshot"
            if is_pinned_model(row["model"])
            else f"{row['model']!r} is an alias, not a pinned snapshot",
        ),
        _judge_check(path, run_id),
        _git_check(envelope),
        _packages_check(envelope),
    ]
    if rerun is not None:
        check, again, gate_result = _rerun(path, row, rerun)
        result.checks.append(check)
        result.rerun_run_id, result.gate = again.id, gate_result
    return result
