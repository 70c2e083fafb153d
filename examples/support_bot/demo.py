"""`make demo`: trace the support bot into a fresh llmtrace.duckdb and answer questions in SQL.

Runs without network or API keys: the model is a deterministic stand-in.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table

import llmtrace
from llmtrace import evals

from .app import PROMPTS, TICKETS, handle_ticket
from .evals import GATES, suite
from .release_demo import release_story

console = Console()

QUESTIONS: list[tuple[str, str]] = [
    (
        "p95 latency and cost by prompt version",
        """SELECT prompt_version, count(*) AS calls,
                  round(quantile_cont(duration_ms, 0.95), 1) AS p95_ms,
                  round(sum(cost_usd), 6) AS cost_usd,
                  round(avg(cost_usd) * 1000, 4) AS usd_per_1k_calls
           FROM llm_calls GROUP BY prompt_version ORDER BY prompt_version""",
    ),
    (
        "the slowest ticket that looked up an order, span by span",
        """WITH slowest AS (SELECT trace_id FROM traces
                            WHERE trace_id IN (SELECT trace_id FROM tool_calls)
                            ORDER BY duration_ms DESC LIMIT 1)
           SELECT kind, name, tool_name, round(duration_ms, 2) AS ms
           FROM spans JOIN slowest USING (trace_id) ORDER BY start_time""",
    ),
    (
        "guardrail actions by policy",
        """SELECT guardrail_policy, guardrail_action, count(*) AS n,
                  round(avg(guardrail_score), 3) AS avg_score
           FROM spans WHERE kind = 'guardrail' GROUP BY ALL ORDER BY ALL""",
    ),
]


def print_rows(title: str, rows: list[dict[str, Any]]) -> None:
    table = Table(title=title, title_justify="left")
    for column in rows[0] if rows else ["(no rows)"]:
        table.add_column(column, no_wrap=True, overflow="ellipsis")  # one line per row
    for row in rows:
        table.add_row(*["" if v is None else str(v) for v in row.values()])
    console.print(table)


def trace_traffic(db: Path) -> None:
    # The first traced call loads the token encoding and price table (a few hundred ms, on
    # your thread until issue #8 moves it off): the first ticket's latency shows it.
    # Content capture is on (redacted: emails, keys and tokens never reach the store), so the
    # gate's report.html shows each changed example's input, expected and both outputs.
    handle = llmtrace.configure(service_name="support-bot", db=db, capture_content=True)
    for prompt_version in ("v1", "v2"):
        with llmtrace.context(conversation_id=f"demo-{prompt_version}"):
            for i, ticket in enumerate(TICKETS * 2):
                with llmtrace.context(user_id=f"user-{i % 5}"):
                    handle_ticket(ticket, prompt_version=prompt_version)
    handle.flush()


def gate_prompts(db: Path) -> Path:
    baseline = suite.run(model="gpt-4o-mini", prompt=PROMPTS["v1"], epochs=2, db=db, progress=False)
    candidate = suite.run(
        model="gpt-4o-mini", prompt=PROMPTS["v2"], epochs=2, db=db, progress=False
    )
    for run in (baseline, candidate):
        console.print(
            f"run {run.id}: prompt {run.prompt_version}, grounded "
            f"{run.mean('grounded'):.2f}, {len(run.results)} example-epochs"
        )
    result = evals.gate(candidate=candidate, baseline=baseline, config=GATES, db=db)
    print_rows(
        f"gate decision: {result.decision}",
        [
            {
                "decision": g.decision,
                "rule": g.rule,
                "estimate": f"{g.estimate:.4g}",
                "interval": f"[{g.ci_low:.4g}, {g.ci_high:.4g}]",
                "n": g.n,
            }
            for g in result.gates
        ],
    )
    report = db.with_name("report.html")
    evals.report(candidate, result=result, out=report, db=db)
    return report


def main() -> None:
    db = Path(os.environ.get("LLMTRACE_DB", "llmtrace.duckdb"))
    for stale in (db, db.with_name(db.name + ".wal")):
        stale.unlink(missing_ok=True)
    console.rule("[bold]1. tracing the support bot")
    trace_traffic(db)
    spans = llmtrace.query("SELECT count(*) AS n FROM spans", db=db)[0]["n"]
    console.print(f"wrote {spans} spans to {db}")
    console.rule("[bold]2. questions answered with SQL")
    for title, sql in QUESTIONS:
        print_rows(title, llmtrace.query(sql, db=db))
    console.rule("[bold]3. eval and release gate: prompt v2 against v1")
    report = gate_prompts(db)
    print(f"\nThe gate as a page (intervals, distributions, changed examples): {report}")
    print(f"  open it in a browser: {report.resolve().as_uri()}")
    console.rule("[bold]4. releases: register, approve, promote, card, lineage")
    release_story(db, cli_command)
    print(f'\nAsk your own: {cli_command()} sql "SELECT * FROM traces LIMIT 5" --db {db}')
    print(f"Or list them: {cli_command()} traces --db {db}")


def cli_command() -> str:
    """How to run ``llmtrace`` from here: the bare name only when the shell finds this one
    (``make demo`` installs it in .venv/bin, which is not on PATH)."""
    installed = Path(sys.executable).parent / "llmtrace"
    found = shutil.which("llmtrace")
    if found and Path(found).resolve() == installed.resolve():
        return "llmtrace"
    if installed.exists():
        relative = os.path.relpath(installed)
        if relative.startswith(".."):
            return str(installed)
        return relative if relative.startswith(".") else f"./{relative}"
    return f"{sys.executable} -m llmtrace"


if __name__ == "__main__":
    main()
