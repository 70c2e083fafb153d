"""``llmtrace calibrate MODULE:JUDGE --labels FILE`` (issue 13): stores the judge version's
agreement with human labels where gates and reports find it; bad input exits 2, one line."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from llmtrace.evals.calibration_store import load_calibrations

JUDGES = """
from llmtrace import evals

def _grade(example, output):
    return float(output % 3 != 0) if output != 31 else 0.0

helpful = evals.judge(_grade, model="gpt-4o", version="h1", name="helpful")
not_a_judge = evals.scorer(name="plain")(lambda example, output: 1.0)
"""


@pytest.fixture
def workdir(tmp_path):
    (tmp_path / "judges.py").write_text(JUDGES, encoding="utf-8")
    rows = [
        {"id": f"l{i}", "input": i, "metadata": {"output": i, "label": i % 3 != 0}}
        for i in range(60)
    ]
    lines = "\n".join(json.dumps(r) for r in rows)
    (tmp_path / "labels.jsonl").write_text(lines + "\n", encoding="utf-8")
    return tmp_path


def _run(workdir, *args):
    env = {**os.environ, "LLMTRACE_DB": str(workdir / "store.duckdb")}
    return subprocess.run(
        [sys.executable, "-m", "llmtrace", "calibrate", *args],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_calibrate_stores_the_judge_versions_agreement(workdir):
    done = _run(workdir, "judges:helpful", "--labels", "labels.jsonl", "--resamples", "300")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("judge helpful version h1: cohen_kappa ")
    assert "on 60 labels (labels@" in done.stdout and "stored in" in done.stdout
    [stored] = load_calibrations(workdir / "store.duckdb")
    assert (stored.judge, stored.judge_version, stored.n) == ("helpful", "h1", 60)
    assert stored.dataset_name == "labels" and 0.9 < stored.agreement < 1.0  # one disagreement


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["judges", "--labels", "labels.jsonl"], "expected MODULE:JUDGE"),
        (["nowhere:helpful", "--labels", "labels.jsonl"], "importing 'nowhere' raised"),
        (["judges:missing", "--labels", "labels.jsonl"], "'missing' in judges is not"),
        (["judges:not_a_judge", "--labels", "labels.jsonl"], "is not a judge"),
        (["judges:helpful", "--labels", "absent.jsonl"], "absent.jsonl: cannot read"),
        (["judges:helpful", "--labels", "judges.py"], "judges.py:2: invalid JSON"),
    ],
)
def test_bad_input_exits_2_with_one_line(workdir, args, message):
    done = _run(workdir, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr and len(done.stderr.strip().splitlines()) == 1, done.stderr


def test_labels_without_outputs_exit_2_naming_the_file(workdir):
    (workdir / "bare.jsonl").write_text('{"id": "a", "input": 1}\n', encoding="utf-8")
    done = _run(workdir, "judges:helpful", "--labels", "bare.jsonl")
    assert done.returncode == 2
    assert "--labels bare.jsonl: labelled dataset 'bare': example 'a' needs metadata" in done.stderr
