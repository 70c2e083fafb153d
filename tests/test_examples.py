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
        "the slowest ticket that looked up an order, span by span",
        "guardrail actions by policy",
    ):
        assert title in out
    assert "│ pii              │ redact           │ 4  │" in out
    assert "eval and release gate: prompt v2 against v1" in out
    assert "gate decision: " in out and "quality.grounded >= 0.5" in out
    assert "4. releases: register, approve, promote, card, lineage" in out
    assert "promoted support-bot v1 " in out and "a rollback restores: v1 " in out
    assert "# Model card: support-bot v" in out and "lineage of release support-bot v" in out
    assert done.stderr == ""
    report = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "<dt>candidate output</dt>" in report and "<dt>baseline output</dt>" in report


def test_ci_gate_example_runs_end_to_end(tmp_path):
    """The exact script the example GitHub workflow runs: two evals, then the gate."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    env.update(
        {
            "LLMTRACE_DB": str(tmp_path / "ci.duckdb"),
            "PYTHON": sys.executable,
            "COLUMNS": "200",
            "PRODUCTION_BUNDLE": str(tmp_path / "no-release-yet.bundle"),
        }
    )
    reports = ROOT / "examples" / "ci_gate" / "reports"
    done = subprocess.run(
        ["bash", str(ROOT / "examples" / "ci_gate" / "gate.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "quality.exact_match - baseline >= -0.02" in done.stdout
    import json
    import xml.etree.ElementTree as ET

    report = json.loads((reports / "gate.json").read_text())
    assert report["decision"] in ("pass", "warn") and len(report["gates"]) == 10
    assert {"data.rows", "data.pii_rows"} <= {g["metric"] for g in report["gates"]}
    suite = ET.parse(reports / "gate.xml").getroot().find("testsuite")
    assert suite.get("tests") == "10" and suite.get("failures") == "0"
    assert "no production bundle" in done.stdout and (reports / "report.html").exists()
    assert (reports / "gate.md").read_text().startswith("## llmtrace gate")
    runs = subprocess.run(
        [sys.executable, "-m", "llmtrace", "runs", "-f", "json"],
        env=env,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert {r["prompt_version"] for r in json.loads(runs.stdout)} == {"v1", "v2"}

    strict = subprocess.run(
        ["bash", str(ROOT / "examples" / "ci_gate" / "gate.sh")],
        env={**env, "STRICT": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    expected = 1 if report["decision"] == "warn" else 0
    assert strict.returncode == expected, strict.stdout + strict.stderr


def test_ci_gate_workflow_runs_the_same_script():
    import yaml

    workflow = yaml.safe_load(
        (ROOT / "examples/ci_gate/.github/workflows/llm-gate.yml").read_text()
    )
    steps = workflow["jobs"]["gate"]["steps"]
    assert any(step.get("run") == "bash examples/ci_gate/gate.sh" for step in steps)
    assert "pull_request" in workflow[True]  # YAML reads the key `on` as True
