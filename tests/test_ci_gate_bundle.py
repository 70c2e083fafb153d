"""examples/ci_gate end to end, as the workflow runs it: the release job keeps production in a
bundle; the pull-request job imports it into an empty store and gates the candidate against the
production run without re-running it; the same gate in the original store decides the same."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "ci_gate"


def _env(db, bundle, prompt, reports=None):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    env.update(
        {
            "LLMTRACE_DB": str(db),
            "PYTHON": sys.executable,
            "COLUMNS": "200",
            "CANDIDATE_PROMPT": prompt,
            "PRODUCTION_BUNDLE": str(bundle),
            "EPOCHS": "1",
            "REPORTS": str(reports or db.parent / "reports"),
        }
    )
    return env


def _script(name, env):
    return subprocess.run(
        ["bash", str(EXAMPLE / name)], env=env, capture_output=True, text=True, timeout=300
    )


def _llmtrace(db, *args):
    done = subprocess.run(
        [sys.executable, "-m", "llmtrace", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=EXAMPLE,
        timeout=120,
    )
    assert done.returncode in (0, 1), done.stdout + done.stderr
    return done


def _rows(report):
    return [
        (g["metric"], g["rule"], g["decision"], g["estimate"], g["ci_low"], g["ci_high"], g["n"])
        for g in report["gates"]
    ]


def test_pull_request_gates_against_the_imported_bundle_as_the_original_store_would(tmp_path):
    bundle = tmp_path / "artifacts" / "production.bundle"
    original, ci = tmp_path / "release-job.duckdb", tmp_path / "pr-job.duckdb"

    # The release job on main: v1 becomes production; the bundle is kept (an artifact).
    released = _script("release.sh", _env(original, bundle, "v1"))
    assert released.returncode == 0, released.stdout + released.stderr
    assert bundle.exists()
    production_run = next(
        r["run_id"]
        for r in json.loads(_llmtrace(original, "releases", "qa-bot", "-f", "json").stdout)
        if r["stage"] == "production"
    )

    # The pull-request job: an empty store, the bundle, the candidate v2 only.
    reports = tmp_path / "reports"
    gated = _script("gate.sh", _env(ci, bundle, "v2", reports))
    assert gated.returncode in (0, 1), gated.stdout + gated.stderr
    assert f"baseline: production run {production_run} of qa-bot" in gated.stdout
    assert "evaluating the baseline" not in gated.stdout
    report = json.loads((reports / "gate.json").read_text())
    assert report["baseline_run_id"] == production_run
    assert any(g["metric"] == "data.pii_rows" for g in report["gates"])
    html = (reports / "report.html").read_text()
    assert production_run in html and "<svg" in html
    runs = json.loads(_llmtrace(ci, "runs", "-f", "json").stdout)
    assert sorted(r["prompt_version"] for r in runs) == ["v1", "v2"]  # v1 imported, not re-run
    assert next(r for r in runs if r["prompt_version"] == "v1")["run_id"] == production_run

    # The same gate in the original store: bring the candidate over and decide there.
    candidate = report["candidate_run_id"]
    moved = tmp_path / "candidate.bundle"
    _llmtrace(ci, "bundle", "export", candidate, "--out", str(moved))
    _llmtrace(original, "bundle", "import", str(moved))
    again = tmp_path / "again.json"
    gate = _llmtrace(
        original,
        *("gate", "--config", "gates.yaml", "--candidate", candidate),
        *("--baseline", production_run, "--json", str(again)),
    )
    assert gate.returncode == (0 if report["passed"] else 1)
    in_original = json.loads(again.read_text())
    assert in_original["decision"] == report["decision"]
    assert _rows(in_original) == _rows(report)


def test_the_workflow_fetches_the_bundle_gates_and_keeps_report_html():
    import yaml

    workflow = yaml.safe_load((EXAMPLE / ".github/workflows/llm-gate.yml").read_text())
    gate, release = workflow["jobs"]["gate"]["steps"], workflow["jobs"]["release"]["steps"]
    runs = [step.get("run", "") for step in gate]
    fetch = next(i for i, r in enumerate(runs) if "gh run download" in r)
    assert "--name production-bundle" in runs[fetch]
    assert runs.index("bash examples/ci_gate/gate.sh") > fetch
    uploads = [s["with"] for s in gate if s.get("uses", "").startswith("actions/upload-artifact")]
    assert any(u["path"] == "examples/ci_gate/reports/report.html" for u in uploads)
    assert any("GITHUB_STEP_SUMMARY" in r and "report.html" in r for r in runs)
    assert any(step.get("run") == "bash examples/ci_gate/release.sh" for step in release)
    kept = [s["with"] for s in release if s.get("uses", "").startswith("actions/upload-artifact")]
    assert kept == [
        {"name": "production-bundle", "path": "${{ env.PRODUCTION_BUNDLE }}", "retention-days": 90}
    ]
