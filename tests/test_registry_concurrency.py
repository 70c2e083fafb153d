"""Two real processes promoting at once: never both win, and the history stays consistent."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from llmtrace.evals import Registry
from tests.conftest import ROOT
from tests.registry_fixtures import gates_file, make_runs

_WORKER = textwrap.dedent(
    """
    import json, os, pathlib, sys, time
    from llmtrace.evals import PromotionRefused, Registry
    db, release_id, config, go = sys.argv[1:]
    while not pathlib.Path(go).exists():
        time.sleep(0.001)
    try:
        Registry(db).promote(release_id, to="production", config=config, by=f"p{os.getpid()}")
        print(json.dumps({"won": True, "release": release_id}))
    except PromotionRefused as exc:
        print(json.dumps({"won": False, "release": release_id, "reasons": exc.reasons}))
    """
)


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("race")
    db = tmp / "race.duckdb"
    return db, make_runs(db), tmp


def _race(db, config, release_ids, go):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMTRACE_"))}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", _WORKER, str(db), rid, str(config), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env=env,
        )
        for rid in release_ids
    ]
    time.sleep(1.5)  # both interpreters started and polling
    go.touch()
    outcomes = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcomes.append(json.loads(out.strip().splitlines()[-1]))
    return outcomes


def test_the_same_release_promoted_twice_at_once_wins_once(store):
    db, runs, tmp = store
    registry = Registry(db)
    release = registry.register(runs["base"], name="race-same")
    outcomes = _race(db, gates_file(tmp), [release.id, release.id], tmp / "go-same")
    assert sorted(o["won"] for o in outcomes) == [False, True], outcomes
    loser = next(o for o in outcomes if not o["won"])
    assert any(
        "already in production" in r or "changed while the gate ran" in r for r in loser["reasons"]
    ), loser
    events = [e for e in registry.history("race-same") if e.action == "promote"]
    assert sorted(e.outcome for e in events) == ["done", "refused"]


def test_two_releases_promoted_at_once_leave_one_production_and_a_true_history(store):
    db, runs, tmp = store
    registry = Registry(db)
    first = registry.register(runs["base"], name="race-two")
    registry.promote(first, to="production", config=gates_file(tmp), by="setup")
    contenders = [registry.register(runs[k], name="race-two").id for k in ("same", "better")]
    outcomes = _race(db, gates_file(tmp), contenders, tmp / "go-two")
    assert any(o["won"] for o in outcomes), outcomes
    in_production = [r.id for r in registry.releases("race-two") if r.stage == "production"]
    assert len(in_production) == 1
    # Replay the log: each promotion that was done compared against what was in production
    # when it committed, never a baseline someone else had already replaced.
    production = None
    for event in registry.history("race-two"):
        if event.action == "promote" and event.outcome == "done":
            assert event.details["baseline_release_id"] == production, event
            production = event.release_id
        if event.action == "promote" and event.outcome == "refused":
            assert any("changed while the gate ran" in r for r in event.details["reasons"])
    assert production == in_production[0]
