"""``llmtrace score``: online evaluation of stored LLM calls, after the fact.

Each LLM call (one call, one row: ``model_calls``) of the window's traces whose messages were
captured is scored by an evals :class:`~llmtrace.evals.Scorer` (the example's ``input`` is the
call's input messages as text, the output its output messages). The score is written as a
``gen_ai.evaluation.result`` event on the call's own span, with the evaluation kind, the judge
model and the scorer version (a judge's version, else ``code-`` and a hash of its source).

- Idempotent: a span that already carries an event of the same scorer name and version is
  never scored again, so running the same command twice scores nothing the second time.
- Resumable: scores are written in small batches, each in its own transaction; after Ctrl-C
  the batches written stay, and the same command picks up where it stopped.
- ``--sample 0.1`` keeps the traces whose id hashes below 10% (md5), so a resumed or repeated
  run samples the same traces.
- Without captured content there is nothing to score: the command says so and exits 2.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ... import semconv as sc
from ..._store_path import default_db_path
from ...errors import UserError
from ...store.connection import connect_write
from ...store.query import open_store_for_read
from ..dataset import Example
from ..scorers import Score, Scorer, code_version
from .trace_gate import check_where
from .trace_sql import calls_table_sql, traces_table_sql, window_roots
from .windows import Window

__all__ = ["ScoreReport", "ScoringError", "score_traces", "scorer_version"]

BATCH = 50


class ScoringError(UserError):
    """Nothing can be scored as asked (content capture was off, a bad sample): exit 2."""


@dataclass
class ScoreReport:
    """What one ``score`` run did."""

    scorer: str
    version: str
    window: Window
    calls: int = 0
    without_content: int = 0
    already_scored: int = 0
    scored: int = 0
    errors: int = 0
    interrupted: bool = False


@dataclass(frozen=True)
class _Call:
    trace_id: str
    span_id: str
    model: str | None
    input_text: str
    output_text: str


def scorer_version(scorer: Scorer) -> str:
    """The version a stored score carries: the judge's version, else a hash of the code."""
    return scorer.judge_version or f"code-{code_version(scorer.fn)}"


def _text(messages_json: str | None) -> str | None:
    """The text parts of captured GenAI messages, one message a line."""
    if messages_json is None:
        return None
    try:
        messages = json.loads(messages_json)
    except ValueError:
        return messages_json
    lines = []
    for message in messages if isinstance(messages, list) else [messages]:
        parts = message.get("parts", []) if isinstance(message, dict) else []
        lines.append("".join(str(p.get("content", "")) for p in parts if isinstance(p, dict)))
    return "\n".join(lines)


def _already_scored(events_json: str | None, name: str, version: str) -> bool:
    if not events_json:
        return False
    for event in json.loads(events_json):
        attributes = event.get("attributes") or {}
        if (
            event.get("name") == sc.GEN_AI_EVALUATION_RESULT_EVENT
            and attributes.get(sc.GEN_AI_EVALUATION_NAME) == name
            and attributes.get(sc.JUDGE_VERSION) == version
        ):
            return True
    return False


def _candidates_sql(traces: str, sample: float) -> str:
    threshold = int(sample * 2**32)
    return f"""
SELECT c.trace_id, c.span_id, c.model,
       c.attributes['{sc.GEN_AI_INPUT_MESSAGES}']::VARCHAR AS input_messages,
       c.attributes['{sc.GEN_AI_OUTPUT_MESSAGES}']::VARCHAR AS output_messages,
       c.events
FROM model_calls c SEMI JOIN {traces} t ON t.trace_id = c.trace_id
WHERE c.kind = '{sc.KIND_LLM}' AND c.first_in_trace
  AND ('0x' || left(md5(c.trace_id), 8))::UBIGINT < {threshold}
ORDER BY c.start_time, c.span_id
"""


def _pending(db: Path, report: ScoreReport, where: str | None, sample: float) -> list[_Call]:
    """The calls left to score, counting those without content and those already scored."""
    conn = open_store_for_read(db, sandboxed=True)
    try:
        check_where(conn, where)
        conn.execute(calls_table_sql("_lt_score_calls", report.window.start))
        conn.execute(
            traces_table_sql(
                "_lt_score_traces", window_roots(report.window), where, "_lt_score_calls"
            )
        )
        rows = conn.execute(_candidates_sql("_lt_score_traces", sample)).fetchall()
    finally:
        conn.close()
    pending = []
    for trace_id, span_id, model, input_json, output_json, events in rows:
        report.calls += 1
        if input_json is None and output_json is None:
            report.without_content += 1
        elif _already_scored(events, report.scorer, report.version):
            report.already_scored += 1
        else:
            text_in, text_out = _text(input_json) or "", _text(output_json) or ""
            pending.append(_Call(trace_id, span_id, model, text_in, text_out))
    return pending


def _event(scorer: Scorer, version: str, score: Score) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        sc.GEN_AI_EVALUATION_NAME: scorer.name,
        sc.GEN_AI_EVALUATION_SCORE_VALUE: score.value,
        sc.GEN_AI_EVALUATION_SCORE_LABEL: "pass" if score.passed else "fail",
        sc.EVALUATION_KIND: scorer.kind,
        sc.JUDGE_VERSION: version,
    }
    if scorer.judge_model:
        attributes[sc.JUDGE_MODEL] = scorer.judge_model
    if score.explanation:
        attributes[sc.GEN_AI_EVALUATION_EXPLANATION] = score.explanation
    return {
        "name": sc.GEN_AI_EVALUATION_RESULT_EVENT,
        "time_ns": time.time_ns(),
        "attributes": attributes,
    }


def _write(db: Path, report: ScoreReport, scored: Sequence[tuple[_Call, dict[str, Any]]]) -> None:
    """Append each event to its span's events, in one transaction; a span another scorer
    process finished meanwhile is left as it is."""
    conn = connect_write(db, timeout_s=30.0)
    try:
        conn.execute("BEGIN TRANSACTION")
        for call, event in scored:
            row = conn.execute(
                "SELECT events FROM spans WHERE trace_id = ? AND span_id = ?",
                [call.trace_id, call.span_id],
            ).fetchone()
            current = row[0] if row else None
            if _already_scored(current, report.scorer, report.version):
                report.already_scored += 1
                continue
            events = [*(json.loads(current) if current else []), event]
            conn.execute(
                "UPDATE spans SET events = ? WHERE trace_id = ? AND span_id = ?",
                [json.dumps(events), call.trace_id, call.span_id],
            )
            report.scored += 1
        conn.execute("COMMIT")
    finally:
        conn.close()


def _batches(calls: Sequence[_Call], size: int) -> Iterator[Sequence[_Call]]:
    for start in range(0, len(calls), size):
        yield calls[start : start + size]


def score_traces(
    scorer: Scorer,
    *,
    window: Window,
    where: str | None = None,
    sample: float = 1.0,
    db: str | os.PathLike[str] | None = None,
    on_progress: Callable[[int, int], None] | None = None,
    batch_size: int = BATCH,
) -> ScoreReport:
    """Score the window's captured LLM calls with ``scorer`` and store the scores as
    evaluation events on their spans; see the module docstring for the guarantees."""
    if not 0.0 < sample <= 1.0:
        raise ScoringError(f"--sample {sample!r}: give a share in (0, 1], like 0.1")
    path = default_db_path(db)
    report = ScoreReport(scorer.name, scorer_version(scorer), window)
    pending = _pending(path, report, where, sample)
    if report.calls and report.without_content == report.calls:
        raise ScoringError(
            f"content capture was off: none of the {report.calls} LLM calls in {window} has "
            "gen_ai.input.messages or gen_ai.output.messages, so there is nothing to score "
            "(turn capture on with configure(capture_content=True) or "
            "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true)"
        )
    done = 0
    try:
        for batch in _batches(pending, batch_size):
            scored = []
            for call in batch:
                example = Example(call.span_id, call.input_text, None, _metadata(call))
                score = scorer.score(example, call.output_text)
                if score.value is None:
                    report.errors += 1  # not stored: a later run retries it
                else:
                    scored.append((call, _event(scorer, report.version, score)))
            _write(path, report, scored)
            done += len(batch)
            if on_progress is not None:
                on_progress(done, len(pending))
    except KeyboardInterrupt:
        report.interrupted = True
    return report


def _metadata(call: _Call) -> dict[str, Any]:
    return {"trace_id": call.trace_id, "span_id": call.span_id, "model": call.model}
