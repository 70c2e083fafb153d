"""One redaction step for captured message content: secrets and emails never reach a span.

Markers name the kind of thing hidden (``[REDACTED:email]``) and never repeat any of it, not
even a prefix or a length, so a marker cannot help anyone reconstruct a secret.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["DEFAULT_PATTERNS", "Redactor"]

DEFAULT_PATTERNS: dict[str, str] = {
    # Provider API keys: OpenAI/Anthropic style (sk-..., sk-ant-..., sk-proj-...), AWS access key
    # ids, GitHub, Slack and Google keys.
    "api_key": (
        r"\bsk-[A-Za-z0-9_\-]{16,}"
        r"|\bAKIA[0-9A-Z]{16}\b"
        r"|\bgh[pousr]_[A-Za-z0-9]{20,}"
        r"|\bxox[abposr]-[A-Za-z0-9\-]{10,}"
        r"|\bAIza[0-9A-Za-z_\-]{35}"
    ),
    "bearer_token": r"(?i)\bbearer\s+[A-Za-z0-9_\-\.=+/]{8,}",
    "secret_assignment": (
        r"(?i)\b(?:api[_-]?key|secret|password|passwd|token)\b\s*[:=]\s*['\"]?[^\s'\",;]{6,}"
    ),
    "email": r"[A-Za-z0-9._%+\-]+@[A-Za-z0-9.\-]+\.[A-Za-z]{2,}",
}

DEFAULT_MAX_CHARS = 16_384


@dataclass
class Redactor:
    """Replaces every match of its patterns with ``[REDACTED:<name>]`` and truncates."""

    patterns: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_PATTERNS))
    max_chars: int = DEFAULT_MAX_CHARS

    def __post_init__(self) -> None:
        compiled = []
        for name, pattern in self.patterns.items():
            try:
                compiled.append((name, re.compile(pattern)))
            except re.error as exc:
                raise ValueError(
                    f"redaction pattern {name!r} is not a valid regex: {exc}"
                ) from None
        self._compiled = compiled

    @classmethod
    def with_extra(cls, extra: Iterable[str] | dict[str, str] | None, max_chars: int) -> Redactor:
        """The default patterns plus the user's (a list is named custom_1, custom_2, ...)."""
        patterns = dict(DEFAULT_PATTERNS)
        if isinstance(extra, dict):
            patterns.update(extra)
        elif extra:
            patterns.update({f"custom_{i}": p for i, p in enumerate(extra, start=1)})
        return cls(patterns=patterns, max_chars=max_chars)

    def redact(self, text: str) -> str:
        for name, regex in self._compiled:
            text = regex.sub(f"[REDACTED:{name}]", text)
        return text

    def apply(self, text: str) -> tuple[str, bool]:
        """Redacted and truncated text, and whether it was truncated."""
        cleaned = self.redact(text)
        if len(cleaned) > self.max_chars:
            return cleaned[: self.max_chars], True
        return cleaned, False
