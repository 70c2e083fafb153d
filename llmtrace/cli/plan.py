"""``llmtrace plan``: the examples and epochs a gates file needs to detect a stated effect."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from ..errors import UserError
from ..evals.plan import format_plan, plan
from ._common import DbOption, resolve_prefix
from ._store import readable_store

EPOCHS = (1, 2, 3, 5)


def _effects(values: list[str]) -> float | dict[str, float]:
    """``0.05`` (every rule) or ``METRIC=0.05`` pairs, each in the metric's own units."""
    try:
        if len(values) == 1 and "=" not in values[0]:
            return float(values[0])
        pairs = [value.split("=", 1) for value in values]
        return {metric.strip(): float(number) for metric, number in pairs}
    except ValueError:
        raise UserError(
            f"--effect {' '.join(values)!r}: give a number (every rule) or METRIC=NUMBER, "
            "like --effect quality.exact_match=0.05 --effect latency.p95_ms=200"
        ) from None


def plan_command(
    config: Annotated[Path, typer.Option("--config", help="The gates YAML file.", metavar="FILE")],
    baseline: Annotated[
        str, typer.Option(help="The baseline run id (a unique prefix is enough).", metavar="RUN")
    ],
    effect: Annotated[
        list[str],
        typer.Option(
            help="The change to detect, in the metric's units (percent for max_increase_pct): "
            "a number for every rule, or METRIC=NUMBER, repeatable.",
            metavar="EFFECT",
        ),
    ],
    power: Annotated[float, typer.Option(help="The chance to detect it.")] = 0.8,
    db: DbOption = None,
) -> None:
    """Print the examples each gate bound needs, at 1, 2, 3 and 5 epochs, to detect an effect."""
    path = readable_store(db)
    baseline_id = resolve_prefix(db, "eval_runs", "run_id", baseline, "run")
    try:
        rows = plan(
            config, baseline_id, effect=_effects(effect), power=power, epochs=EPOCHS, db=path
        )
    except ValueError as exc:
        if isinstance(exc, UserError):
            raise
        raise UserError(str(exc)) from None
    typer.echo(f"plan: examples needed per gate bound (baseline {baseline_id}, power {power:.0%})")
    typer.echo(format_plan(rows, EPOCHS), nl=False)
