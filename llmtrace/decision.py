"""Guardrail decisions: what a guardrail did, with its score and reason."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["ACTIONS", "Decision"]

ACTIONS = ("allow", "block", "redact", "escalate")
Action = Literal["allow", "block", "redact", "escalate"]


@dataclass(frozen=True)
class Decision:
    """A guardrail's verdict. Return one from a ``@llmtrace.guardrail`` function.

    A guardrail that returns a bool is read as ``True`` = allow, ``False`` = block.

    Example:
        >>> Decision(action="block", score=0.93, reason="email address")
    """

    action: Action
    score: float | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.action not in ACTIONS:
            raise ValueError(f"Decision.action must be one of {ACTIONS}, got {self.action!r}")
        if self.score is not None and (
            isinstance(self.score, bool) or not isinstance(self.score, (int, float))
        ):
            raise TypeError(f"Decision.score must be a number or None, got {self.score!r}")

    @property
    def allowed(self) -> bool:
        return self.action == "allow"

    @classmethod
    def coerce(cls, value: Any) -> Decision | None:
        """A Decision from a guardrail's return value (Decision or bool), else None."""
        if isinstance(value, Decision):
            return value
        if isinstance(value, bool):
            return cls(action="allow" if value else "block")
        return None
