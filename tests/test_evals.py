"""Evals: dataset versions and errors, runs with real concurrency, scorers, judges, storage."""

from __future__ import annotations

import asyncio
import json
import threading
import time

import pytest

import llmtrace
from llmtrace import evals
from llmtrace.evals import Dataset, DatasetError

ROWS = [
    {"id": "a", "input": "2+2", "expected": "4", "metadata": {"topic": "math", "level": 1}},
    {"id": "b", "input": "capital of France", "expected": "Paris"},
    {"id": "c", "input": "3*3", "expected": "9"},
]


@pytest.fixture
def eval_db(tmp_path):
    handle = llmtrace.configure(service_name="evals-test", db=tmp_path / "evals.duckdb")
    yield tmp_path / "evals.duckdb"
    handle.shutdown()


# --- datasets ------------------------------------------------------------------------------
def test_version_ignores_row_and_key_order_and_follows_content(tmp_path):
    forward = tmp_path / "f.jsonl"
    forward.write_text("\n".join(json.dumps(r) for r in ROWS) + "\n")
    reordered = tmp_path / "r.jsonl"
    reordered.write_text(
        "\n".join(json.dumps(dict(reversed(list(r.items())))) for r in reversed(ROWS))
    )
    assert Dataset.from_jsonl(forward).version == Dataset.from_jsonl(reordered).version
    assert Dataset.from_records(ROWS, name="x").version == Dataset.from_jsonl(forward).version
    changed = [dict(r) for r in ROWS]
    changed[2]["expected"] = "10"
    assert Dataset.from_records(changed, name="x").version != Dataset.from_jsonl(forward).version
    ds = Dataset.from_jsonl(forward, name="qa")
    assert ds.name == "qa" and len(ds) == 3 and len(ds.version) == 12
    assert ds.examples[0] == evals.Example("a", "2+2", "4", {"topic": "math", "level": 1})


def test_missing_ids_are_derived_from_content():
    ds = Dataset.from_records([{"input": "x", "expected": "y"}, {"input": "z"}], name="d")
    again = Dataset.from_records([{"input": "z"}, {"input": "x", "expected": "y"}], name="d")
    assert {e.id for e in ds.examples} == {e.id for e in again.examples}
    assert all(len(e.id) == 12 for e in ds.examples)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"input": "a", "id": "1"}\n{"input": "b", "id": 2\n', r"bad.jsonl:2: invalid JSON"),
        ('{"input": "a"}\n\n{"expected": "b"}\n', r"bad.jsonl:3: missing required field 'input'"),
        (
            '{"input": "a", "id": "x"}\n{"input": "b", "id": "x"}\n',
            r"bad.jsonl:2: duplicate id 'x' \(first at .*bad.jsonl:1\)",
        ),
        ('{"input": "a", "label": 1}\n', r"bad.jsonl:1: unknown field\(s\) \['label'\]"),
        ('["input"]\n', r"bad.jsonl:1: expected a JSON object"),
        ("", r"has no examples"),
    ],
)
def test_bad_lines_name_file_and_line(tmp_path, content, message):
    path = tmp_path / "bad.jsonl"
    path.write_text(content)
    with pytest.raises(DatasetError, match=message):
        Dataset.from_jsonl(path)


def test_csv_and_missing_file(tmp_path):
    path = tmp_path / "qa.csv"
    path.write_text("id,input,expected,topic\n1,2+2,4,math\n2,sky colour,blue,nature\n")
    ds = Dataset.from_csv(path)
    assert [e.id for e in ds.examples] == ["1", "2"]
    assert ds.examples[1].metadata == {"topic": "nature"}
    (tmp_path / "no_input.csv").write_text("question,answer\nq,a\n")
    with pytest.raises(DatasetError, match=r"no_input.csv:1: the header needs an 'input'"):
        Dataset.from_csv(tmp_path / "no_input.csv")
    with pytest.raises(DatasetError, match=r"missing.jsonl: cannot read"):
        Dataset.from_jsonl(tmp_path / "missing.jsonl")


# --- scorers ------------------------------------------------------------------------------
def test_builtin_scorers():
    ex = evals.Example("1", "q", "Paris")
    assert evals.exact_match().score(ex, " Paris ").value == 1.0
    assert evals.exact_match().score(ex, "paris").value == 0.0
    assert evals.exact_match(ignore_case=True).score(ex, "paris").passed is True
    assert evals.contains().score(ex, "It is paris.").value == 1.0
    assert evals.contains().score(evals.Example("2", "q", ["a", "b"]), "a only").value == 0.0
    assert evals.regex(r"^\d+$").score(ex, "42").value == 1.0
    assert evals.regex(r"^\d+$").score(ex, "4 2").value == 0.0
    schema = {"type": "object", "required": ["answer"]}
    assert evals.json_valid().score(ex, '{"a": 1}').value == 1.0
    bad = evals.json_valid(schema).score(ex, '{"a": 1}')
    assert bad.value == 0.0 and "'answer' is a required property" in bad.explanation
    assert evals.json_valid().score(ex, "{nope").explanation.startswith("invalid JSON")
    assert (
        evals.numeric_close(abs_tol=0.01).score(evals.Example("3", "q", 3.14), "3.141").value == 1
    )
    with pytest.raises(ValueError, match="invalid pattern"):
        evals.regex("(")


def test_scorer_errors_are_recorded_not_zero():
    ex = evals.Example("1", "q", "4")

    @evals.scorer(name="raises")
    def raises(example, output):
        raise KeyError("missing")

    @evals.scorer(name="too_big")
    def too_big(example, output):
        return 1.5

    unsafe = evals.safety(lambda e, o: "maybe", name="pii")
    assert raises.score(ex, "4") == evals.Score(None, None, "KeyError: 'missing'")
    assert too_big.score(ex, "4").error.startswith("scorer returned 1.5")
    assert unsafe.score(ex, "4").error.startswith("safety scorer returned 'maybe'")
    assert evals.numeric_close().score(ex, "four").error.startswith("ValueError")


def test_judge_version_follows_model_rubric_and_parameters():
    def grade(example, output):
        return 1.0

    def stricter(example, output):
        return 0.0 if "maybe" in output else 1.0

    base = evals.judge(grade, model="gpt-4o", prompt_template="Rate: {output}", temperature=0)
    assert base.judge_version.startswith("auto-")
    assert (
        base.judge_version
        == evals.judge(
            grade, model="gpt-4o", prompt_template="Rate: {output}", temperature=0
        ).judge_version
    )
    for other in (
        evals.judge(grade, model="gpt-4.1", prompt_template="Rate: {output}", temperature=0),
        evals.judge(grade, model="gpt-4o", prompt_template="Score: {output}", temperature=0),
        evals.judge(grade, model="gpt-4o", prompt_template="Rate: {output}", temperature=0.7),
        evals.judge(stricter, model="gpt-4o", prompt_template="Rate: {output}", temperature=0),
    ):
        assert other.judge_version != base.judge_version
    assert evals.judge(grade, model="gpt-4o", version="helpful-v2").judge_version == "helpful-v2"


# --- runs ---------------------------------------------------------------------------------
def _dataset(n: int) -> Dataset:
    return Dataset.from_records(
        [{"id": f"ex{i:03d}", "input": f"{i}+{i}", "expected": str(2 * i)} for i in range(n)],
        name="sums",
    )


def _run_sums(eval_db):
    """20 sums x 2 epochs at concurrency 4: ex003 answers wrong, ex007 raises. Returns the run,
    its suite and prompt, and the most targets seen running at once."""
    in_flight = 0
    peak = 0
    lock = threading.Lock()

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def model_call(prompt):
        return {"usage": {"prompt_tokens": 50, "completion_tokens": 5}}

    def target(example, model):
        nonlocal in_flight, peak
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        time.sleep(0.01)
        with lock:
            in_flight -= 1
        model_call(example.input)
        if example.id == "ex007":
            raise RuntimeError("model refused")
        a, b = example.input.split("+")
        return str(int(a) + int(b)) if example.id != "ex003" else "wrong"

    grader = evals.judge(
        lambda e, o: 1.0 if o == e.expected else 0.0,
        model="gpt-4o",
        version="grader-v1",
        name="grader",
    )
    suite = evals.Suite(
        name="sums",
        dataset=_dataset(20),
        target=target,
        scorers=[
            evals.exact_match(),
            grader,
            evals.safety(lambda e, o: "secret" in str(o), name="leak"),
        ],
    )
    prompt = llmtrace.Prompt("sum", template="{q}")
    run = suite.run(model="gpt-4o-mini", prompt=prompt, epochs=2, concurrency=4, seed=7, db=eval_db)
    return run, suite, prompt, peak


def test_sync_run_respects_concurrency_and_scores_every_example(eval_db):
    run, _, _, peak = _run_sums(eval_db)
    assert 2 <= peak <= 4
    assert run.status == "completed" and len(run.results) == 40
    assert run.mean("exact_match") == pytest.approx(36 / 40)
    assert run.error_rate == pytest.approx(2 / 40)
    errored = [r for r in run.results if r.error]
    assert {r.example_id for r in errored} == {"ex007"}
    assert all(r.scores["exact_match"].value == 0.0 for r in errored)


def test_sync_run_stores_its_envelope_results_and_dataset(eval_db):
    run, suite, prompt, _ = _run_sums(eval_db)
    [stored] = llmtrace.query("SELECT * FROM eval_runs WHERE run_id = ?", [run.id], db=eval_db)
    assert (stored["suite"], stored["dataset_version"], stored["model"]) == (
        "sums",
        suite.dataset.version,
        "gpt-4o-mini",
    )
    assert (stored["prompt_name"], stored["prompt_version"]) == ("sum", prompt.version)
    assert (stored["epochs"], stored["seed"], stored["status"]) == (2, 7, "completed")
    envelope = json.loads(stored["envelope"])
    assert envelope["seed"] == 7 and envelope["python"] and "duckdb" in envelope["packages"]
    assert "commit" in envelope["git"] and envelope["host"]
    counts = llmtrace.query(
        "SELECT scorer, kind, count(*) AS n, sum(score) AS total, count(error) AS errors, "
        "any_value(judge_version) AS jv FROM eval_results WHERE run_id = ? GROUP BY ALL "
        "ORDER BY scorer",
        [run.id],
        db=eval_db,
    )
    assert counts == [
        {
            "scorer": "exact_match",
            "kind": "quality",
            "n": 40,
            "total": 36.0,
            "errors": 2,
            "jv": None,
        },
        {
            "scorer": "grader",
            "kind": "quality",
            "n": 40,
            "total": 36.0,
            "errors": 2,
            "jv": "grader-v1",
        },
        {"scorer": "leak", "kind": "safety", "n": 40, "total": 0.0, "errors": 2, "jv": None},
        {"scorer": "target", "kind": "target", "n": 40, "total": 38.0, "errors": 2, "jv": None},
    ]
    assert llmtrace.query(
        "SELECT count(*) AS n FROM datasets WHERE version = ?", [suite.dataset.version], db=eval_db
    ) == [{"n": 1}]


def test_results_join_spans_with_real_latency_and_cost(eval_db):
    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def model_call(prompt):
        time.sleep(0.02)
        return {"usage": {"prompt_tokens": 1000, "completion_tokens": 100}}

    def target(example):
        return model_call(example.input) and example.expected

    grader = evals.judge(lambda e, o: 0.8, model="gpt-4o", version="j1", name="helpful")
    run = evals.Suite(name="joined", dataset=_dataset(3), target=target, scorers=[grader]).run(
        model="gpt-4o-mini", db=eval_db
    )
    rows = llmtrace.query(
        "SELECT example_id, duration_ms, trace_cost_usd, latency_ms FROM eval_result_spans "
        "WHERE run_id = ? AND scorer = 'target' ORDER BY example_id",
        [run.id],
        db=eval_db,
    )
    assert len(rows) == 3
    for row in rows:
        assert row["duration_ms"] >= 20 and row["latency_ms"] >= 20
        assert row["trace_cost_usd"] == pytest.approx(1000 * 0.15e-6 + 100 * 0.6e-6)
    spans = llmtrace.query(
        "SELECT kind, name, eval_example_id, dataset_version, judge_version, "
        "events::VARCHAR AS events, attributes['llmtrace.eval.epoch']::INT AS epoch "
        "FROM spans WHERE eval_run_id = ? ORDER BY start_time",
        [run.id],
        db=eval_db,
    )
    assert {s["eval_example_id"] for s in spans} == {"ex000", "ex001", "ex002"}
    assert all(s["dataset_version"] == run.dataset_version and s["epoch"] == 0 for s in spans)
    roots = [s for s in spans if s["name"] == "invoke_workflow eval joined"]
    judges = [s for s in spans if s["kind"] == "judge"]
    assert len(roots) == 3 and len(judges) == 3
    assert all(j["judge_version"] == "j1" for j in judges)
    assert all('"gen_ai.evaluation.name":"helpful"' in r["events"] for r in roots)
    assert all('"gen_ai.evaluation.score.value":0.8' in r["events"] for r in roots)


async def test_async_target_concurrency_and_timeout(eval_db):
    in_flight = 0
    peak = 0

    async def target(example):
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.5 if example.id == "ex005" else 0.01)
        in_flight -= 1
        return example.expected

    suite = evals.Suite(
        name="async",
        dataset=_dataset(12),
        target=target,
        scorers=[evals.exact_match()],
        timeout_s=0.2,
    )
    run = await asyncio.to_thread(suite.run, model="m", concurrency=3, db=eval_db)
    assert peak == 3
    assert [r.example_id for r in run.results if r.error] == ["ex005"]
    assert run.results[5].error.startswith("TimeoutError")
    assert run.mean("exact_match") == pytest.approx(11 / 12)


def test_only_declared_keywords_are_passed(eval_db):
    seen = []

    def target(example, prompt, seed):
        seen.append((prompt.version, seed))
        return "x"

    prompt = llmtrace.Prompt("p", template="t", version="v9")
    evals.Suite(name="kw", dataset=_dataset(2), target=target, prompts=[prompt]).run(
        model="m", seed=3, db=eval_db
    )
    assert seen == [("v9", 3), ("v9", 3)]


def test_ctrl_c_leaves_an_incomplete_run_with_finished_results(eval_db):
    def target(example):
        if example.id == "ex004":
            raise KeyboardInterrupt
        return example.expected

    suite = evals.Suite(
        name="interrupted", dataset=_dataset(10), target=target, scorers=[evals.exact_match()]
    )
    with pytest.raises(KeyboardInterrupt):
        suite.run(model="m", concurrency=1, db=eval_db)
    [row] = llmtrace.query(
        "SELECT run_id, status, ended_at FROM eval_runs WHERE suite = 'interrupted'", db=eval_db
    )
    assert row["status"] == "incomplete" and row["ended_at"] is not None
    kept = llmtrace.query(
        "SELECT DISTINCT example_id FROM eval_results WHERE run_id = ? ORDER BY 1",
        [row["run_id"]],
        db=eval_db,
    )
    assert [r["example_id"] for r in kept] == ["ex000", "ex001", "ex002", "ex003"]


def test_suite_validation():
    with pytest.raises(ValueError, match="scorer names must be unique"):
        evals.Suite(
            name="s",
            dataset=_dataset(1),
            target=lambda e: e,
            scorers=[evals.exact_match(), evals.exact_match()],
        )
    with pytest.raises(ValueError, match="reserved"):
        evals.Suite(
            name="s",
            dataset=_dataset(1),
            target=lambda e: e,
            scorers=[evals.exact_match(name="target")],
        )
    suite = evals.Suite(name="s", dataset=_dataset(1), target=lambda e: e)
    with pytest.raises(ValueError, match="epochs must be at least 1"):
        suite.run(model="m", epochs=0)
    with pytest.raises(ValueError, match="no prompt version 'v2'"):
        suite.prompt_for("v2")


def test_real_sigint_leaves_an_incomplete_run(tmp_path):
    """Ctrl-C as a user presses it: SIGINT to a process in the middle of a run."""
    import signal
    import subprocess
    import sys

    from tests.conftest import ROOT

    db = tmp_path / "sigint.duckdb"
    code = f"""
import time, llmtrace
from llmtrace import evals
llmtrace.configure(db={str(db)!r})
ds = evals.Dataset.from_records([{{"input": i}} for i in range(200)], name="slow")
import threading
started, once = [], threading.Lock()
def target(example):
    with once:  # two workers: say it once (the run is recorded before its first example)
        if not started:
            started.append(print("started", flush=True))
    time.sleep(0.1)
    return example.input
evals.Suite(name="slow", dataset=ds, target=target).run(model="m", concurrency=2)
"""
    process = subprocess.Popen(
        [sys.executable, "-c", code],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout.readline().strip() == "started"
    time.sleep(1.0)
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode != 0 and "KeyboardInterrupt" in stderr
    [run] = llmtrace.query("SELECT run_id, status FROM eval_runs", db=db)
    assert run["status"] == "incomplete"
    [kept] = llmtrace.query(
        "SELECT count(*) AS n FROM eval_results WHERE run_id = ?", [run["run_id"]], db=db
    )
    assert 5 <= kept["n"] < 200
