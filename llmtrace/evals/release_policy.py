"""The ``release:`` section of the gates file: what each stage asks before a release enters it.

```yaml
release:
  staging:    {approvals: 0}
  production: {approvals: 1, roles: [owner], allow_warn: true, require_clean_git: true}
```

The rest of the file is the gate configuration, validated by :mod:`.gate_config`; a bad
``release:`` field is rejected naming the file and the field, like a bad gate.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..errors import UserError
from .data_checks import DataRule
from .gate_config import GateConfig, GateConfigError, parse_gate_config

__all__ = [
    "ReleaseConfig",
    "ReleaseConfigError",
    "ReleasePolicy",
    "StagePolicy",
    "load_release_config",
]


class ReleaseConfigError(GateConfigError, UserError):
    """The ``release:`` section (or the file holding it) is invalid; names the file and field.
    A :class:`GateConfigError` too, so code catching bad gate files catches it."""


class StagePolicy(BaseModel):
    """What entering one stage needs."""

    model_config = ConfigDict(extra="forbid")

    approvals: int = Field(0, ge=0, description="distinct approvers needed")
    roles: list[str] = Field(
        default_factory=list, description="approvals count only from these roles (empty: any)"
    )
    allow_warn: bool = Field(True, description="a gate that warns may still promote")
    require_clean_git: bool = Field(
        False, description="the run's git commit must be recorded and the tree clean"
    )


class ReleasePolicy(BaseModel):
    """One policy per stage a release can be promoted to."""

    model_config = ConfigDict(extra="forbid")

    staging: StagePolicy = Field(default_factory=lambda: StagePolicy.model_validate({}))
    production: StagePolicy = Field(default_factory=lambda: StagePolicy.model_validate({}))

    def for_stage(self, stage: str) -> StagePolicy:
        return self.staging if stage == "staging" else self.production


@dataclass(frozen=True)
class ReleaseConfig:
    """A gates file split in two: the gate rules (None when it has none) and the policy."""

    gates: GateConfig | None
    policy: ReleasePolicy
    origin: str
    raw: dict[str, Any]
    data_rules: tuple[DataRule, ...] = ()


def _field_path(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in ("release", *loc))


def _parse_policy(data: Any, origin: str) -> ReleasePolicy:
    if data is None:
        return ReleasePolicy.model_validate({})
    try:
        return ReleasePolicy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        message = first["msg"].removeprefix("Value error, ")
        raise ReleaseConfigError(
            f"{origin}: {_field_path(tuple(first['loc']))}: {message}"
        ) from None


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ReleaseConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        raise ReleaseConfigError(f"{where}: invalid YAML: {getattr(exc, 'problem', exc)}") from None


def _split_data_rules(rest: dict[str, Any], origin: str) -> tuple[DataRule, ...]:
    """Take the ``data.*`` entries out of ``rest["gates"]`` (the gate itself does not know
    them) and validate them; the entries left stay for the gate."""
    entries = rest.get("gates")
    if not isinstance(entries, list):
        return ()
    rules, kept = [], []
    for index, entry in enumerate(entries):
        if not (isinstance(entry, dict) and str(entry.get("metric", "")).startswith("data.")):
            kept.append(entry)
            continue
        try:
            rules.append(DataRule.model_validate(entry))
        except ValidationError as exc:
            message = exc.errors()[0]["msg"].removeprefix("Value error, ")
            raise ReleaseConfigError(f"{origin}: gates[{index}]: {message}") from None
    rest["gates"] = kept
    return tuple(rules)


def load_release_config(
    config: str | os.PathLike[str] | dict[str, Any] | None,
) -> ReleaseConfig:
    """Read a gates file (or dict) into its gate rules and its release policy.

    A file with only a ``release:`` section has no gate rules (``gates`` is None); with no
    file at all the policy is the default (no approvals, warn allowed, git not checked).
    """
    if config is None:
        return ReleaseConfig(None, ReleasePolicy.model_validate({}), "(no config)", {})
    origin = "gate config" if isinstance(config, dict) else str(config)
    data = dict(config) if isinstance(config, dict) else _read(Path(config))
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ReleaseConfigError(f"{origin}: expected a mapping at the top level")
    rest = {k: v for k, v in data.items() if k != "release"}
    policy = _parse_policy(data.get("release"), origin)
    data_rules = _split_data_rules(rest, origin)
    try:
        gates = parse_gate_config(rest, origin) if rest.get("gates") else None
    except GateConfigError as exc:
        raise ReleaseConfigError(str(exc)) from None
    return ReleaseConfig(gates, policy, origin, data, data_rules)
