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
