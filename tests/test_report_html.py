"""The HTML gate report over real stored runs: self-contained, well formed, every gate with its
decision in words, regressions first, with and without a baseline and captured content."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

import llmtrace
from llmtrace import evals
from llmtrace.evals.calibrate import JudgeCalibration
from llmtrace.evals.gate_report.changes import changed_examples
from llmtrace.evals.gate_report.data import load_run_view
from llmtrace.evals.html import Series, ecdf_plot, interval_plot
from llmtrace.evals.html.plots import MAX_POINTS
from tests.conftest import ROOT
from tests.html_checks import external_references, parse

N = 40
GATES = {
    "confidence": 0.95,
    "gates": [
        {"metric": "quality.exact_match", "min": 0.6, "max_drop": 0.02},
        {"metric": "safety.violation_rate", "max": 0.0},
        {"metric": "errors.rate", "max": 0.0},
        {"metric": "latency.p95_ms", "max": 1500},
        {"metric": "cost.usd_per_success", "max": 0.002, "max_increase_pct": 10},
    ],
}


def _wrong(model: str, index: int) -> bool:
    if model == "base":
        return index % 7 == 3  # the candidate fixes these: improvements
    return index % 5 == 0  # and breaks these: regressions


REGRESSIONS = {f"ex{i:03d}" for i in range(N) if _wrong("cand", i) and not _wrong("base", i)}
IMPROVEMENTS = {f"ex{i:03d}" for i in range(N) if _wrong("base", i) and not _wrong("cand", i)}


def _suite(dataset: evals.Dataset) -> evals.Suite:
    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def model_call(messages: list[dict[str, str]], answer: str) -> dict[str, object]:
        return {
            "choices": [{"message": {"content": answer}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 120, "completion_tokens": 8},
        }

    def target(example: evals.Example, model: str) -> str:
        wrong = _wrong(model, int(example.id[2:]))
        answer = f"wrong-{example.id}" if wrong else str(example.expected)
        response = model_call([{"role": "user", "content": f"question {example.input}"}], answer)
        return str(response["choices"][0]["message"]["content"])  # type: ignore[index]

    scorers = [
        evals.exact_match(),
        evals.judge(lambda e, o: 0.9, model="gpt-4o", version="judge-v3", name="helpful"),
        evals.safety(lambda e, o: "@" in o, name="pii"),
    ]
    return evals.Suite(name="qa", dataset=dataset, target=target, scorers=scorers)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Two pairs of runs in one store: content captured (dataset from a JSONL file), and not
    (dataset from records, no source file)."""
    folder = tmp_path_factory.mktemp("report")
    db = folder / "report.duckdb"
    rows = [{"id": f"ex{i:03d}", "input": f"q{i}", "expected": f"a{i}"} for i in range(N)]
    source = folder / "qa.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows))
    ids = {}
    handle = llmtrace.configure(service_name="report-test", db=db, capture_content=True)
    suite = _suite(evals.Dataset.from_jsonl(source, name="qa"))
    ids["base"] = suite.run(model="base", epochs=2, db=db, progress=False).id
    ids["cand"] = suite.run(model="cand", epochs=2, db=db, progress=False).id
    handle.shutdown()
    handle = llmtrace.configure(service_name="report-test", db=db, capture_content=False)
    suite = _suite(evals.Dataset.from_records(rows, name="qa-plain"))
    ids["plain_base"] = suite.run(model="base", epochs=1, db=db, progress=False).id
    ids["plain_cand"] = suite.run(model="cand", epochs=1, db=db, progress=False).id
    handle.shutdown()
    return db, ids


@pytest.fixture(scope="module")
def gated(runs):
    db, ids = runs
    result = evals.gate(candidate=ids["cand"], baseline=ids["base"], config=GATES, db=db)
    page = evals.report(ids["cand"], result=result, db=db)
    return result, page


# --- tests ------------------------------------------------------------------------------------
def test_self_contained_and_well_formed(gated):
    _result, page = gated
    assert external_references(page) == []
    parser = parse(page)
    assert parser.tags.count("h1") == 1
    assert parser.tags.count("svg") >= 5
    scopes = [v for t, k, v in parser.attributes if t == "th" and k == "scope"]
    assert "col" in scopes and "row" in scopes


def test_every_gate_row_with_its_decision_in_words(gated):
    result, page = gated
    rows = parse(page).rows
    for g in result.gates:
        matching = [r for r in rows if g.rule in r]
        assert matching, g.rule
        assert any(f" {g.decision}" in r for r in matching), (g.rule, g.decision, matching)
    assert f'class="verdict d-{result.decision}"' in page
    assert result.decision.upper() in page.upper()


def test_one_interval_plot_per_bound(gated):
    result, page = gated
    labels = re.findall(r'<svg[^>]*aria-label="(pass|warn|fail): estimate', page)
    assert labels == [g.decision for g in result.gates]


def test_regressions_first_then_improvements(gated, runs):
    _result, page = gated
    badge = r"badge d-\w+\">[✗✓] (regression|improvement)</span><strong><code>(ex\d+)"
    order = re.findall(badge, page)
    kinds = [k for k, _ in order]
    assert kinds == sorted(kinds, key=lambda k: k != "regression")
    assert {i for k, i in order if k == "regression"} == REGRESSIONS
    assert {i for k, i in order if k == "improvement"} == IMPROVEMENTS


def test_captured_content_and_dataset_rows_are_shown(gated):
    _result, page = gated
    example = sorted(REGRESSIONS)[0]
    card = page.split(f"<code>{example}</code>", 1)[1].split("</article>", 1)[0]
    assert "<dt>input</dt><dd>q" in card and "<dt>expected</dt><dd>a" in card
    assert f"wrong-{example}" in card  # the candidate's output, from the captured completion
    assert "baseline output" in card
    assert re.search(r"<code title=\"llmtrace traces [0-9a-f]{32}\">", card)


def test_without_captured_content_says_how_to_capture(runs):
    db, ids = runs
    page = evals.report(ids["plain_cand"], ids["plain_base"], db=db)
    assert external_references(page) == []
    assert "LLMTRACE_CAPTURE_CONTENT=1" in page
    assert "candidate output" not in page and "<dt>input</dt>" not in page
    assert 'class="verdict d-none"' in page  # no gate was decided for this pair


def test_without_baseline_lists_failing_examples(runs):
    db, ids = runs
    page = evals.report(ids["cand"], db=db)
    assert external_references(page) == []
    assert "Examples that failed" in page and "baseline" not in parse(page).rows[0]
    failing = {f"ex{i:03d}" for i in range(N) if _wrong("cand", i)}
    shown = set(re.findall(r"✗ failing</span><strong><code>(ex\d+)", page))
    assert shown == failing


def test_stored_gate_is_shown_when_none_is_passed(gated, runs):
    result, _page = gated
    db, ids = runs
    page = evals.report(ids["cand"], ids["base"], db=db)
    rows = parse(page).rows
    for g in result.gates:
        assert any(g.rule in r and f" {g.decision}" in r for r in rows), g.rule


def test_changed_examples_are_capped_with_a_count(runs, tmp_path):
    db, ids = runs
    out = tmp_path / "deep" / "report.html"
    page = evals.report(ids["cand"], ids["base"], db=db, max_examples=3, out=out)
    assert out.read_text(encoding="utf-8") == page
    total = len(REGRESSIONS) + len(IMPROVEMENTS)
    assert page.count('<article class="example">') == 3
    assert f"{total - 3} more not shown" in page


def test_changed_examples_order_on_views(runs):
    db, ids = runs
    cand, base = load_run_view(db, ids["cand"]), load_run_view(db, ids["base"])
    assert cand is not None and base is not None
    kinds = [c.kind for c in changed_examples(cand, base)]
    assert kinds == ["regression"] * len(REGRESSIONS) + ["improvement"] * len(IMPROVEMENTS)


def test_interval_plot_draws_an_unbounded_end_to_the_edge():
    svg = interval_plot(13.0, 10.5, float("inf"), 1500.0, "max", "warn")
    assert 'aria-label="warn: estimate 13, interval [10.5, ∞], bound max 1500"' in svg
    assert 'x2="250"' in svg  # the bar runs off the right edge
    assert interval_plot(None, None, None, None, None, "pass") == ""


def test_ecdf_of_a_large_run_is_decimated():
    svg = ecdf_plot([Series("c", [float(i) for i in range(10_000)])], "ms", "latency")
    points = svg.split('points="', 1)[1].split('"', 1)[0].split()
    assert len(points) <= 2 * MAX_POINTS + 2


# --- CLI --------------------------------------------------------------------------------------
def cli(db, *args):
    return subprocess.run(
        [sys.executable, "-m", "llmtrace", *args, "--db", str(db)],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "GITHUB_STEP_SUMMARY": ""},
        timeout=120,
    )


def test_cli_report_writes_the_file(runs, tmp_path):
    db, ids = runs
    out = tmp_path / "r.html"
    done = cli(db, "report", ids["cand"][:8], "--baseline", ids["base"][:8], "--out", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out} (")
    assert external_references(out.read_text(encoding="utf-8")) == []


NO_RUN = "llmtrace: error: no run with id starting 'nope'\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["report", "nope"], NO_RUN),
        (["report", "RUN", "--baseline", "nope"], NO_RUN),
        (["report", "RUN", "--trace-link", "https://ui/trace"], None),
    ],
)
def test_cli_report_bad_input_exits_2_with_one_line(runs, tmp_path, args, message):
    db, ids = runs
    args = [ids["cand"] if a == "RUN" else a for a in args]
    done = cli(db, *args, "--out", str(tmp_path / "r.html"))
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("llmtrace: error: ")
    if message:
        assert done.stderr == message
    assert not (tmp_path / "r.html").exists()


def test_cli_gate_html_follows_the_gate_exit_code(runs, tmp_path):
    db, ids = runs
    config = tmp_path / "gates.yaml"
    config.write_text(json.dumps(GATES))  # JSON is YAML
    out = tmp_path / "gate.html"
    done = cli(
        db,
        "gate",
        "--config",
        str(config),
        "--candidate",
        ids["cand"],
        "--baseline",
        ids["base"],
        "--html",
        str(out),
    )
    assert done.returncode in (0, 1), done.stderr
    page = out.read_text(encoding="utf-8")
    decision = re.search(r'class="verdict d-(\w+)"', page)
    assert decision is not None
    assert (decision.group(1) == "fail") == (done.returncode == 1)


def test_ecdf_takes_a_log_axis_for_a_long_tail_and_survives_equal_values():
    tail = ecdf_plot([Series("c", [0.1, 0.2, 0.3, 250.0])], "latency (ms)", "latency")
    assert "latency (ms), log scale" in tail and ">100<" in tail
    flat = ecdf_plot([Series("c", [1.8e-05] * 50), Series("b", [1.8e-05] * 50, "base")], "USD", "c")
    assert "NaN" not in flat and "inf" not in flat and "median 1.8e-05" in flat


def test_judge_calibration_is_shown_beside_its_version(runs):
    db, ids = runs
    calibration = JudgeCalibration(
        "helpful", "gpt-4o", "judge-v3", "labels-7f3a", "cohen_kappa", 0.82, 0.7, 0.9, 200, 0, 0.95
    )
    page = evals.report(ids["cand"], ids["base"], db=db, calibrations=[calibration])
    row = next(r for r in parse(page).rows if r.startswith("helpful"))
    assert "judge-v3" in row and "cohen_kappa 0.82 [0.7, 0.9], n=200 on labels labels-7f3a" in row
    assert "No judge calibration was given" not in page


def test_hostile_content_is_escaped(tmp_path):
    db = tmp_path / "x.duckdb"
    handle = llmtrace.configure(service_name="xss", db=db, capture_content=True)

    @llmtrace.llm(model="gpt-4o-mini", provider="openai")
    def call(text: str) -> dict[str, object]:
        return {"choices": [{"message": {"content": "</dd><script>alert(2)</script>"}}]}

    def target(example: evals.Example) -> str:
        return str(call(str(example.input))["choices"][0]["message"]["content"])  # type: ignore[index]

    rows = [
        {"id": f'x"{i}<b>', "input": "<script>alert(1)</script>", "expected": "ok"}
        for i in range(3)
    ]
    suite = evals.Suite(
        name="<i>xss</i>",
        dataset=evals.Dataset.from_records(rows, name="x"),
        target=target,
        scorers=[evals.exact_match()],
    )
    run = suite.run(model="m", db=db, progress=False)
    handle.shutdown()
    page = evals.report(run, db=db, trace_link='https://ui/t/{trace_id}"><script>')
    parser = parse(page)
    assert "script" not in parser.tags and "i" not in parser.tags and "b" not in parser.tags
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page  # the prompt, shown as text
    assert "&lt;/dd&gt;&lt;script&gt;alert(2)" in page  # the output, shown as text


def test_lineage_is_drawn_and_tabled(gated):
    _result, page = gated
    section = page.split('<section id="lineage"', 1)[1].split("</section>", 1)[0]
    assert 'aria-label="lineage of run ' in section
    rows = parse(page).rows
    assert any(r.startswith("dataset") and "evaluated on" not in r for r in rows)
    assert any("evaluated on" in r for r in rows)


def test_a_result_for_another_run_is_refused(gated, runs):
    result, _page = gated
    db, ids = runs
    with pytest.raises(llmtrace.errors.UserError, match="not the candidate"):
        evals.report(ids["base"], result=result, db=db)


def test_cli_report_help_names_its_argument(tmp_path):
    done = cli(tmp_path / "none.duckdb", "report", "--help")
    assert done.returncode == 0
    assert "Usage: llmtrace report [OPTIONS] RUN" in done.stdout
    assert "<bool>" not in done.stdout
