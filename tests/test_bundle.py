"""Bundles: export and import between real stores, the same gate decision after import, and
refusal of corrupted, edited or conflicting bundles, whole."""

from __future__ import annotations

import json
import zipfile

import duckdb
import pytest

from llmtrace import evals
from llmtrace.cli import main
from llmtrace.evals.bundle import BundleError, export_bundle, import_bundle
from tests.registry_fixtures import GATES, make_runs

RULES = {
    "gates": [
        {"metric": "quality.exact_match", "min": 0.6, "max_drop": 0.05},
        {"metric": "errors.rate", "max": 0.0},
        {"metric": "latency.p95_ms", "max": 10000},
    ]
}


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("bundle")
    db = tmp / "ci.duckdb"
    runs = make_runs(db)
    registry = evals.Registry(db)
    production = registry.register(runs["base"], name="bot")
    registry.approve(production, by="alice", role="owner")
    registry.promote(production, to="production", config=GATES, by="alice")
    return db, runs, production.id, tmp


def _count(db, table):
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchall()[0][0]
    finally:
        conn.close()


def test_a_fresh_store_gives_the_same_gate_decision_and_registry(source, tmp_path):
    db, runs, release_id, _ = source
    release_file, candidate_file = tmp_path / "prod.bundle", tmp_path / "cand.bundle"
    exported = export_bundle(release_id[:8], release_file, db=db)
    assert exported.subject_kind == "release" and exported.rows["release_events"] == 3
    assert exported.rows["spans"] > 0 and exported.rows["eval_results"] > 0
    export_bundle(runs["worse"], candidate_file, db=db)

    fresh = tmp_path / "fresh.duckdb"
    first = import_bundle(release_file, db=fresh)
    assert first.imported == first.rows
    import_bundle(candidate_file, db=fresh)
    again = import_bundle(release_file, db=fresh)
    assert set(again.imported.values()) == {0}  # importing twice changes nothing

    here = evals.gate(runs["worse"], runs["base"], RULES, db=db)
    there = evals.gate(runs["worse"], runs["base"], RULES, db=fresh)
    assert there.to_dict()["gates"] == here.to_dict()["gates"]
    assert there.decision == here.decision == "fail"

    registry = evals.Registry(fresh)
    assert registry.current("bot").id == release_id
    assert [e.action for e in registry.history("bot")] == ["register", "approve", "promote"]
    assert _count(fresh, "spans") == exported.rows["spans"] + _spans_of(db, runs["worse"])
    # The CI story: a candidate is gated against the imported production release.
    candidate = registry.register(runs["worse"], name="bot")
    with pytest.raises(evals.PromotionRefused, match="the gate failed"):
        registry.promote(candidate, to="production", config=GATES, by="ci")


def _spans_of(db, run_id):
    conn = duckdb.connect(str(db), read_only=True)
    try:
        return conn.execute(
            "SELECT count(*) FROM spans WHERE trace_id IN "
            "(SELECT trace_id FROM eval_results WHERE run_id = ?)",
            [run_id],
        ).fetchall()[0][0]
    finally:
        conn.close()


def _rewrite(bundle, out, member, change):
    with zipfile.ZipFile(bundle) as src, zipfile.ZipFile(out, "w") as dst:
        for name in src.namelist():
            content = src.read(name)
            dst.writestr(name, change(content) if name == member else content)


def test_tampered_and_corrupted_bundles_are_refused_whole(source, tmp_path):
    db, runs, _, _ = source
    good = tmp_path / "run.bundle"
    export_bundle(runs["same"], good, db=db)
    target = tmp_path / "target.duckdb"
    import_bundle(export_bundle(runs["base"], tmp_path / "b.bundle", db=db).path, db=target)
    before = {t: _count(target, t) for t in ("eval_runs", "eval_results", "spans")}

    def flip(content: bytes) -> bytes:
        middle = len(content) // 2
        return content[:middle] + bytes([content[middle] ^ 0xFF]) + content[middle + 1 :]

    def more_rows(content: bytes) -> bytes:
        manifest = json.loads(content)
        manifest["rows"]["spans"] += 1
        return json.dumps(manifest).encode()

    cases = {
        "data.duckdb": "does not match the manifest's sha256",
        "manifest.json": "the manifest does not match its sha256",
    }
    for member, message in cases.items():
        bad = tmp_path / f"bad-{member}.bundle"
        _rewrite(good, bad, member, flip if member == "data.duckdb" else more_rows)
        with pytest.raises(BundleError, match=message):
            import_bundle(bad, db=target)
    truncated = tmp_path / "truncated.bundle"
    truncated.write_bytes(good.read_bytes()[:-200])
    with pytest.raises(BundleError, match="not a readable bundle"):
        import_bundle(truncated, db=target)
    assert {t: _count(target, t) for t in before} == before


def test_a_conflicting_production_history_is_refused(source, tmp_path):
    db, runs, release_id, _ = source
    other = tmp_path / "other.duckdb"
    import_bundle(export_bundle(runs["same"], tmp_path / "s.bundle", db=db).path, db=other)
    registry = evals.Registry(other)
    registry.promote(
        registry.register(runs["same"], name="bot"), to="production", config=GATES, by="x"
    )
    prod = export_bundle(release_id, tmp_path / "p.bundle", db=db)
    with pytest.raises(BundleError, match=r"in production already|different event number"):
        import_bundle(prod.path, db=other)
    assert registry.current("bot").run_id == runs["same"]


def test_cli_bundle_export_and_import(source, tmp_path, capsys):
    db, runs, _, _ = source
    out = tmp_path / "cli.bundle"
    with pytest.raises(SystemExit) as done:
        main(["bundle", "export", runs["better"][:8], "--out", str(out), "--db", str(db)])
    assert done.value.code == 0
    assert capsys.readouterr().out.startswith(f"exported run {runs['better']} to {out}: ")
    fresh = tmp_path / "cli.duckdb"
    with pytest.raises(SystemExit) as done:
        main(["bundle", "import", str(out), "--db", str(fresh)])
    assert done.value.code == 0 and "eval_runs 1" in capsys.readouterr().out
    out.write_bytes(b"not a zip")
    with pytest.raises(SystemExit) as bad:
        main(["bundle", "import", str(out), "--db", str(fresh)])
    assert bad.value.code == 2
    assert capsys.readouterr().err.startswith(f"llmtrace: error: {out}: not a readable bundle")
