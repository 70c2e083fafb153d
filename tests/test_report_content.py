"""The runner records each example's input, expected answer and the target's output on the
root span when content capture is on (redacted), and only then; the report's changed examples
show them, with both runs' outputs, even when the dataset never was a file."""

from __future__ import annotations

import duckdb
import pytest

import llmtrace
from llmtrace import evals

ROWS = [{"id": f"ex{i}", "input": {"question": f"q{i}"}, "expected": f"a{i}"} for i in range(8)]
BROKEN = {"ex1", "ex5"}  # the candidate gets these wrong


def _suite() -> evals.Suite:
    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call(text: str) -> dict[str, object]:
        return {"choices": [{"message": {"content": f"  {text.upper()}  "}}], "usage": {}}

    def target(example: evals.Example, model: str) -> str:
        answer = "wrong, ask jane@example.com" if model == "cand" and example.id in BROKEN else ""
        completion = call(answer or str(example.expected))
        # The target post-processes the completion: the report shows what it returned.
        return str(completion["choices"][0]["message"]["content"]).strip().lower()  # type: ignore[index]

    dataset = evals.Dataset.from_records(ROWS, name="qa")  # no source file to read back
    return evals.Suite(name="qa", dataset=dataset, target=target, scorers=[evals.exact_match()])


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    db = tmp_path_factory.mktemp("content") / "c.duckdb"
    ids = {}
    for capture in (True, False):
        handle = llmtrace.configure(service_name="content", db=db, capture_content=capture)
        for model in ("base", "cand"):
            ids[(capture, model)] = _suite().run(model=model, db=db, progress=False).id
        handle.shutdown()
    return db, ids


def _root_attributes(db, run_id):
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(
            """SELECT r.example_id, s.attributes['llmtrace.eval.input']::VARCHAR,
                      s.attributes['llmtrace.eval.expected']::VARCHAR,
                      s.attributes['llmtrace.eval.output']::VARCHAR
               FROM eval_results r JOIN spans s
                 ON s.trace_id = r.trace_id AND s.parent_span_id IS NULL
               WHERE r.run_id = ? AND r.scorer = 'exact_match' ORDER BY r.example_id""",
            [run_id],
        ).fetchall()
    finally:
        conn.close()


def test_the_runner_records_the_example_only_when_capture_is_on(runs):
    db, ids = runs
    captured = {row[0]: row[1:] for row in _root_attributes(db, ids[(True, "cand")])}
    assert captured["ex0"] == ('{"question": "q0"}', "a0", "a0")
    assert captured["ex1"] == ('{"question": "q1"}', "a1", "wrong, ask [REDACTED:email]")
    assert all(r[1:] == (None, None, None) for r in _root_attributes(db, ids[(False, "cand")]))


def test_report_shows_input_expected_and_both_outputs_without_a_dataset_file(runs):
    db, ids = runs
    page = evals.report(ids[(True, "cand")], ids[(True, "base")], db=db)
    for example in sorted(BROKEN):
        card = page.split(f"<code>{example}</code>", 1)[1].split("</article>", 1)[0]
        number = example[2:]
        assert f"<dt>input</dt><dd>{{&quot;question&quot;: &quot;q{number}&quot;}}</dd>" in card
        assert f"<dt>expected</dt><dd>a{number}</dd>" in card
        assert "<dt>candidate output</dt><dd>wrong, ask [REDACTED:email]</dd>" in card
        assert f"<dt>baseline output</dt><dd>a{number}</dd>" in card  # stripped, lower case


def test_report_without_capture_says_how_to_capture(runs):
    db, ids = runs
    page = evals.report(ids[(False, "cand")], ids[(False, "base")], db=db)
    assert "LLMTRACE_CAPTURE_CONTENT=1" in page and "candidate output" not in page
