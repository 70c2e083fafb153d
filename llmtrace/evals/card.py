"""``evals.card(release, format="md"|"html")``: the model card, from stored evidence.

Generated: triple and versions, the evaluation data, every metric with its interval (quality,
safety, latency, cost), the gate decisions, approvals, history, lineage, the rollback candidate
and reproducibility. Written by people in ``card.yaml``: intended use, out-of-scope uses,
limitations, ethical considerations, owners. A written section that is missing is shown as
missing, never invented.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml

from ..errors import UserError
from .card_render import Part, Section, to_html, to_markdown
from .gate_config import parse_gate_config
from .gates import GateError, decide_rules
from .lineage import lineage
from .metrics import load_run_data
from .registry import Registry, Release
from .release_store import read, reading
from .reproduce import reproduce
from .rollback import candidate

__all__ = ["WRITTEN_SECTIONS", "card"]

WRITTEN_SECTIONS = (
    ("intended_use", "Intended use"),
    ("out_of_scope_uses", "Out-of-scope uses"),
    ("limitations", "Limitations"),
    ("ethical_considerations", "Ethical considerations"),
    ("owners", "Owners"),
)
_STATIC = (
    ("errors.rate", "max", 1.0),
    ("safety.violation_rate", "max", 1.0),
    ("latency.p50_ms", "max", 1e300),
    ("latency.p95_ms", "max", 1e300),
    ("cost.usd_per_example", "max", 1e300),
    ("cost.usd_per_success", "max", 1e300),
    ("tokens.per_example", "max", 1e300),
)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _metrics(db: Path, run_id: str) -> Part:
    """Every metric of the run with its interval, by the gates' own statistics (not stored)."""
    data = load_run_data(db, run_id)
    if data is None:
        return Part("p", f"run {run_id} is not in this store: no metrics")
    rules: list[dict[str, Any]] = [
        {"metric": f"quality.{name}", "min": 0.0}
        if kind == "quality"
        else {"metric": f"safety.{name}", "max": 1.0}
        for name, kind in sorted(data.scorer_kinds.items())
        if kind in ("quality", "safety")
    ]
    rules += [{"metric": metric, bound: value} for metric, bound, value in _STATIC]
    confidence = 0.95
    rows = []
    for rule in rules:
        if rule["metric"] == "safety.violation_rate" and "safety" not in data.scorer_kinds.values():
            rows.append((rule["metric"], "-", "-", "-", "the run has no safety scorer"))
            continue
        config = parse_gate_config({"confidence": confidence, "gates": [rule]}, "card")
        try:
            outcome = decide_rules(config, data, None)[0]
        except GateError as exc:  # no known cost, no latency: say so, do not invent a number
            rows.append((rule["metric"], "-", "-", "-", str(exc).partition(": ")[2]))
            continue
        interval = f"[{_fmt(outcome.ci_low)}, {_fmt(outcome.ci_high)}]"
        rows.append((outcome.metric, _fmt(outcome.estimate), interval, str(outcome.n), ""))
    headers = ("metric", "estimate", f"{confidence:.0%} interval", "n", "note")
    return Part("table", headers, rows)


def _triple(release: Release, run: dict[str, Any], dataset: dict[str, Any] | None) -> Section:
    rows = [
        ("release", f"{release.name} v{release.version} ({release.id})"),
        ("stage", release.stage),
        ("model", release.model),
        ("prompt", f"{release.prompt_name or '-'} @ {release.prompt_version or '-'}"),
        ("dataset", f"{release.dataset_name} @ {release.dataset_version}"),
        (
            "run",
            f"{run['run_id']} (suite {run['suite']}, {run['epochs']} epoch(s), "
            f"seed {run['seed']}, {run['status']})",
        ),
    ]
    parts = [Part("table", ("field", "value"), rows)]
    checks = json.loads(run["envelope"] or "{}").get("data_checks")
    if checks:
        rows = [(f"data.{key}", _fmt(value)) for key, value in checks.items()]
        parts.append(Part("table", ("data check (recorded with the run)", "measured"), rows))
    if dataset is not None:
        parts.append(
            Part(
                "p",
                f"Evaluation data: {dataset['row_count']} examples, content "
                f"hash {dataset['content_hash']}, source "
                f"{dataset['source_path'] or '(in memory)'}.",
            )
        )
    return Section("Triple and versions", parts)


def _gates(db: Path, release_id: str) -> Section:
    rows = read(
        db, "SELECT * FROM release_gates WHERE release_id = ? ORDER BY decided_at", [release_id]
    )
    if not rows:
        return Section("Gate decisions", [Part("p", "No gate has been run for this release.")])
    parts = []
    for row in rows:
        result = json.loads(row["result"])
        against = row["baseline_run_id"] or "no baseline (absolute bounds only)"
        parts.append(
            Part(
                "p",
                f"Gate {row['gate_run_id']} on {row['decided_at']:%Y-%m-%d %H:%M}"
                f" against {against}: **{row['decision']}**",
            )
        )
        parts.append(
            Part(
                "table",
                ("rule", "decision", "estimate", "interval"),
                [
                    (
                        g["rule"],
                        g["decision"],
                        _fmt(g["estimate"]),
                        f"[{_fmt(g['ci_low'])}, {_fmt(g['ci_high'])}]",
                    )
                    for g in result["gates"]
                ],
            )
        )
    return Section("Gate decisions", parts)


def _people(db: Path, release: Release) -> list[Section]:
    approvals = read(
        db, "SELECT * FROM approvals WHERE release_id = ? ORDER BY approved_at", [release.id]
    )
    approval_part = (
        Part(
            "table",
            ("approver", "role", "note", "at"),
            [
                (
                    a["approver"],
                    a["role"] or "-",
                    a["note"] or "-",
                    f"{a['approved_at']:%Y-%m-%d %H:%M}",
                )
                for a in approvals
            ],
        )
        if approvals
        else Part("p", "No approvals recorded.")
    )
    events = [e for e in Registry(db).history(release.name) if e.release_id == release.id]
    history = Part(
        "table",
        ("when", "action", "outcome", "stage", "by", "reason"),
        [
            (
                f"{e.occurred_at:%Y-%m-%d %H:%M}",
                e.action,
                e.outcome,
                f"{e.from_stage or '-'} -> {e.to_stage or '-'}",
                e.actor or "-",
                e.reason or "-",
            )
            for e in events
        ],
    )
    return [Section("Approvals", [approval_part]), Section("History", [history])]


def _rollback(db: Path, release: Release) -> Section:
    found = candidate(db, release.name)
    text = (
        f"A rollback of {release.name} would restore {found.release_id}."
        if found.release_id
        else f"A rollback of {release.name} has nothing to restore."
    )
    parts = [Part("p", text)]
    parts += [Part("list", list(found.excluded.values()))] if found.excluded else []
    return Section("Rollback candidate", parts)


def _reproducibility(db: Path, run_id: str) -> Section:
    result = reproduce(run_id, db=db)
    rows = [(c.name, "ok" if c.ok else "fails", c.note) for c in result.checks]
    verdict = "reproducible" if result.reproducible else "not reproducible"
    return Section(
        "Reproducibility",
        [
            Part("p", f"The run is **{verdict}**."),
            Part("table", ("check", "result", "detail"), rows),
        ],
    )


def _written(card_yaml: str | os.PathLike[str] | None) -> list[Section]:
    data: dict[str, Any] = {}
    if card_yaml is not None and Path(card_yaml).exists():
        try:
            loaded = yaml.safe_load(Path(card_yaml).read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise UserError(f"{card_yaml}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
        if loaded is not None and not isinstance(loaded, dict):
            raise UserError(f"{card_yaml}: expected a mapping of section: text")
        data = loaded or {}
    sections = []
    for key, title in WRITTEN_SECTIONS:
        value = data.get(key)
        if value in (None, "", []):
            sections.append(
                Section(
                    title,
                    [
                        Part(
                            "missing",
                            f"Missing: nobody has written this section ({key} in card.yaml).",
                        )
                    ],
                )
            )
        elif isinstance(value, list):
            sections.append(Section(title, [Part("list", [str(v) for v in value])]))
        else:
            sections.append(Section(title, [Part("p", str(value).strip())]))
    return sections


def card(
    release: Release | str,
    format: str = "md",
    *,
    card_yaml: str | os.PathLike[str] | None = "card.yaml",
    db: str | os.PathLike[str] | None = None,
) -> str:
    """The model card of ``release`` as Markdown (``"md"``) or a standalone HTML page."""
    if format not in ("md", "html"):
        raise UserError(f"format={format!r}: a card is 'md' or 'html'")
    registry = Registry(db)
    with reading(registry.db):
        return _card(registry, release, format, card_yaml)


def _card(
    registry: Registry,
    release: Release | str,
    format: str,
    card_yaml: str | os.PathLike[str] | None,
) -> str:
    target = registry.get(release)
    path = registry.db
    run_rows = read(path, "SELECT * FROM eval_runs WHERE run_id = ?", [target.run_id])
    if not run_rows:
        raise UserError(f"release {target.label}: its run {target.run_id} is not in {path}")
    datasets = read(
        path,
        "SELECT * FROM datasets WHERE name = ? AND version = ?",
        [target.dataset_name, target.dataset_version],
    )
    written = _written(card_yaml)
    sections = [
        *written[:3],
        _triple(target, run_rows[0], datasets[0] if datasets else None),
        Section("Metrics (quality, safety, latency, cost)", [_metrics(path, target.run_id)]),
        _gates(path, target.id),
        *_people(path, target),
        _rollback(path, target),
        Section("Lineage", [Part("lineage", lineage(target, db=path))]),
        _reproducibility(path, target.run_id),
        *written[3:],
    ]
    title = f"Model card: {target.name} v{target.version}"
    if format == "md":
        return to_markdown(title, sections)
    summary = (
        f"Release {target.id} of {target.name}, stage **{target.stage}**: model {target.model}, "
        f"prompt {target.prompt_version or '-'}, dataset {target.dataset_version}, "
        f"run {target.run_id}."
    )
    return to_html(title, sections, header=summary)
