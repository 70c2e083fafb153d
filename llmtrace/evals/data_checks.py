"""Data checks: what a run's dataset looked like, measured when the run starts and recorded in
its envelope (``envelope["data_checks"]``), and the ``data.*`` rules a release must meet.

- ``data.rows``: example count.
- ``data.schema_errors``: rows failing the dataset's declared JSON schema
  (``Dataset.declare(schema=...)``); not measured when none is declared.
- ``data.pii_rows``: rows the redaction patterns match (API keys, tokens, emails...).
- ``data.age_days``: days since this dataset version was first recorded in the store.
- ``data.license``: ``allowed: [...]`` against the declared license.

The values are exact counts, not estimates, so a data rule passes or fails; it never warns.
The same rules are gate metrics: a ``data.*`` entry in a gates file's ``gates:`` list is decided
by ``evals.gate`` / ``llmtrace gate`` against the candidate run's recorded checks
(:func:`data_outcomes`) and stored with the other gate rows.
"""

from __future__ import annotations

import json
import re
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..redaction import DEFAULT_PATTERNS
from ..store.connection import connect_write
from .dataset import Dataset
from .gate_outcomes import GateOutcome

__all__ = ["DATA_METRICS", "DataRule", "data_outcomes", "evaluate_data_rules", "measure_dataset"]

DATA_METRICS = ("data.rows", "data.schema_errors", "data.pii_rows", "data.age_days")
_PII = [re.compile(pattern) for pattern in DEFAULT_PATTERNS.values()]


def _row(example: Any) -> dict[str, Any]:
    return {
        "id": example.id,
        "input": example.input,
        "expected": example.expected,
        "metadata": example.metadata,
    }


def measure_dataset(db: Path, dataset: Dataset) -> dict[str, Any]:
    """The data checks of ``dataset`` (recorded in ``db``'s ``datasets`` table already)."""
    schema_errors = None
    if dataset.schema is not None:
        from jsonschema import Draft202012Validator  # only runs that declare a schema pay for it

        validator = Draft202012Validator(dict(dataset.schema))
        schema_errors = sum(
            1 for e in dataset.examples if next(validator.iter_errors(_row(e)), None)
        )
    pii_rows = sum(
        1
        for e in dataset.examples
        if any(p.search(json.dumps(_row(e), default=str, ensure_ascii=False)) for p in _PII)
    )
    conn = connect_write(db, timeout_s=30.0)  # the runner's own way in: it just wrote here
    try:
        recorded_at = conn.execute(
            "SELECT min(recorded_at) FROM datasets WHERE name = ? AND version = ?",
            [dataset.name, dataset.version],
        ).fetchall()[0][0]
    finally:
        conn.close()
    now = datetime.now(timezone.utc)
    age_days = (now - recorded_at).total_seconds() / 86400 if recorded_at else 0.0
    return {
        "rows": len(dataset),
        "schema_errors": schema_errors,
        "pii_rows": pii_rows,
        "age_days": round(age_days, 4),
        "license": dataset.license,
    }


class DataRule(BaseModel):
    """One ``data.*`` entry of the gates file."""

    model_config = ConfigDict(extra="forbid")

    metric: str
    min: float | None = None
    max: float | None = None
    allowed: list[str] | None = Field(None, description="data.license: the licenses allowed")

    @model_validator(mode="after")
    def _fits(self) -> DataRule:
        if self.metric == "data.license":
            if not self.allowed or self.min is not None or self.max is not None:
                raise ValueError("data.license takes allowed: [licenses], and nothing else")
        elif self.metric not in DATA_METRICS:
            known = ", ".join((*DATA_METRICS, "data.license"))
            raise ValueError(f"unknown data metric {self.metric!r}; use one of {known}")
        elif self.allowed is not None or (self.min is None and self.max is None):
            raise ValueError(f"{self.metric} takes min and/or max")
        return self

    @property
    def text(self) -> str:
        if self.allowed is not None:
            return f"{self.metric} in {self.allowed}"
        bounds = [f">= {self.min:g}"] if self.min is not None else []
        bounds += [f"<= {self.max:g}"] if self.max is not None else []
        return f"{self.metric} {' and '.join(bounds)}"


def _decide(rule: DataRule, measured: dict[str, Any]) -> tuple[Any, str | None]:
    """The measured value and, when the rule is broken, why."""
    key = rule.metric.removeprefix("data.")
    if key not in measured:
        return None, "not recorded with the run (made before data checks existed)"
    value = measured[key]
    if rule.allowed is not None:
        ok = value in rule.allowed
        return value, None if ok else f"license {value!r} is not in {rule.allowed}"
    if value is None:
        return None, "no JSON schema declared for the dataset (Dataset.declare(schema=...))"
    if rule.min is not None and value < rule.min:
        return value, f"{value:g} < {rule.min:g}"
    if rule.max is not None and value > rule.max:
        return value, f"{value:g} > {rule.max:g}"
    return value, None


def evaluate_data_rules(
    rules: list[DataRule], envelope: dict[str, Any]
) -> tuple[list[dict[str, Any]], list[str]]:
    """Each rule decided against the run's recorded data checks: (outcomes, failure reasons)."""
    measured = envelope.get("data_checks") or {}
    outcomes, reasons = [], []
    for rule in rules:
        value, why = _decide(rule, measured)
        outcomes.append({"rule": rule.text, "value": value, "decision": "fail" if why else "pass"})
        if why:
            reasons.append(f"data check {rule.text} failed: {why}")
    return outcomes, reasons


def _passed_note(value: Any) -> str:
    if isinstance(value, str):
        return f"declared license {value!r} is allowed"
    return f"exactly {value:g}, measured when the run started"


def data_outcomes(
    rules: list[DataRule], envelope: dict[str, Any] | str | None
) -> list[GateOutcome]:
    """Each ``data.*`` rule as a gate outcome (one row of the gate table): the measured value
    is the estimate with a zero-width interval, since it is exact; a data rule never warns."""
    recorded = json.loads(envelope or "{}") if isinstance(envelope, str) else envelope or {}
    measured = recorded.get("data_checks") or {}
    outcomes = []
    for rule in rules:
        value, why = _decide(rule, measured)
        number = float(value) if isinstance(value, int | float) else None
        outcomes.append(
            GateOutcome(
                rule.metric,
                rule.text,
                "fail" if why else "pass",
                number,
                number,
                number,
                int(measured.get("rows") or 0),
                why or _passed_note(value),
            )
        )
    return outcomes
