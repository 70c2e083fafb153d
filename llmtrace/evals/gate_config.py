"""``gates.yaml``: validated gate rules; a bad file is rejected naming the file and field."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..errors import UserError
from .data_checks import DataRule
from .gate_metrics import find_metric, metric_names

__all__ = [
    "GateConfig",
    "GateConfigError",
    "GateRule",
    "higher_is_better",
    "load_gate_config",
]


def higher_is_better(metric: str) -> bool:
    """Whether the registered metric is better high (quality scores, a judge's agreement);
    everything else a gate names (violations, latency, cost, tokens, errors) is better low."""
    found = find_metric(metric)
    if found is None:  # a trace gate's metric (production/trace_metrics.py)
        return metric.startswith("quality.")
    return found.higher_is_better


class GateConfigError(UserError):
    """The gate configuration is invalid; the message names the file and the field."""


class GateRule(BaseModel):
    """One metric and its bounds: absolute (``min``, ``max``) and against the baseline.

    Baseline bounds follow the metric's direction: ``max_drop`` (candidate - baseline >=
    -max_drop) for metrics where higher is better (``quality.*``); ``max_rise`` (candidate -
    baseline <= max_rise) and ``max_increase_pct`` (candidate / baseline - 1 <= pct / 100) for
    metrics where lower is better (everything else). A rule that bounds the wrong direction is
    rejected, naming the field.
    """

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(
        description="a registered gate metric (gate_metrics.py), e.g. quality.<scorer>"
    )
    min: float | None = Field(None, description="absolute lower bound")
    max: float | None = Field(None, description="absolute upper bound")
    max_drop: float | None = Field(
        None, ge=0, description="allowed fall below the baseline (higher-is-better metrics)"
    )
    max_rise: float | None = Field(
        None, ge=0, description="allowed rise above the baseline (lower-is-better metrics)"
    )
    max_increase_pct: float | None = Field(
        None, ge=0, description="allowed rise above the baseline in percent (lower-is-better)"
    )

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        if find_metric(metric) is not None:
            return metric
        raise ValueError(f"unknown metric {metric!r}; use one of {', '.join(metric_names())}")

    @model_validator(mode="after")
    def _has_a_bound(self) -> GateRule:
        bounds = ("min", "max", "max_drop", "max_rise", "max_increase_pct")
        if all(getattr(self, b) is None for b in bounds):
            raise ValueError(f"a gate needs at least one of {', '.join(bounds)}")
        return self

    @model_validator(mode="after")
    def _absolute_only(self) -> GateRule:
        found = find_metric(self.metric)
        if found is not None and found.absolute_only:
            relative = ("max_drop", "max_rise", "max_increase_pct")
            given = [f for f in relative if getattr(self, f) is not None]
            if given:
                raise _FieldError(
                    given[0],
                    f"{self.metric} is not measured on the runs (a judge's stored calibration), "
                    "so it has no baseline bound; use min (e.g. min: 0.7)",
                )
        return self

    @model_validator(mode="after")
    def _bounds_fit_the_direction(self) -> GateRule:
        if higher_is_better(self.metric):
            wrong = [f for f in ("max_rise", "max_increase_pct") if getattr(self, f) is not None]
            if wrong:
                raise _FieldError(
                    wrong[0],
                    f"{self.metric} is better when higher, so a rise is no regression; "
                    "bound its fall with max_drop",
                )
        elif self.max_drop is not None:
            raise _FieldError(
                "max_drop",
                f"{self.metric} is better when lower, so a drop is no regression; "
                "bound its rise with max_rise (absolute) or max_increase_pct",
            )
        return self


class _FieldError(ValueError):
    """A model-level check that blames one field."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(f"{field_name}: {message}")


class GateConfig(BaseModel):
    """The whole gate file."""

    model_config = ConfigDict(extra="forbid")

    confidence: float = Field(0.95, gt=0.5, lt=1.0, description="two-sided interval level")
    bootstrap_resamples: int = Field(2000, ge=200, le=100_000)
    seed: int = Field(0, description="seed of the bootstrap")
    family_wise: Literal["none", "holm"] = Field(
        "none",
        description="holm: a bound fails only if it still fails after Holm's correction over "
        "every bound in the file, so the chance that any gate fails a candidate that meets "
        "them all stays at (1 - confidence) / 2",
    )
    gates: list[GateRule] = Field(default_factory=list)
    data: list[DataRule] = Field(
        default_factory=list,
        description="the data.* entries of gates: (rows, schema errors, PII rows, age, license), "
        "decided on the candidate run's recorded data checks",
    )
    release: dict[str, Any] | None = Field(
        None, description="the promotion policy, read by evals.Registry (DESIGN section 8)"
    )
    drift: dict[str, Any] | None = Field(
        None, description="drift rules (psi_max, js_max), read by llmtrace drift"
    )

    @model_validator(mode="before")
    @classmethod
    def _data_rules_apart(cls, data: Any) -> Any:
        """``data.*`` entries sit in ``gates:`` like any rule; they are kept apart because
        they are exact counts on the dataset, not estimates. A bad one is blamed by its place
        in ``gates:``."""
        if not isinstance(data, dict) or not isinstance(data.get("gates"), list):
            return data
        gates, rules = [], list(data.get("data") or [])
        for index, entry in enumerate(data["gates"]):
            if not (isinstance(entry, dict) and str(entry.get("metric", "")).startswith("data.")):
                gates.append(entry)
                continue
            try:
                rules.append(DataRule.model_validate(entry))
            except ValidationError as exc:
                message = exc.errors()[0]["msg"].removeprefix("Value error, ")
                raise _FieldError(f"gates[{index}]", message) from None
        return {**data, "gates": gates, "data": rules}

    @model_validator(mode="after")
    def _has_a_rule(self) -> GateConfig:
        if not self.gates and not self.data:
            raise _FieldError("gates", "List should have at least 1 item")
        return self


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def _config_field(blamed: str) -> bool:
    """``gates`` or ``gates[3]``: a place in the file a config-level check can blame."""
    return blamed.partition("[")[0] in GateConfig.model_fields


def parse_gate_config(data: Any, origin: str) -> GateConfig:
    try:
        return GateConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        loc = tuple(first["loc"])
        blamed, _, rest = message.partition(": ")
        if rest and (blamed in GateRule.model_fields or _config_field(blamed)):
            loc, message = (*loc, blamed), rest
        extra = f" ({len(exc.errors()) - 1} more problem(s))" if len(exc.errors()) > 1 else ""
        raise GateConfigError(f"{origin}: {_field_path(loc)}: {message}{extra}") from None


def load_gate_config(path: str | os.PathLike[str]) -> GateConfig:
    """Read and validate a gates YAML file."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise GateConfigError(f"{source}: cannot read: {exc.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark is not None else str(source)
        raise GateConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_gate_config(data, str(source))
