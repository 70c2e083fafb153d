"""Lineage over content hashes: nodes and edges of a release, text/Mermaid/DOT/JSON, queries."""

from __future__ import annotations

import json

import duckdb
import pytest

from llmtrace import evals
from llmtrace.cli import main
from tests.registry_fixtures import make_reproducible_run

GATES = {"gates": [{"metric": "quality.exact_match", "min": 0.5}]}


@pytest.fixture(scope="module")
def released(tmp_path_factory):
    db, run_id, data = make_reproducible_run(tmp_path_factory.mktemp("lineage"))
    registry = evals.Registry(db)
    v1 = registry.register(run_id, name="bot")
    registry.approve(v1, by="alice", role="owner", note="read the card")
    registry.promote(v1, to="production", config=GATES, by="alice")
    return db, run_id, v1.id, data


def test_release_lineage_has_every_input_by_content_hash(released):
    db, _, release_id, data = released
    graph = evals.lineage(release_id[:8], db=db)
    kinds = {n.kind: n for n in graph.nodes}
    assert set(kinds) == {
        "run",
        "dataset",
        "prompt",
        "model",
        "judge",
        "retrieval_index",
        "code",
        "environment",
        "release",
        "gate",
        "approval",
    }
    dataset = kinds["dataset"]
    assert dataset.attributes["rows"] == 30 and dataset.attributes["source"] == str(data)
    assert dataset.id == f"dataset:{dataset.attributes['content_hash'][:16]}"
    assert (
        kinds["prompt"]
        .attributes["template_hash"]
        .startswith(kinds["prompt"].attributes["version"])
    )
    assert kinds["judge"].id == "judge:gpt-4o-2024-08-06@helpful-v2"
    assert kinds["retrieval_index"].id == "retrieval_index:kb@kb-v7"
    assert kinds["code"].attributes["dirty"] is False
    assert graph.root == f"release:{release_id}"
    relations = {
        (graph.node(e.source).kind, e.relation, graph.node(e.target).kind) for e in graph.edges
    }
    assert {
        ("dataset", "evaluated on", "run"),
        ("prompt", "prompted with", "run"),
        ("model", "answered by", "run"),
        ("judge", "scored by", "run"),
        ("retrieval_index", "retrieved from", "run"),
        ("code", "built from", "run"),
        ("environment", "ran in", "run"),
        ("run", "candidate of", "gate"),
        ("gate", "decided", "release"),
        ("approval", "approved", "release"),
        ("run", "registered as", "release"),
    } <= relations


def test_renderings(released):
    db, _, release_id, _ = released
    graph = evals.lineage(release_id, db=db)
    assert json.loads(graph.to_json())["root"] == graph.root
    mermaid = graph.to_mermaid()
    assert mermaid.startswith("graph LR\n") and "-->|evaluated on|" in mermaid
    dot = graph.to_dot()
    assert dot.startswith("digraph lineage {") and f'"release:{release_id}"' in dot
    text = graph.to_text()
    assert text.splitlines()[0] == "lineage of release bot v1"
    assert "--registered as--> release bot v1" in text


def _copy_run(db, run_id, new_id):
    conn = duckdb.connect(str(db))
    conn.execute(
        "INSERT INTO eval_runs SELECT * REPLACE (? AS run_id) FROM eval_runs WHERE run_id = ?",
        [new_id, run_id],
    )
    conn.execute(
        "INSERT INTO eval_results SELECT * REPLACE (? AS run_id) FROM eval_results "
        "WHERE run_id = ?",
        [new_id, run_id],
    )
    conn.close()


def test_supersede_and_rollback_edges(released):
    db, run_id, _, _ = released
    _copy_run(db, run_id, "copyrun0000000001")
    registry = evals.Registry(db)
    first = registry.register(run_id, name="bot-edges")
    registry.promote(first, to="production", config=GATES, by="a")
    second = registry.register("copyrun0000000001", name="bot-edges")
    registry.promote(second, to="production", config=GATES, by="a")
    edges = {(e.source, e.relation, e.target) for e in evals.lineage(second, db=db).edges}
    assert (f"release:{second.id}", "superseded", f"release:{first.id}") in edges
    registry.rollback("bot-edges", by="b", reason="latency")
    edges = {(e.source, e.relation, e.target) for e in evals.lineage(first, db=db).edges}
    assert (f"release:{second.id}", "rolled back to", f"release:{first.id}") in edges
    assert (f"release:{second.id}", "superseded", f"release:{first.id}") in edges


def test_which_releases_used_an_index_or_dataset_version_is_one_query(released, capsys):
    db, _, release_id, _ = released
    conn = duckdb.connect(str(db), read_only=True)
    try:
        by_index = conn.execute(
            "SELECT DISTINCT i.release_id, r.stage FROM release_inputs i "
            "JOIN releases r USING (release_id) "
            "WHERE i.kind = 'retrieval_index' AND i.input_version = 'kb-v7' AND i.name = 'bot'"
        ).fetchall()
        version = conn.execute(
            "SELECT dataset_version FROM releases WHERE release_id = ?", [release_id]
        ).fetchone()[0]
        by_dataset = conn.execute(
            "SELECT release_id FROM release_inputs WHERE kind = 'dataset' AND "
            "input_version = ? AND name = 'bot'",
            [version],
        ).fetchall()
    finally:
        conn.close()
    assert by_index == [(release_id, "production")]
    assert by_dataset == [(release_id,)]


def test_cli_lineage_formats_and_bad_ids(released, capsys):
    db, run_id, _, _ = released
    with pytest.raises(SystemExit) as done:
        main(["lineage", run_id[:8], "--format", "dot", "--db", str(db)])
    assert done.value.code == 0 and capsys.readouterr().out.startswith("digraph lineage {")
    with pytest.raises(SystemExit) as bad:
        main(["lineage", "zzzz", "--db", str(db)])
    assert bad.value.code == 2
    assert "no run or release with id starting 'zzzz'" in capsys.readouterr().err


def test_the_readme_query_for_releases_using_a_version_runs(released):
    from tests.conftest import ROOT

    db, _, release_id, _ = released
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    after = readme.split("Which releases used dataset version X")[1]
    sql = after.split("```sql\n")[1].split("```")[0]
    conn = duckdb.connect(str(db), read_only=True)
    try:
        version = conn.execute(
            "SELECT dataset_version FROM releases WHERE release_id = ?", [release_id]
        ).fetchone()[0]
        by_dataset = conn.execute(sql.replace("'X'", f"'{version}'")).fetchall()
        by_index = conn.execute(sql.replace("'Y'", "'kb-v7'")).fetchall()
    finally:
        conn.close()
    assert ("bot", release_id, "production") in by_dataset
    assert ("bot", release_id, "production") in by_index
