"""R(run): each check compares recorded with current and names what differs."""

from __future__ import annotations

import duckdb
import pytest

from llmtrace import evals
from llmtrace.cli import main
from llmtrace.evals.reproduce import is_pinned_model
from llmtrace.prompts import Prompt
from tests.registry_fixtures import make_reproducible_run


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    return make_reproducible_run(tmp_path_factory.mktemp("repro"))


def _checks(result):
    return {c.name: c for c in result.checks}


def test_a_run_made_cleanly_is_reproducible(made):
    db, run_id, data = made
    result = evals.reproduce(run_id[:8], dataset=data, db=db)
    assert result.reproducible, result.to_text()
    assert [c.name for c in result.checks] == [
        "dataset",
        "prompt",
        "model",
        "judges",
        "git",
        "packages",
    ]
    assert _checks(result)["judges"].recorded == {"helpful": "gpt-4o-2024-08-06@helpful-v2"}


def test_a_one_line_dataset_edit_fails_the_dataset_check_alone(made, tmp_path):
    db, run_id, data = made
    lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
    lines[3] = lines[3].replace('"a3"', '"a3 (edited)"')
    edited = tmp_path / "qa.jsonl"
    edited.write_text("".join(lines), encoding="utf-8")
    result = evals.reproduce(run_id, dataset=edited, db=db)
    assert not result.reproducible
    assert [c.name for c in result.checks if not c.ok] == ["dataset"]
    assert "same ids, so a row's content was edited" in result.failures[0]
    assert result.failures[0].startswith("dataset: content hash ")


def test_cli_reproduce_exits_0_or_1_naming_what_differs(made, tmp_path, capsys):
    db, run_id, data = made
    with pytest.raises(SystemExit) as ok:
        main(["reproduce", run_id[:8], "--dataset", str(data), "--db", str(db)])
    out = capsys.readouterr().out
    assert ok.value.code == 0 and out.rstrip().endswith("reproducible (6/6 checks)")
    edited = tmp_path / "qa.jsonl"
    edited.write_text(data.read_text(encoding="utf-8") + '{"input": "new"}\n', encoding="utf-8")
    with pytest.raises(SystemExit) as refused:
        main(["reproduce", run_id, "--dataset", str(edited), "--db", str(db)])
    out, err = capsys.readouterr()
    assert refused.value.code == 1
    assert "FAIL dataset" in out and "ids added" in out
    assert err.startswith(f"llmtrace: run {run_id} is not reproducible: dataset: ")


def test_unpinned_model_dirty_tree_and_unversioned_judge_each_fail(made, tmp_path):
    db, run_id, _ = made
    copy = tmp_path / "copy.duckdb"
    copy.write_bytes(db.read_bytes())
    conn = duckdb.connect(str(copy))
    conn.execute(
        "UPDATE eval_runs SET model = 'gpt-4o-mini', envelope = json_merge_patch("
        'envelope, \'{"git": {"commit": "abc", "dirty": true}, '
        '"packages": {"duckdb": "0.0.1"}}\')'
    )
    conn.execute("UPDATE eval_results SET judge_version = NULL WHERE scorer = 'helpful'")
    conn.close()
    result = evals.reproduce(run_id, db=copy)  # the dataset from its recorded source
    failed = {c.name: c.note for c in result.checks if not c.ok}
    assert set(failed) == {"model", "judges", "git", "packages"}
    assert failed["model"] == "'gpt-4o-mini' is an alias, not a pinned snapshot"
    assert failed["judges"] == "no version for ['helpful']"
    assert "dirty" in failed["git"]
    assert failed["packages"].startswith("duckdb 0.0.1 -> ")


def test_a_changed_prompt_template_fails_the_prompt_check(made):
    db, run_id, _ = made
    result = evals.reproduce(run_id, db=db, prompt=Prompt("qa", "Answer briefly: {question}"))
    assert [c.name for c in result.checks if not c.ok] == ["prompt"]


@pytest.mark.parametrize(
    ("model", "pinned"),
    [
        ("gpt-4o-2024-08-06", True),
        ("claude-3-5-sonnet-20241022", True),
        ("gpt-4-0613", True),
        ("gpt-4o-mini", False),
        ("claude-3-5-sonnet-latest", False),
    ],
)
def test_pinned_models(model, pinned):
    assert is_pinned_model(model) is pinned


def test_rerun_applies_a_paired_max_drop_0_gate(made):
    db, run_id, data = made
    import llmtrace

    def lookup_free_answer(example, model, prompt):
        return example.expected

    suite = evals.Suite(
        name="qa",
        dataset=evals.Dataset.from_jsonl(data, name="qa"),
        target=lookup_free_answer,
        prompts=[Prompt("qa", "Answer: {question}")],
        scorers=[
            evals.exact_match(),
            evals.judge(
                lambda e, o: 1.0, model="gpt-4o-2024-08-06", version="helpful-v2", name="helpful"
            ),
        ],
    )
    handle = llmtrace.configure(service_name="rerun", db=db)
    try:
        result = evals.reproduce(run_id, dataset=data, rerun=suite, db=db)
    finally:
        handle.shutdown()
    rerun = _checks(result)["rerun"]
    assert rerun.ok and result.reproducible, result.to_text()
    assert result.gate is not None and result.gate.baseline_run_id == run_id
    assert {g.rule for g in result.gate.gates} == {
        "quality.exact_match - baseline >= -0",
        "quality.helpful - baseline >= -0",
    }


def test_cli_rerun_re_runs_the_suite_and_gates_it(tmp_path):
    """`llmtrace reproduce RUN --rerun MODULE:SUITE` on the CI example: the re-run agrees (its
    check passes, and the suite's prompt is compared with the recorded template hash); the run is
    still not reproducible for what else differs (an alias model), exit 1 naming it."""
    import os
    import subprocess
    import sys

    from tests.conftest import ROOT

    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    env.update({"LLMTRACE_DB": str(tmp_path / "rerun.duckdb"), "COLUMNS": "200"})
    cwd = ROOT / "examples" / "ci_gate"

    def llmtrace(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "llmtrace", *args],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )

    made = llmtrace("eval", "suite:suite", "--model", "gpt-4o-mini", "--prompt-version", "v2")
    assert made.returncode == 0, made.stderr
    run_id = made.stdout.split()[-1]
    done = llmtrace("reproduce", run_id[:8], "--rerun", "suite:suite")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = {line.split(":")[0].strip(): line for line in done.stdout.splitlines()}
    assert lines["ok   rerun"].startswith("  ok   rerun: re-run ")
    assert "gate pass" in lines["ok   rerun"] or "gate warn" in lines["ok   rerun"]
    assert lines["ok   dataset"] and lines["ok   prompt"] and lines["FAIL model"]
    assert "'gpt-4o-mini' is an alias" in done.stderr
