"""The examples that changed verdict, each with its input, expected answer, both outputs (when
content was captured) and its trace ids; capped, with a count of the rest."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from ..html import escape, format_number
from .changes import Change, changed_examples, verdict_text
from .data import Captured, RunView, load_content, load_dataset_examples

__all__ = ["MAX_EXAMPLES", "examples_section"]

MAX_EXAMPLES = 50
_MAX_CHARS = 2000
_KIND_BADGE = {
    "regression": ("fail", "✗ regression"),
    "improvement": ("pass", "✓ improvement"),
    "failing": ("fail", "✗ failing"),
}


@dataclass(frozen=True)
class _Sources:
    """Where the text shown comes from: the dataset file, and captured LLM content by trace."""

    dataset: dict[str, tuple[object, object]]
    content: dict[str, Captured]
    trace_link: str | None


def _text(value: object) -> str:
    shown = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(shown) > _MAX_CHARS:
        shown = shown[:_MAX_CHARS] + f"… ({len(shown) - _MAX_CHARS:,} more characters)"
    return shown


def _trace(trace_id: str, link: str | None) -> str:
    code = f'<code title="llmtrace traces {escape(trace_id)}">{escape(trace_id)}</code>'
    if link:
        return f'<a href="{escape(link.format(trace_id=trace_id))}">{code}</a>'
    return code


def _scores_line(change: Change) -> str:
    parts = []
    for scorer in sorted(change.candidate.scores):
        cand = format_number(change.candidate.mean_score(scorer))
        if change.baseline is None:
            parts.append(f"{scorer} {cand}")
        else:
            parts.append(f"{scorer} {format_number(change.baseline.mean_score(scorer))} → {cand}")
    return "; ".join(parts)


def _captured(sources: _Sources, trace_ids: list[str], field: str) -> str | None:
    """The first of ``trace_ids`` (epochs) whose capture holds ``field``."""
    for trace_id in trace_ids:
        captured = sources.content.get(trace_id)
        value = getattr(captured, field) if captured else None
        if value is not None:
            return str(value)
    return None


def _output(sources: _Sources, trace_ids: list[str]) -> str | None:
    """What the target returned, as the runner recorded it; else the model's last completion
    (runs made before the runner recorded outputs)."""
    return _captured(sources, trace_ids, "output") or _captured(sources, trace_ids, "model_output")


def _given(change: Change, sources: _Sources) -> list[tuple[str, str]]:
    """Input and expected: from the dataset file when it still holds the run's version, else
    as the runner recorded them, else the model's first prompt."""
    if change.example_id in sources.dataset:
        given, expected = sources.dataset[change.example_id]
        return [("input", _text(given)), ("expected", _text(expected))]
    ids = change.candidate.trace_ids
    recorded = _captured(sources, ids, "input")
    if recorded is not None:
        expected = _captured(sources, ids, "expected")
        return [("input", recorded)] + ([("expected", expected)] if expected is not None else [])
    prompt = _captured(sources, ids, "model_input")
    return [("model input", _text(prompt))] if prompt is not None else []


def _rows(change: Change, sources: _Sources) -> list[tuple[str, str]]:
    cand, base = change.candidate, change.baseline
    rows = _given(change, sources)
    cand_out = _output(sources, cand.trace_ids)
    if cand_out is not None:
        rows.append(("candidate output", _text(cand_out)))
    base_out = _output(sources, base.trace_ids) if base else None
    if base_out is not None:
        rows.append(("baseline output", _text(base_out)))
    rows.append(("scores", _scores_line(change)))
    if cand.errors:
        rows.append(("candidate errors", _text("; ".join(sorted(set(cand.errors))))))
    return rows


def _card(change: Change, sources: _Sources) -> str:
    tone, label = _KIND_BADGE[change.kind]
    verdicts = verdict_text(change.candidate)
    if change.baseline is not None:
        verdicts = f"baseline {verdict_text(change.baseline)} → candidate {verdicts}"
    rows = "".join(f"<dt>{escape(k)}</dt><dd>{escape(v)}</dd>" for k, v in _rows(change, sources))
    traces = [("candidate", change.candidate.trace_ids)]
    if change.baseline is not None:
        traces.append(("baseline", change.baseline.trace_ids))
    for who, ids in traces:
        links = " ".join(_trace(t, sources.trace_link) for t in ids)
        rows += f"<dt>{who} traces</dt><dd>{links or '–'}</dd>"
    return (
        f'<article class="example"><header><span class="badge d-{tone}">{label}</span>'
        f"<strong><code>{escape(change.example_id)}</code></strong>"
        f"<span>{escape(verdicts)}</span></header><dl>{rows}</dl></article>"
    )


def _intro(changes: list[Change], shown: int, has_baseline: bool, sources: _Sources) -> str:
    counts = {k: sum(c.kind == k for c in changes) for k in _KIND_BADGE}
    if has_baseline:
        text = (
            f"{counts['regression']} regression(s) and {counts['improvement']} improvement(s) "
            "among the examples both runs share; regressions first, largest moves first."
        )
    else:
        text = f"{counts['failing']} example(s) did not pass every epoch; worst first."
    if shown < len(changes):
        text += f" Showing the first {shown}; {len(changes) - shown} more not shown."
    notes = [f"<p>{escape(text)}</p>"]
    if sources.content:
        notes.append(
            '<p class="muted">Outputs are what the target returned in the example\'s first '
            "epoch, as captured (redacted); for runs made before outputs were recorded, the "
            "last model call's completion.</p>"
        )
    else:
        notes.append(
            '<p class="muted">Model outputs were not captured: run the eval with '
            "<code>LLMTRACE_CAPTURE_CONTENT=1</code> (or <code>configure(capture_content=True)"
            "</code>) to see them here.</p>"
        )
    notes.append(
        '<p class="muted">See a trace span by span with <code>llmtrace traces TRACE_ID</code>.</p>'
    )
    return "".join(notes)


def examples_section(
    db: Path,
    candidate: RunView,
    baseline: RunView | None,
    *,
    limit: int = MAX_EXAMPLES,
    trace_link: str | None = None,
) -> str:
    """The changed examples, capped at ``limit``; ``trace_link`` is an optional URL template
    with ``{trace_id}`` (your tracing UI), else trace ids are shown as text."""
    changes = changed_examples(candidate, baseline)
    if not changes:
        what = "changed verdict" if baseline is not None else "failed an epoch"
        return f"<p>No example {what}.</p>"
    shown = changes[:limit]
    trace_ids = [t for c in shown for t in c.candidate.trace_ids]
    trace_ids += [t for c in shown if c.baseline for t in c.baseline.trace_ids]
    sources = _Sources(load_dataset_examples(candidate), load_content(db, trace_ids), trace_link)
    cards = "".join(_card(c, sources) for c in shown)
    return _intro(changes, len(shown), baseline is not None, sources) + cards
