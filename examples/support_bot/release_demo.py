"""`make demo`, part 4: the two gated runs become releases, with approvals, a promotion (or an
honest refusal), the registry, the model card and the lineage."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from rich.console import Console

from llmtrace import evals
from llmtrace.cli._common import OutputFormat
from llmtrace.cli.release import releases

from .evals import GATES

POLICY = {**GATES, "release": {"production": {"approvals": 1, "roles": ["owner"]}}}
NAME = "support-bot"
console = Console()


def _runs(db: Path) -> tuple[str, str]:
    """The demo's baseline and candidate: the two most recent completed runs, oldest first."""
    import llmtrace

    rows = llmtrace.query(
        "SELECT run_id FROM eval_runs WHERE status = 'completed' ORDER BY started_at DESC LIMIT 2",
        db=db,
    )
    return rows[1]["run_id"], rows[0]["run_id"]


def release_story(db: Path, cli_command: Callable[[], str]) -> None:
    registry = evals.Registry(db)
    baseline, candidate = (registry.register(run, name=NAME, by="ci") for run in _runs(db))
    console.print(f"registered {baseline.label} and {candidate.label}")
    for release in (baseline, candidate):
        registry.approve(release, by="alice@example.com", role="owner", note="read the card")
        try:
            promoted = registry.promote(
                release,
                to="production",
                config=POLICY,
                by="alice@example.com",
                reason=f"prompt {release.prompt_version}",
            )
            console.print(f"promoted {promoted.label} to production")
        except evals.PromotionRefused as refused:
            console.print(f"refused {release.label}:")
            for reason in refused.reasons:
                console.print(f"  - {reason}")
    console.print(f"\n[bold]{cli_command()} releases {NAME}:")
    releases(NAME, OutputFormat.table, db)
    current = registry.current(NAME)
    card = evals.card(current or candidate, format="md", card_yaml=None, db=db)
    console.print("\n[bold]model card (first lines):")
    print("\n".join(card.splitlines()[:26]))
    console.print("\n[bold]lineage:")
    print(evals.lineage(current or candidate, db=db).to_text())
