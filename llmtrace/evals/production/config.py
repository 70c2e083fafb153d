"""The production gates file (``prod.yaml``): trace-metric rules and a ``drift:`` section.

It has the shape of ``gates.yaml`` (``confidence``, ``family_wise``, ``gates:`` with ``min``,
``max``, ``max_drop``, ``max_rise``, ``max_increase_pct``), but its metrics are the trace
metrics of :mod:`.trace_metrics`, and it may add::

    drift:
      psi_max: 0.2          # every feature
      js_max: 0.1
      features:             # per feature, overriding the defaults above
        latency_ms: {psi_max: 0.1}

A bad file is rejected naming the file and the field, as ``gates.yaml`` is.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from ..gate_config import GateConfigError, higher_is_better
from .trace_metrics import TraceGateError, parse_metric

__all__ = ["DriftBounds", "DriftConfig", "TraceGateConfig", "TraceGateRule", "load_trace_config"]


class TraceGateRule(BaseModel):
    """One trace metric and its bounds, absolute and against the baseline window; baseline
    bounds follow the metric's direction as in ``gates.yaml`` (``max_drop`` for quality)."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(description="a trace metric (see llmtrace gate --help)")
    min: float | None = None
    max: float | None = None
    max_drop: float | None = Field(None, ge=0)
    max_rise: float | None = Field(None, ge=0)
    max_increase_pct: float | None = Field(None, ge=0)

    @field_validator("metric")
    @classmethod
    def _known_metric(cls, metric: str) -> str:
        try:
            parse_metric(metric)
        except TraceGateError as exc:
            raise ValueError(str(exc)) from None
        return metric

    @model_validator(mode="after")
    def _bounds(self) -> TraceGateRule:
        bounds = ("min", "max", "max_drop", "max_rise", "max_increase_pct")
        if all(getattr(self, b) is None for b in bounds):
            raise ValueError(f"a gate needs at least one of {', '.join(bounds)}")
        if higher_is_better(self.metric):
            if self.max_rise is not None or self.max_increase_pct is not None:
                raise ValueError(
                    f"{self.metric} is better when higher: bound its fall with max_drop"
                )
        elif self.max_drop is not None:
            raise ValueError(
                f"{self.metric} is better when lower: bound its rise with max_rise or "
                "max_increase_pct"
            )
        return self


class DriftBounds(BaseModel):
    """The largest PSI and Jensen-Shannon divergence a feature may show."""

    model_config = ConfigDict(extra="forbid")

    psi_max: float | None = Field(None, ge=0)
    js_max: float | None = Field(None, ge=0, le=1)


class DriftConfig(DriftBounds):
    """Defaults for every feature, and per-feature bounds that override them."""

    features: dict[str, DriftBounds] = Field(default_factory=dict)

    def bounds_for(self, feature: str) -> DriftBounds:
        own = self.features.get(feature)
        return DriftBounds(
            psi_max=own.psi_max if own and own.psi_max is not None else self.psi_max,
            js_max=own.js_max if own and own.js_max is not None else self.js_max,
        )


class TraceGateConfig(BaseModel):
    """The whole production gates file."""

    model_config = ConfigDict(extra="forbid")

    confidence: float = Field(0.95, gt=0.5, lt=1.0)
    family_wise: Literal["none", "holm"] = "none"
    bootstrap_resamples: int = Field(
        2000, ge=200, le=100_000, description="accepted so one gates file serves both gates"
    )
    seed: int = Field(0, description="accepted so one gates file serves both gates")
    gates: list[TraceGateRule] = Field(default_factory=list)
    drift: DriftConfig | None = None


def _field_path(loc: tuple[Any, ...]) -> str:
    path = ""
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else (f".{part}" if path else str(part))
    return path or "(top level)"


def parse_trace_config(data: Any, origin: str) -> TraceGateConfig:
    """Validate a parsed gates file; the error names ``origin`` and the field."""
    try:
        return TraceGateConfig.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = str(first["msg"]).removeprefix("Value error, ")
        raise GateConfigError(f"{origin}: {_field_path(tuple(first['loc']))}: {message}") from None


def load_trace_config(
    config: str | os.PathLike[str] | dict[str, Any] | TraceGateConfig,
) -> TraceGateConfig:
    """Read and validate a production gates file (or take a dict or a parsed config)."""
    if isinstance(config, TraceGateConfig):
        return config
    if isinstance(config, dict):
        return parse_trace_config(config, "gate config")
    source = Path(config)
    try:
        data = yaml.safe_load(source.read_text(encoding="utf-8"))
    except OSError as exc:
        raise GateConfigError(f"{source}: cannot read: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise GateConfigError(f"{source}: invalid YAML: {getattr(exc, 'problem', exc)}") from None
    return parse_trace_config(data, str(source))
