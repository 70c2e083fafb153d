"""examples/ci_gate/release.sh: two CI jobs on empty stores share production through a bundle."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import ROOT


def _job(tmp_path, name, prompt, bundle):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    env.update(
        {
            "LLMTRACE_DB": str(tmp_path / f"{name}.duckdb"),  # every job starts empty
            "PYTHON": sys.executable,
            "COLUMNS": "200",
            "CANDIDATE_PROMPT": prompt,
            "PRODUCTION_BUNDLE": str(bundle),
            "EPOCHS": "1",
        }
    )
    return subprocess.run(
        ["bash", str(ROOT / "examples/ci_gate/release.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def _gated_run(stdout: str) -> str:
    """The run a job's gate judged: ``gate GATE: run RUN ...``."""
    line = next(line for line in stdout.splitlines() if line.startswith("gate "))
    return line.split(": run ")[1].split()[0]


def test_the_second_job_gates_against_the_first_jobs_bundle(tmp_path):
    bundle = tmp_path / "production.bundle"
    first = _job(tmp_path, "job1", "v1", bundle)
    assert first.returncode == 0, first.stdout + first.stderr
    assert "(absolute bounds only)" in first.stdout and bundle.exists()
    v1_run = _gated_run(first.stdout)
    second = _job(tmp_path, "job2", "v2", bundle)
    assert second.returncode in (0, 1), second.stdout + second.stderr
    assert "imported release " in second.stdout
    assert f"vs production run {v1_run}" in second.stdout
    # Only the candidate was evaluated in the second job: one run of its own, one imported.
    runs = subprocess.run(
        [
            sys.executable,
            "-m",
            "llmtrace",
            "runs",
            "-f",
            "json",
            "--db",
            str(tmp_path / "job2.duckdb"),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    import json

    assert sorted(r["prompt_version"] for r in json.loads(runs.stdout)) == ["v1", "v2"]
