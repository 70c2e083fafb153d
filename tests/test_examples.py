"""Every example runs: the support-bot demo that `make demo` shows."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def test_support_bot_demo_prints_the_sql_answers(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    env["LLMTRACE_DB"] = str(tmp_path / "demo.duckdb")
    env["COLUMNS"] = "160"
    done = subprocess.run(
        [sys.executable, "-m", "examples.support_bot.demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "wrote 172 spans" in out
    for title in (
        "p95 latency and cost by prompt version",
        "the slowest trace, with its tool calls",
        "guardrail actions by policy",
    ):
        assert title in out
    assert "│ pii              │ redact           │ 4  │" in out
    assert done.stderr == ""
