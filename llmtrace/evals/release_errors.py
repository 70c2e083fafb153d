"""Refusals of the release registry: the command worked and the answer is no (exit 1).

Each carries every reason, not only the first, and each is recorded as a ``refused`` event
before it is raised.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import Refused

__all__ = ["NotReproducible", "PromotionRefused", "RollbackRefused"]


class _Reasons(Refused):
    def __init__(self, subject: str, reasons: Sequence[str]) -> None:
        self.reasons = list(reasons)
        listed = "; ".join(self.reasons) if self.reasons else "no reason given"
        super().__init__(f"{subject}: {listed}")


class PromotionRefused(_Reasons):
    """A promotion was refused; ``.reasons`` says everything that is missing."""


class RollbackRefused(_Reasons):
    """A rollback was refused (nothing in production, or nothing to restore); ``.reasons``
    says what is missing."""


class NotReproducible(_Reasons):
    """``llmtrace reproduce`` found checks that fail; ``.reasons`` names what differs."""
