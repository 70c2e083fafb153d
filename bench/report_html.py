"""Issue 18: the HTML report of a 10,000-example run against a 10,000-example baseline, in
under 3 s and under 5 MB (plots decimated, changed examples capped with a count)."""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path

import llmtrace
from llmtrace import evals

from .common import line

EXAMPLES = 10_000
GATES = {"gates": [{"metric": "quality.exact_match", "min": 0.8, "max_drop": 0.01}]}


def _runs(db: Path) -> tuple[str, str, evals.GateResult]:
    """A baseline and a candidate that differ on a few hundred examples, content captured."""
    handle = llmtrace.configure(service_name="bench-report", db=db, capture_content=True)

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call(text: str, answer: str) -> dict[str, object]:
        return {"choices": [{"message": {"content": answer}}], "usage": {"prompt_tokens": 90}}

    def target(example: evals.Example, model: str) -> str:
        index = int(example.id[1:])
        wrong = index % (13 if model == "candidate" else 17) == 0
        response = call(str(example.input), "wrong" if wrong else str(example.expected))
        return str(response["choices"][0]["message"]["content"])  # type: ignore[index]

    rows = [{"id": f"e{i:05d}", "input": f"q{i}", "expected": f"a{i}"} for i in range(EXAMPLES)]
    suite = evals.Suite(
        name="bench-report",
        dataset=evals.Dataset.from_records(rows, name="bench-report"),
        target=target,
        scorers=[evals.exact_match()],
    )
    baseline = suite.run(model="baseline", db=db, progress=False, concurrency=4)
    candidate = suite.run(model="candidate", db=db, progress=False, concurrency=4)
    handle.shutdown()
    result = evals.gate(candidate.id, baseline.id, GATES, db=db)
    return candidate.id, baseline.id, result


def run() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "report.duckdb"
        candidate, baseline, result = _runs(db)
        out = Path(tmp) / "report.html"
        times = []
        for _ in range(3):
            start = time.perf_counter()
            evals.report(candidate, baseline, result=result, out=out, db=db)
            times.append(time.perf_counter() - start)
        size_mb = out.stat().st_size / 1e6
    seconds = statistics.median(times)
    print("HTML report (issue 18)")
    line(
        f"{EXAMPLES:,} examples against a {EXAMPLES:,}-example baseline (median of 3)",
        f"{seconds:.2f} s",
        "(target < 3 s)",
    )
    line("file size", f"{size_mb:.2f} MB", "(target < 5 MB)")
    return {"seconds": seconds, "size_mb": size_mb}


if __name__ == "__main__":
    run()
