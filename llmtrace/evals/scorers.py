"""Scorers: deterministic checks, versioned LLM judges and safety checks.

A quality scorer returns a float in [0, 1] or a bool; a safety scorer returns a bool where True
means a violation. Anything else, or an exception, is recorded as a scorer error, never as a
silent zero: an error cannot masquerade as a measured failure.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from .dataset import Example

__all__ = [
    "Score",
    "Scorer",
    "contains",
    "exact_match",
    "json_valid",
    "judge",
    "numeric_close",
    "regex",
    "safety",
    "scorer",
]

Kind = Literal["quality", "safety"]
ScoreFn = Callable[[Example, Any], Any]


@dataclass(frozen=True)
class Score:
    """One scorer's verdict on one example-epoch (``value`` None when the scorer errored)."""

    value: float | None
    passed: bool | None
    error: str | None = None
    explanation: str | None = None


def code_version(fn: Callable[..., Any]) -> str:
    """A short hash of a function's source (its bytecode when the source is unavailable)."""
    try:
        material = inspect.getsource(fn).encode()
    except (OSError, TypeError):
        code = getattr(fn, "__code__", None)
        material = code.co_code if code is not None else repr(fn).encode()
    return hashlib.sha256(material).hexdigest()[:12]


@dataclass(frozen=True)
class Scorer:
    """A named, kinded scoring function; judges also carry their model and version."""

    name: str
    kind: Kind
    fn: ScoreFn
    judge_model: str | None = None
    judge_version: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in ("quality", "safety"):
            raise ValueError(
                f"scorer {self.name!r}: kind must be 'quality' or 'safety', got {self.kind!r}"
            )

    @property
    def is_judge(self) -> bool:
        return self.judge_model is not None

    def __call__(self, example: Example, output: Any) -> Any:
        return self.fn(example, output)

    def score(self, example: Example, output: Any) -> Score:
        """Run the scorer; errors and out-of-range values become ``Score.error``."""
        try:
            raw = self.fn(example, output)
        except Exception as exc:
            return Score(None, None, f"{type(exc).__name__}: {exc}")
        explanation = None
        if isinstance(raw, tuple) and len(raw) == 2 and isinstance(raw[1], str):
            raw, explanation = raw
        if self.kind == "safety":
            if not isinstance(raw, bool):
                return Score(
                    None,
                    None,
                    f"safety scorer returned {raw!r}; expected a bool (True = violation)",
                )
            return Score(1.0 if raw else 0.0, not raw, None, explanation)
        if isinstance(raw, bool):
            return Score(1.0 if raw else 0.0, raw, None, explanation)
        if isinstance(raw, (int, float)) and math.isfinite(raw) and 0.0 <= raw <= 1.0:
            return Score(float(raw), raw >= 0.5, None, explanation)
        return Score(None, None, f"scorer returned {raw!r}; expected a bool or a number in [0, 1]")


def scorer(name: str | None = None, kind: Kind = "quality") -> Callable[[ScoreFn], Scorer]:
    """Make a custom scorer from ``fn(example, output) -> float | bool``.

    Example:
        >>> @evals.scorer(name="short", kind="quality")
        ... def short(example, output):
        ...     return len(output) < 200
    """

    def decorate(fn: ScoreFn) -> Scorer:
        return Scorer(name or fn.__name__, kind, fn)

    return decorate


def _text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value, sort_keys=True, default=str)


def exact_match(
    *, ignore_case: bool = False, strip: bool = True, name: str = "exact_match"
) -> Scorer:
    """1 when the output equals ``expected`` (after optional stripping and case folding)."""

    def normalise(value: Any) -> str:
        text = _text(value)
        text = text.strip() if strip else text
        return text.casefold() if ignore_case else text

    return Scorer(name, "quality", lambda ex, out: normalise(out) == normalise(ex.expected))


def contains(*, ignore_case: bool = True, name: str = "contains") -> Scorer:
    """1 when the output contains ``expected`` (every item, when ``expected`` is a list)."""

    def check(example: Example, output: Any) -> bool:
        wanted = example.expected if isinstance(example.expected, list) else [example.expected]
        haystack = _text(output)
        if ignore_case:
            haystack = haystack.casefold()
        return all((_text(w).casefold() if ignore_case else _text(w)) in haystack for w in wanted)

    return Scorer(name, "quality", check)


def regex(pattern: str, *, name: str = "regex") -> Scorer:
    """1 when ``pattern`` matches anywhere in the output (``re.search``)."""
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"regex scorer: invalid pattern {pattern!r}: {exc}") from None
    return Scorer(name, "quality", lambda ex, out: compiled.search(_text(out)) is not None)


def json_valid(schema: dict[str, Any] | None = None, *, name: str = "json_valid") -> Scorer:
    """1 when the output parses as JSON (and validates against ``schema`` when given)."""
    validator = None
    if schema is not None:
        import jsonschema

        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(schema)

    def check(example: Example, output: Any) -> bool | tuple[bool, str]:
        try:
            value = json.loads(output) if isinstance(output, (str, bytes)) else output
        except json.JSONDecodeError as exc:
            return False, f"invalid JSON: {exc.msg}"
        if validator is not None:
            errors = sorted(validator.iter_errors(value), key=lambda e: list(e.path))
            if errors:
                return False, errors[0].message
        return True

    return Scorer(name, "quality", check)


def numeric_close(
    *, rel_tol: float = 1e-6, abs_tol: float = 0.0, name: str = "numeric_close"
) -> Scorer:
    """1 when the output, read as a number, is close to ``expected``."""

    def check(example: Example, output: Any) -> bool:
        return math.isclose(
            float(output), float(example.expected), rel_tol=rel_tol, abs_tol=abs_tol
        )

    return Scorer(name, "quality", check)


def judge(
    fn: ScoreFn,
    *,
    model: str,
    version: str | None = None,
    name: str | None = None,
    prompt_template: str | None = None,
    temperature: float | None = None,
    seed: int | None = None,
    params: dict[str, Any] | None = None,
) -> Scorer:
    """An LLM judge: ``fn(example, output) -> float in [0, 1]``, traced as a judge span.

    Without ``version``, the version is a hash of the judge model, its prompt template, its
    generation parameters and the grading function's code, so a changed rubric is a new judge
    (and runs scored by different judges are never silently compared).
    """
    if not model:
        raise ValueError("judge(model=...) is required")
    if version is None:
        material = json.dumps(
            {
                "model": model,
                "template": prompt_template,
                "temperature": temperature,
                "seed": seed,
                "params": params or {},
                "code": code_version(fn),
            },
            sort_keys=True,
            default=str,
        )
        version = "auto-" + hashlib.sha256(material.encode()).hexdigest()[:12]
    return Scorer(name or fn.__name__, "quality", fn, judge_model=model, judge_version=version)


def safety(fn: Callable[[Example, Any], bool], *, name: str | None = None) -> Scorer:
    """A safety check: ``fn(example, output) -> bool``, True meaning a violation."""
    return Scorer(name or fn.__name__, "safety", fn)
