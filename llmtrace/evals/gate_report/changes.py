"""Which examples changed verdict between baseline and candidate: regressions first.

An example's verdict is the share of its epochs that succeeded (no error, every quality scorer
at least 0.5) with no safety violation. A regression is an example whose share fell, an
improvement one whose share rose; the largest moves come first within each group. Without a
baseline, the examples that did not pass every epoch are listed instead, worst first.
"""

from __future__ import annotations

from dataclasses import dataclass

from .data import ExampleOutcome, RunView

__all__ = ["Change", "changed_examples", "verdict_text"]


@dataclass(frozen=True)
class Change:
    """One example worth a look: ``kind`` is "regression", "improvement" or "failing"."""

    kind: str
    candidate: ExampleOutcome
    baseline: ExampleOutcome | None

    @property
    def example_id(self) -> str:
        return self.candidate.example_id


def verdict_text(outcome: ExampleOutcome | None) -> str:
    """pass, fail, or how many epochs passed."""
    if outcome is None or not outcome.epochs:
        return "not run"
    if outcome.passes == outcome.epochs:
        return "pass"
    if outcome.passes == 0:
        return "fail"
    return f"{outcome.passes}/{outcome.epochs} epochs pass"


def changed_examples(candidate: RunView, baseline: RunView | None) -> list[Change]:
    """Every changed (or, without a baseline, failing) example, in reading order."""
    if baseline is None:
        failing = [e for e in candidate.examples.values() if e.pass_rate < 1.0]
        failing.sort(key=lambda e: (e.pass_rate, e.example_id))
        return [Change("failing", e, None) for e in failing]
    regressions: list[tuple[float, str, Change]] = []
    improvements: list[tuple[float, str, Change]] = []
    for example_id, cand in candidate.examples.items():
        base = baseline.examples.get(example_id)
        if base is None:
            continue
        move = cand.pass_rate - base.pass_rate
        if move < 0:
            regressions.append((move, example_id, Change("regression", cand, base)))
        elif move > 0:
            improvements.append((-move, example_id, Change("improvement", cand, base)))
    regressions.sort(key=lambda item: item[:2])
    improvements.sort(key=lambda item: item[:2])
    return [c for _, _, c in regressions] + [c for _, _, c in improvements]
