"""What a gate report shows, read from the store: runs, per-example outcomes, gate rows, content.

Nothing here decides a gate: the decisions come from :func:`llmtrace.evals.gate` (passed in) or
from the ``gate_results`` rows it stored.
"""

from __future__ import annotations

import json
import math
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ... import semconv as sc
from ...store.query import open_store_for_read
from ..dataset import Dataset, DatasetError
from ..gates import GateOutcome, GateResult
from ..records import load_results, load_run
from ..results import TARGET_SCORER

__all__ = [
    "Captured",
    "ExampleOutcome",
    "RunView",
    "load_content",
    "load_run_view",
    "stored_gate",
]


@dataclass
class ExampleOutcome:
    """One example of one run, over its epochs."""

    example_id: str
    epochs: int = 0
    successes: int = 0  # no error, every quality scorer >= 0.5 (as cost.usd_per_success)
    passes: int = 0  # a success with no safety violation either
    violations: int = 0
    errors: list[str] = field(default_factory=list)
    scores: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    latency_ms: list[float] = field(default_factory=list)
    cost_usd: list[float] = field(default_factory=list)
    trace_ids: list[str] = field(default_factory=list)

    @property
    def pass_rate(self) -> float:
        """Share of epochs that succeeded with no safety violation."""
        return self.passes / self.epochs if self.epochs else 0.0

    def mean_score(self, scorer: str) -> float | None:
        values = [v for v in self.scores.get(scorer, []) if not math.isnan(v)]
        return sum(values) / len(values) if values else None


@dataclass
class RunView:
    """A run as the report shows it."""

    run: dict[str, Any]
    examples: dict[str, ExampleOutcome]
    scorers: dict[str, tuple[str, str | None, str | None]]  # name -> kind, judge model, version
    dataset: dict[str, Any] | None

    @property
    def run_id(self) -> str:
        return str(self.run["run_id"])

    @property
    def envelope(self) -> dict[str, Any]:
        raw = self.run.get("envelope")
        if isinstance(raw, str):
            try:
                loaded = json.loads(raw)
            except ValueError:
                return {}
            return loaded if isinstance(loaded, dict) else {}
        return raw if isinstance(raw, dict) else {}

    def latencies(self) -> list[float]:
        return [v for e in self.examples.values() for v in e.latency_ms]

    def costs_per_example(self) -> list[float]:
        return [sum(e.cost_usd) / len(e.cost_usd) for e in self.examples.values() if e.cost_usd]


def _fold(row: dict[str, Any], outcome: ExampleOutcome, state: dict[str, bool]) -> None:
    """Fold one result row into its example (``state`` holds the current epoch's flags)."""
    scorer, kind, score = row["scorer"], row["kind"], row["score"]
    if scorer == TARGET_SCORER:
        if row["latency_ms"] is not None:
            outcome.latency_ms.append(float(row["latency_ms"]))
        if row["trace_cost_usd"] is not None:
            outcome.cost_usd.append(float(row["trace_cost_usd"]))
        if row["trace_id"]:
            outcome.trace_ids.append(str(row["trace_id"]))
        if score != 1.0:
            state["ok"] = False
            outcome.errors.append(str(row["error"] or "target failed"))
        return
    outcome.scores[scorer].append(math.nan if score is None else float(score))
    if kind == "quality" and (score is None or score < 0.5):
        state["ok"] = False
    if kind == "safety" and score is not None and score >= 1.0:
        state["violated"] = True


def load_run_view(db: Path, run_id: str) -> RunView | None:
    """The run's record and per-example outcomes, or None when no run has that id."""
    run = load_run(db, run_id)
    if run is None:
        return None
    examples: dict[str, ExampleOutcome] = {}
    scorers: dict[str, tuple[str, str | None, str | None]] = {}
    per_epoch: dict[tuple[str, int], list[dict[str, Any]]] = defaultdict(list)
    for row in load_results(db, run_id):
        per_epoch[(row["example_id"], row["epoch"])].append(row)
        if row["scorer"] != TARGET_SCORER:
            scorers.setdefault(
                row["scorer"], (row["kind"], row["judge_model"], row["judge_version"])
            )
    for (example_id, _epoch), rows in per_epoch.items():
        outcome = examples.setdefault(example_id, ExampleOutcome(example_id))
        state = {"ok": True, "violated": False}
        for row in rows:
            _fold(row, outcome, state)
        outcome.epochs += 1
        outcome.successes += state["ok"]
        outcome.passes += state["ok"] and not state["violated"]
        outcome.violations += state["violated"]
    return RunView(run, examples, scorers, _dataset_record(db, run))


def _records(db: Path, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    conn = open_store_for_read(db)
    try:
        result = conn.execute(sql, params)
        columns = [d[0] for d in result.description]
        return [dict(zip(columns, row, strict=True)) for row in result.fetchall()]
    finally:
        conn.close()


def _dataset_record(db: Path, run: dict[str, Any]) -> dict[str, Any] | None:
    rows = _records(
        db,
        "SELECT * FROM datasets WHERE name = ? AND version = ?",
        [run["dataset_name"], run["dataset_version"]],
    )
    return rows[0] if rows else None


def stored_gate(db: Path, run_id: str, baseline_run_id: str | None) -> GateResult | None:
    """The most recent gate stored for this candidate (and baseline), rebuilt from its rows.

    ``gate_results`` has no gate id: a gate's rows are the newest run of rows, walking back
    until a rule repeats. Confidence is not stored; it reads as 0 (unknown)."""
    rows = _records(
        db,
        "SELECT * FROM gate_results WHERE run_id = ? AND baseline_run_id IS NOT DISTINCT FROM ? "
        "ORDER BY decided_at DESC",
        [run_id, baseline_run_id],
    )
    latest: list[dict[str, Any]] = []
    for row in rows:
        if any(r["rule"] == row["rule"] for r in latest):
            break
        latest.append(row)
    if not latest:
        return None
    latest.reverse()
    outcomes = [
        GateOutcome(
            r["metric"],
            r["rule"],
            r["decision"],
            r["estimate"],
            r["ci_low"],
            r["ci_high"],
            int(r["n"] or 0),
            r["reason"] or "",
        )
        for r in latest
    ]
    decisions = {o.decision for o in outcomes}
    decision = "fail" if "fail" in decisions else "warn" if "warn" in decisions else "pass"
    overrides = json.loads(latest[0]["overrides"] or "[]")
    strict = any(o.reason.startswith("strict: ") for o in outcomes)
    return GateResult(decision, run_id, baseline_run_id, 0.0, strict, outcomes, overrides)


def _message_text(raw: object) -> str | None:
    """The text of GenAI-convention messages (a JSON list of role + parts)."""
    if raw is None:
        return None
    try:
        messages = json.loads(str(raw))
    except ValueError:
        return str(raw)
    if not isinstance(messages, list):
        return str(raw)
    texts = []
    for message in messages:
        parts = message.get("parts", []) if isinstance(message, dict) else []
        body = "".join(str(p.get("content", "")) for p in parts if isinstance(p, dict))
        role = message.get("role") if isinstance(message, dict) else None
        texts.append(f"{role}: {body}" if len(messages) > 1 and role else body)
    return "\n".join(texts)


@dataclass(frozen=True)
class Captured:
    """Content captured in one example-epoch's trace: the example as the runner recorded it on
    the root span (input, expected, the target's output) and the model's first prompt and last
    completion. Each is None when it was not captured."""

    input: str | None = None
    expected: str | None = None
    output: str | None = None
    model_input: str | None = None
    model_output: str | None = None


_EXAMPLE_SQL = f"""SELECT trace_id,
       attributes['{sc.EVAL_INPUT}']::VARCHAR AS input,
       attributes['{sc.EVAL_EXPECTED}']::VARCHAR AS expected,
       attributes['{sc.EVAL_OUTPUT}']::VARCHAR AS output
FROM spans WHERE parent_span_id IS NULL AND trace_id IN (SELECT unnest(?))
  AND attributes['{sc.EVAL_INPUT}'] IS NOT NULL"""
_MODEL_SQL = f"""SELECT trace_id,
       attributes['{sc.GEN_AI_INPUT_MESSAGES}']::VARCHAR AS input_messages,
       attributes['{sc.GEN_AI_OUTPUT_MESSAGES}']::VARCHAR AS output_messages
FROM spans WHERE kind = '{sc.KIND_LLM}' AND trace_id IN (SELECT unnest(?))
ORDER BY trace_id, start_time"""


def load_content(db: Path, trace_ids: list[str]) -> dict[str, Captured]:
    """Captured content per trace, when content capture was on (else nothing for that
    trace): what the runner recorded of the example, and the model calls' messages."""
    if not trace_ids:
        return {}
    models: dict[str, tuple[str | None, str | None]] = {}
    for row in _records(db, _MODEL_SQL, [trace_ids]):
        first_in, last_out = models.get(row["trace_id"], (None, None))
        first_in = first_in or _message_text(row["input_messages"])
        last_out = _message_text(row["output_messages"]) or last_out
        models[row["trace_id"]] = (first_in, last_out)
    examples = {row["trace_id"]: row for row in _records(db, _EXAMPLE_SQL, [trace_ids])}
    content = {}
    for trace_id in set(models) | set(examples):
        row = examples.get(trace_id, {})
        model_in, model_out = models.get(trace_id, (None, None))
        captured = Captured(
            row.get("input"), row.get("expected"), row.get("output"), model_in, model_out
        )
        if any(vars(captured).values()):
            content[trace_id] = captured
    return content


def load_dataset_examples(view: RunView) -> dict[str, tuple[object, object]]:
    """Input and expected per example id, from the dataset's source file when it is still
    there and still holds the version the run used (content hashes agree); else nothing."""
    source = (view.dataset or {}).get("source_path")
    if not source or not Path(source).is_file():
        return {}
    path = Path(source)
    try:
        loader = Dataset.from_csv if path.suffix.lower() == ".csv" else Dataset.from_jsonl
        dataset = loader(path, name=view.run["dataset_name"])
    except (DatasetError, OSError, ValueError):
        return {}
    if dataset.version != view.run["dataset_version"]:
        return {}
    return {e.id: (e.input, e.expected) for e in dataset.examples}
