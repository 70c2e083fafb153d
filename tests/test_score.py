"""``llmtrace score``: scores stored LLM calls after the fact, on a store written by real traced
processes; idempotent, resumable after Ctrl-C, and clear when content capture was off."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

import duckdb
import pytest

from llmtrace import evals
from llmtrace.evals.production import Window
from llmtrace.evals.production.scoring import score_traces, scorer_version
from tests.conftest import cli_in_process as cli
from tests.production_traffic import TrafficWindows, run_traffic, shared_traffic

SCORERS = """
from llmtrace import evals

calls = {"n": 0}

def short(example, output):
    return len(output) < 18

@evals.scorer(name="stops", kind="quality")
def stops(example, output):
    calls["n"] += 1
    if calls["n"] == 120:
        raise KeyboardInterrupt
    return 1.0
"""


@pytest.fixture
def store(tmp_path_factory: pytest.TempPathFactory, tmp_path: Path) -> tuple[Path, TrafficWindows]:
    traffic = shared_traffic(tmp_path_factory)
    copy = tmp_path / "scored.duckdb"
    shutil.copy(traffic.db, copy)
    return copy, traffic


def evaluation_events(db: Path, name: str) -> list[tuple[str, str, str, float]]:
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(
            "SELECT s.span_id, e.attributes->>'llmtrace.judge.version', "
            "e.attributes->>'llmtrace.evaluation.kind', "
            "(e.attributes->>'gen_ai.evaluation.score.value')::DOUBLE "
            "FROM (SELECT span_id, unnest(from_json(events, "
            """'[{"name": "VARCHAR", "attributes": "JSON"}]')) AS e FROM spans """
            "WHERE events IS NOT NULL) s "
            "WHERE s.e.attributes->>'gen_ai.evaluation.name' = ?",
            [name],
        ).fetchall()
    finally:
        conn.close()


def test_score_is_idempotent_and_gates_read_it(
    store: tuple[Path, TrafficWindows],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db, traffic = store
    (tmp_path / "prod_scorers.py").write_text(SCORERS)
    monkeypatch.chdir(tmp_path)
    since = "..".join(traffic.regression)
    args = ["score", "--db", str(db), "--since", since, "--scorer", "prod_scorers:short"]
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    assert out.startswith("scored 300 LLM call(s)")
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    assert out.startswith("scored 0 LLM call(s)") and "300 already scored" in out
    events = evaluation_events(db, "short")
    assert len(events) == 300 and len({e[0] for e in events}) == 300
    assert {e[2] for e in events} == {"quality"} and all(e[1].startswith("code-") for e in events)

    result = evals.gate_traces(
        {"gates": [{"metric": "quality.short", "min": 0.5}]},
        window=Window(*(datetime.fromisoformat(t) for t in traffic.regression)),
        db=db,
        store=False,
    )
    assert result.gates[0].n == 150 and result.gates[0].estimate is not None


def test_score_resumes_after_ctrl_c_without_scoring_twice(
    store: tuple[Path, TrafficWindows], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db, traffic = store
    (tmp_path / "resume_scorers.py").write_text(SCORERS)
    monkeypatch.syspath_prepend(str(tmp_path))
    import resume_scorers  # type: ignore[import-not-found]

    window = Window(*(datetime.fromisoformat(t) for t in traffic.baseline))
    first = score_traces(resume_scorers.stops, window=window, db=db, batch_size=50)
    assert first.interrupted and first.scored == 100  # two whole batches; the third rolled back
    second = score_traces(resume_scorers.stops, window=window, db=db, batch_size=50)
    assert not second.interrupted
    assert (second.already_scored, second.scored) == (100, 200)
    events = evaluation_events(db, "stops")
    assert len(events) == 300 and len({e[0] for e in events}) == 300
    assert {e[1] for e in events} == {scorer_version(resume_scorers.stops)}


def test_score_says_when_content_capture_was_off(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "nocapture.duckdb"
    start, end = run_traffic(db, "nocapture", 4, 5)
    code, _out, err = cli(
        capsys, "score", "--db", str(db), "--since", f"{start}..{end}",
        "--scorer", "tests.test_score:unused_scorer",
    )  # fmt: skip
    assert code == 2
    assert len(err.strip().splitlines()) == 1
    assert "content capture was off: none of the 5 LLM calls" in err


def unused_scorer(example: evals.Example, output: str) -> float:
    """A scorer that is never called (the store has no content)."""
    raise AssertionError("scored without content")
