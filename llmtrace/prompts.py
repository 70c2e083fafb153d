"""Versioned prompt templates, so every LLM span says exactly which prompt produced it."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Prompt"]


@dataclass(frozen=True)
class Prompt:
    """A named prompt template whose version follows its content.

    ``version`` defaults to the first 12 hex characters of ``sha256(template)``, so an edited
    template is a new version without anyone remembering to bump it. Pass ``version=`` to use
    your own scheme; ``hash`` is always the full content hash.

    Example:
        >>> p = Prompt("answer", template="Answer briefly: {question}")
        >>> p.format(question="Why?")
        'Answer briefly: Why?'
    """

    name: str
    template: str
    version: str = ""
    hash: str = field(init=False)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ValueError(f"Prompt name must be a non-empty string, got {self.name!r}")
        if not isinstance(self.template, str):
            raise TypeError(f"Prompt {self.name!r}: template must be a str, got {self.template!r}")
        import hashlib  # here, not at import: it loads OpenSSL (~4 MiB) into every traced app

        digest = hashlib.sha256(self.template.encode("utf-8")).hexdigest()
        object.__setattr__(self, "hash", digest)
        if not self.version:
            object.__setattr__(self, "version", digest[:12])

    @property
    def variables(self) -> tuple[str, ...]:
        """The ``{placeholders}`` the template expects, in order of first use."""
        names: list[str] = []
        for _, field_name, _, _ in string.Formatter().parse(self.template):
            if field_name and field_name not in names:
                names.append(field_name)
        return tuple(names)

    def format(self, **variables: Any) -> str:
        """Fill the template; a missing variable is an error naming the prompt and variable."""
        try:
            return self.template.format(**variables)
        except KeyError as exc:
            raise KeyError(
                f"Prompt {self.name!r} (version {self.version}) needs variable {exc.args[0]!r}; "
                f"it expects {list(self.variables)}"
            ) from None
