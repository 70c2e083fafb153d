"""``evals.report()``: one self-contained HTML file showing a gate and the evidence behind it.

It holds the verdict and the gate table with an interval plot of every bound, the runs
compared, score and latency distributions of candidate against baseline, cost per example,
the examples that changed verdict (regressions first), judges, the dataset and each run's
envelope. Plots are inline SVG; nothing is fetched when the file is opened.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..._store_path import default_db_path
from ...errors import UserError
from ..calibrate import JudgeCalibration
from ..calibration_store import load_calibrations
from ..gate_config import GateConfig
from ..gates import GateResult
from ..gates import gate as decide_gate
from ..html import Section, escape, render_page
from ..results import Run
from .data import RunView, load_run_view, stored_gate
from .examples import MAX_EXAMPLES, examples_section
from .figures import cost_section, distributions_section
from .lineage_section import lineage_section
from .provenance import dataset_section, envelope_section, judges_section
from .summary import gate_table, runs_table, verdict_banner

__all__ = ["report"]


def _view(db: Path, run: Run | str, role: str) -> RunView:
    run_id = run.id if isinstance(run, Run) else run
    view = load_run_view(db, run_id)
    if view is None:
        raise UserError(f"{role} run {run_id!r} is not in {db}; list the runs with llmtrace runs")
    return view


def _gate_body(result: GateResult) -> str:
    overrides = "".join(f"<p><strong>Override:</strong> {escape(o)}</p>" for o in result.overrides)
    return gate_table(result) + overrides


def _sections(
    db: Path,
    views: tuple[RunView, RunView | None],
    result: GateResult | None,
    options: dict[str, Any],
    calibrations: Sequence[JudgeCalibration],
) -> list[Section]:
    cand, base = views
    parts = []
    if result is not None:
        parts.append(Section("Gate", _gate_body(result), "gate"))
    changed = "Examples that changed verdict" if base else "Examples that failed"
    parts += [
        Section("Runs", runs_table(cand, base), "runs"),
        Section("Distributions", distributions_section(cand, base), "distributions"),
        Section("Cost per example", cost_section(cand, base), "cost"),
        Section(changed, examples_section(db, cand, base, **options), "examples"),
        Section("Judges", judges_section(cand, base, calibrations), "judges"),
        Section("Dataset", dataset_section(cand, base), "dataset"),
        Section("Envelope", envelope_section(cand, base), "envelope"),
    ]
    graph = lineage_section(db, cand.run_id)
    if graph is not None:
        parts.append(Section("Lineage", graph, "lineage"))
    return parts


def report(
    candidate: Run | str,
    baseline: Run | str | None = None,
    *,
    result: GateResult | None = None,
    config: str | os.PathLike[str] | dict[str, Any] | GateConfig | None = None,
    out: str | os.PathLike[str] | None = None,
    db: str | os.PathLike[str] | None = None,
    max_examples: int = MAX_EXAMPLES,
    trace_link: str | None = None,
    calibrations: Sequence[JudgeCalibration] = (),
    sections: Sequence[Section] = (),
) -> str:
    """The HTML report of ``candidate`` (against ``baseline``), returned and written to ``out``.

    Args:
        candidate: the run, or its id.
        baseline: the run compared against; taken from ``result`` when that has one.
        result: a gate already decided; else ``config`` decides one now (and stores it, as
            :func:`evals.gate` does); else the newest gate stored for these runs is shown.
        out: where to write the file (folders are created).
        max_examples: how many changed examples to show in full; the rest are counted.
        trace_link: a URL template with ``{trace_id}`` for your tracing UI (default: ids as text).
        calibrations: judges' agreement with human labels (:func:`evals.calibrate`), shown
            beside the judge versions they measured; calibrations stored in ``db`` are shown
            too (after the given ones), and a judge version with neither is flagged.
        sections: more sections to append (lineage, ...).

    Example:
        >>> result = evals.gate(candidate=run, baseline=base_run, config="gates.yaml")
        >>> evals.report(run, base_run, result=result, out="report.html")
    """
    path = default_db_path(db or (candidate.db_path if isinstance(candidate, Run) else None))
    if baseline is None and result is not None and result.baseline_run_id:
        baseline = result.baseline_run_id
    cand = _view(path, candidate, "candidate")
    base = _view(path, baseline, "baseline") if baseline is not None else None
    if result is not None and result.candidate_run_id != cand.run_id:
        raise UserError(
            f"result= decides run {result.candidate_run_id}, not the candidate {cand.run_id}"
        )
    if result is None and config is not None:
        result = decide_gate(cand.run_id, base.run_id if base else None, config, db=path)
    elif result is None:
        result = stored_gate(path, cand.run_id, base.run_id if base else None)
    options = {"limit": max_examples, "trace_link": trace_link}
    known = [*calibrations, *load_calibrations(path)]
    parts = [*_sections(path, (cand, base), result, options, known), *sections]
    against = f" against baseline <code>{escape(base.run_id)}</code>" if base else ""
    header = verdict_banner(result) + (
        f"<p>Candidate <code>{escape(cand.run_id)}</code>{against}: suite "
        f"{escape(cand.run['suite'])}, model {escape(cand.run['model'])}.</p>"
    )
    page = render_page(f"llmtrace report: {cand.run['suite']}", parts, header=header)
    if out is not None:
        _write(Path(out), page)
    return page


def _write(path: Path, page: str) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: report not written: {exc.strerror or exc}") from None
