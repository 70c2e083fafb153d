"""Where the evidence came from: judges and their versions, the dataset, each run's envelope."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..calibrate import JudgeCalibration
from ..html import Cell, escape, facts, format_number, table
from .data import RunView

__all__ = ["dataset_section", "envelope_section", "judges_section"]


def _calibration_text(
    calibrations: Sequence[JudgeCalibration], scorer: str, version: str | None
) -> object:
    found = [c for c in calibrations if c.judge == scorer and c.judge_version == version]
    if not found:
        return Cell("<strong>none stored</strong>: scores not shown to agree with humans")
    c = found[0]  # given first, then stored newest first
    return (
        f"{c.measure} {format_number(c.agreement)} [{format_number(c.ci_low)}, "
        f"{format_number(c.ci_high)}], n={c.n} on labels {c.dataset_version}"
    )


def judges_section(
    candidate: RunView, baseline: RunView | None, calibrations: Sequence[JudgeCalibration] = ()
) -> str:
    """Every scorer with its kind; judges with model and version in both runs (a version that
    differs is what makes two runs incomparable), and each judge version's agreement with human
    labels (:func:`llmtrace.evals.calibrate`, given or stored); a judge version without one is
    flagged."""
    rows = []
    uncalibrated = 0
    for scorer, (kind, model, version) in sorted(candidate.scorers.items()):
        row: list[object] = [scorer, kind, model or "–", version or "–"]
        if baseline is not None:
            base = baseline.scorers.get(scorer)
            base_version = (base[2] or "–") if base else "not in baseline"
            same = base is not None and base[2] == version
            row.append(Cell(escape(base_version) + ("" if same else " <strong>(differs)</strong>")))
        if model is None:
            row.append("–")  # not a judge
        else:
            text = _calibration_text(calibrations, scorer, version)
            uncalibrated += isinstance(text, Cell)
            row.append(text)
        rows.append(row)
    headers = ["scorer", "kind", "judge model", "candidate version"]
    if baseline is not None:
        headers.append("baseline version")
    headers.append("agreement with human labels")
    note = ""
    if uncalibrated:
        note = (
            f'<p class="muted">{uncalibrated} judge version(s) have no stored calibration: '
            "measure one with <code>llmtrace calibrate MODULE:JUDGE --labels FILE</code> or "
            "<code>evals.calibrate(judge, labelled, db=...)</code>.</p>"
        )
    return table(headers, rows, caption="Scorers and judges.") + note


def dataset_section(candidate: RunView, baseline: RunView | None) -> str:
    """The dataset version the runs used (both the same, or the gate would have refused)."""
    record = candidate.dataset or {}
    pairs: list[tuple[str, object]] = [
        ("name", candidate.run["dataset_name"]),
        ("version", candidate.run["dataset_version"]),
        ("rows", record.get("row_count")),
        ("content hash", Cell(f"<code>{escape(record.get('content_hash'))}</code>"))
        if record.get("content_hash")
        else ("content hash", None),
        ("source", record.get("source_path")),
        ("first recorded", str(record["recorded_at"])[:19] if record.get("recorded_at") else None),
    ]
    if baseline is not None and baseline.run["dataset_version"] != candidate.run["dataset_version"]:
        pairs.append(
            ("baseline version", f"{baseline.run['dataset_version']} (differs: an override)")
        )
    return facts(pairs)


def _packages(envelope: dict[str, Any]) -> str:
    packages = envelope.get("packages") or {}
    if not isinstance(packages, dict):
        return "–"
    return ", ".join(f"{name} {version}" for name, version in sorted(packages.items())) or "–"


def _git(envelope: dict[str, Any]) -> str:
    git = envelope.get("git") or {}
    commit = git.get("commit") if isinstance(git, dict) else None
    if not commit:
        return "not recorded"
    dirty = git.get("dirty")
    state = " (uncommitted changes)" if dirty else " (clean)" if dirty is False else ""
    return f"{str(commit)[:12]}{state}"


def envelope_section(candidate: RunView, baseline: RunView | None) -> str:
    """What it would take to run each run again: code, interpreter, packages, seed, host."""
    views = [candidate] + ([baseline] if baseline else [])
    envelopes = [v.envelope for v in views]
    rows: list[list[object]] = [
        ["git commit", *(_git(e) for e in envelopes)],
        ["python", *(f"{e.get('implementation', '')} {e.get('python', '–')}" for e in envelopes)],
        ["packages", *(_packages(e) for e in envelopes)],
        ["seed", *(str(e.get("seed", "–")) for e in envelopes)],
        ["platform", *(e.get("platform", "–") for e in envelopes)],
        ["host", *(e.get("host", "–") for e in envelopes)],
        ["command", *(" ".join(map(str, e.get("argv") or [])) or "–" for e in envelopes)],
    ]
    headers = ["", "candidate"] + (["baseline"] if baseline else [])
    return table(headers, rows, caption="The reproducibility envelope recorded with each run.")
