"""Stored runs for the release registry tests: made once per module, in a real DuckDB file."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import yaml

import llmtrace
from llmtrace import evals

N = 40

GATES: dict[str, Any] = {
    "confidence": 0.95,
    "gates": [
        {"metric": "quality.exact_match", "min": 0.6, "max_drop": 0.05},
        {"metric": "errors.rate", "max": 0.0},
    ],
}


def make_runs(db: Path) -> dict[str, str]:
    """Run ids: base, same, better (identical to base), worse (25% wrong), other_data,
    other_judge, and incomplete (a run left running)."""
    handle = llmtrace.configure(service_name="registry-test", db=db)

    @llmtrace.retrieval(index="kb", index_version="kb-2024-06")
    def lookup(text: str) -> list[str]:
        return [text]

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def model_call(text: str) -> dict[str, Any]:
        lookup(text)
        return {"model": "gpt-4o-mini-2024-07-18", "usage": {"prompt_tokens": 20}}

    def target(example: evals.Example, model: str) -> Any:
        model_call(str(example.input))
        wrong = model == "regressed" and int(example.id[2:]) % 4 == 0
        return "nope" if wrong else example.expected

    rows = [{"id": f"ex{i:03d}", "input": f"q{i}", "expected": f"a{i}"} for i in range(N)]
    dataset = evals.Dataset.from_records(rows, name="qa")
    judge_v1 = evals.judge(lambda e, o: 1.0, model="gpt-4o-2024-08-06", version="v1", name="ok")
    suite = evals.Suite(
        name="qa", dataset=dataset, target=target, scorers=[evals.exact_match(), judge_v1]
    )
    made = {
        key: suite.run(model=model, db=db, progress=False).id
        for key, model in (
            ("base", "good"),
            ("same", "good"),
            ("better", "good"),
            ("worse", "regressed"),
            ("fourth", "good"),
            ("fifth", "good"),
        )
    }
    other = evals.Dataset.from_records(rows[:-1], name="qa")
    made["other_data"] = (
        evals.Suite(
            name="qa", dataset=other, target=target, scorers=[evals.exact_match(), judge_v1]
        )
        .run(model="good", db=db, progress=False)
        .id
    )
    judge_v2 = evals.judge(lambda e, o: 1.0, model="gpt-4o-2024-08-06", version="v2", name="ok")
    made["other_judge"] = (
        evals.Suite(
            name="qa", dataset=dataset, target=target, scorers=[evals.exact_match(), judge_v2]
        )
        .run(model="good", db=db, progress=False)
        .id
    )
    handle.shutdown()
    return made


def gates_file(tmp: Path, release: dict[str, Any] | None = None, **extra: Any) -> Path:
    path = tmp / f"gates-{abs(hash(repr((release, extra))))}.yaml"
    content = {**GATES, **extra}
    if release is not None:
        content["release"] = release
    path.write_text(yaml.safe_dump(content), encoding="utf-8")
    return path


def git_clean() -> bool:
    done = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True)
    return done.returncode == 0 and not done.stdout.strip()


_REPRODUCIBLE_SUITE = """
import json, sys
import llmtrace
from llmtrace import evals
from llmtrace.prompts import Prompt

db, data = sys.argv[1], sys.argv[2]
llmtrace.configure(service_name="repro", db=db)
PROMPT = Prompt("qa", "Answer: {question}")

@llmtrace.retrieval(index="kb", index_version="kb-v7")
def lookup(text):
    return [text]

def answer(example, model, prompt):
    lookup(example.input)
    return example.expected

dataset = evals.Dataset.from_jsonl(data, name="qa")
judge = evals.judge(lambda e, o: 1.0, model="gpt-4o-2024-08-06", version="helpful-v2",
                    name="helpful")
suite = evals.Suite(name="qa", dataset=dataset, target=answer, prompts=[PROMPT],
                    scorers=[evals.exact_match(), judge])
run = suite.run(model="gpt-4o-mini-2024-07-18", progress=False, db=db)
print(json.dumps({"run": run.id}))
"""


def make_reproducible_run(tmp: Path, rows: int = 30) -> tuple[Path, str, Path]:
    """A run made in a clean git repository with a pinned model, prompt and judge, whose
    dataset is a JSONL file: (db, run id, dataset path). Everything in R(run) holds."""
    import json
    import sys

    repo, data_dir = tmp / "repo", tmp / "data"
    repo.mkdir()
    data_dir.mkdir()
    (repo / "suite.py").write_text(_REPRODUCIBLE_SUITE, encoding="utf-8")
    git = ["git", "-c", "user.email=t@example.com", "-c", "user.name=t"]
    for args in (["init", "-q"], ["add", "suite.py"], ["commit", "-qm", "suite"]):
        subprocess.run([*git, *args], cwd=repo, check=True, capture_output=True)
    data = data_dir / "qa.jsonl"
    data.write_text(
        "".join(
            json.dumps({"id": f"ex{i:03d}", "input": f"q{i}", "expected": f"a{i}"}) + "\n"
            for i in range(rows)
        ),
        encoding="utf-8",
    )
    db = data_dir / "repro.duckdb"
    env = {k: v for k, v in __import__("os").environ.items() if not k.startswith("LLMTRACE_")}
    done = subprocess.run(
        [sys.executable, "suite.py", str(db), str(data)],
        cwd=repo,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    run_id = json.loads(done.stdout.strip().splitlines()[-1])["run"]
    return db, run_id, data
