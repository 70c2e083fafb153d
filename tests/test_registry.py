"""The release registry over real stored runs: lifecycle, promotion gate, policy, rollback."""

from __future__ import annotations

import duckdb
import pytest

from llmtrace import evals
from llmtrace.errors import UserError
from llmtrace.evals import PromotionRefused, Registry, RollbackRefused
from tests.registry_fixtures import GATES, gates_file, make_runs


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("registry")
    db = tmp / "registry.duckdb"
    return db, make_runs(db), tmp


def _name(request) -> str:
    return request.node.name.replace("_", "-")[:60]


def test_register_makes_an_immutable_candidate_with_its_triple(store, request):
    db, runs, _ = store
    registry = Registry(db)
    release = registry.register(runs["base"][:8], name=_name(request), by="ci")
    assert release.stage == "candidate" and release.version == 1
    assert release.run_id == runs["base"]
    assert release.triple == (release.dataset_version, "good", None)
    again = registry.register(runs["base"], name=_name(request))
    assert again.id == release.id  # the same run under the same name is the same release
    second = registry.register(runs["same"], name=_name(request))
    assert second.version == 2 and second.id != release.id
    assert registry.get(release.id[:6]).id == release.id
    events = registry.history(_name(request))
    assert [(e.action, e.outcome, e.from_stage, e.to_stage) for e in events] == [
        ("register", "done", None, "candidate"),
        ("register", "done", None, "candidate"),
    ]


def test_register_refuses_unknown_runs_and_bad_names(store, tmp_path):
    db, runs, _ = store
    registry = Registry(db)
    with pytest.raises(UserError, match="no run with id starting 'zzzz'"):
        registry.register("zzzz", name="x")
    with pytest.raises(UserError, match="release name ' bad'"):
        registry.register(runs["base"], name=" bad")


def test_register_refuses_a_run_that_did_not_complete(store, request):
    db, runs, _ = store
    conn = duckdb.connect(str(db))
    conn.execute(
        "INSERT INTO eval_runs SELECT * REPLACE ('half' AS run_id, 'incomplete' AS status) "
        "FROM eval_runs WHERE run_id = ?",
        [runs["base"]],
    )
    conn.close()
    with pytest.raises(UserError, match="run half is incomplete"):
        Registry(db).register("half", name=_name(request))


def test_first_promotion_uses_absolute_bounds_then_the_next_is_gated_against_it(store, request):
    db, runs, tmp = store
    registry, name = Registry(db), _name(request)
    config = gates_file(tmp)
    first = registry.register(runs["base"], name=name)
    promoted = registry.promote(first, to="production", config=config, by="alice", reason="v1")
    assert promoted.stage == "production" and registry.current(name).id == first.id
    events = registry.history(name)
    assert events[-1].action == "promote" and events[-1].details["baseline_release_id"] is None
    gate_row = _gate_row(db, events[-1].gate_run_id)
    assert gate_row["baseline_run_id"] is None and gate_row["decision"] in ("pass", "warn")

    second = registry.register(runs["same"], name=name)
    registry.promote(second, to="production", config=config, by="bob", reason="v2 prompt")
    assert registry.current(name).id == second.id
    assert registry.get(first.id).stage == "superseded"
    promote_event = [e for e in registry.history(name) if e.action == "promote"][-1]
    assert promote_event.details["baseline_release_id"] == first.id
    assert _gate_row(db, promote_event.gate_run_id)["baseline_run_id"] == runs["base"]
    supersede = registry.history(name)[-1]
    assert (supersede.release_id, supersede.from_stage, supersede.to_stage) == (
        first.id,
        "production",
        "superseded",
    )


def _gate_row(db, gate_run_id):
    conn = duckdb.connect(str(db), read_only=True)
    try:
        result = conn.execute("SELECT * FROM release_gates WHERE gate_run_id = ?", [gate_run_id])
        columns = [d[0] for d in result.description]
        return dict(zip(columns, result.fetchone(), strict=True))
    finally:
        conn.close()


def test_a_regression_is_refused_recorded_and_stays_a_candidate(store, request):
    db, runs, tmp = store
    registry, name = Registry(db), _name(request)
    config = gates_file(tmp)
    registry.promote(
        registry.register(runs["base"], name=name), to="production", config=config, by="alice"
    )
    worse = registry.register(runs["worse"], name=name)
    with pytest.raises(PromotionRefused) as refused:
        registry.promote(worse, to="production", config=config, by="alice")
    assert any("the gate failed: quality.exact_match" in r for r in refused.value.reasons)
    assert registry.get(worse.id).stage == "candidate"
    last = registry.history(name)[-1]
    assert (last.action, last.outcome, last.release_id) == ("promote", "refused", worse.id)
    assert last.details["reasons"] == refused.value.reasons
    assert _gate_row(db, last.gate_run_id)["decision"] == "fail"


def test_refusal_lists_every_reason_not_only_the_first(store, request):
    db, runs, tmp = store
    registry, name = Registry(db), _name(request)
    policy = {"production": {"approvals": 2, "roles": ["owner"], "require_clean_git": True}}
    config = gates_file(tmp, policy)
    registry.promote(
        registry.register(runs["base"], name=name),
        to="production",
        config=gates_file(tmp),
        by="alice",
    )
    worse = registry.register(runs["worse"], name=name)
    registry.approve(worse, by="carol", role="reviewer")
    registry.approve(worse, by="dave", role="owner", note="read the card")
    _make_dirty(db, runs["worse"])
    with pytest.raises(PromotionRefused) as refused:
        registry.promote(worse, to="production", config=config, by="alice")
    reasons = refused.value.reasons
    assert len(reasons) == 3, reasons
    assert reasons[0] == "production needs 2 approval(s) with role owner; has 1 (dave)"
    assert "dirty git tree" in reasons[1]
    assert reasons[2].startswith("the gate failed")


def _make_dirty(db, run_id):
    conn = duckdb.connect(str(db))
    conn.execute(
        "UPDATE eval_runs SET envelope = json_merge_patch(envelope, "
        '\'{"git": {"commit": "abc123", "dirty": true}}\') WHERE run_id = ?',
        [run_id],
    )
    conn.close()


def test_approvals_by_the_right_role_let_a_release_through(store, request):
    db, runs, tmp = store
    registry, name = Registry(db), _name(request)
    config = gates_file(tmp, {"production": {"approvals": 1, "roles": ["owner"]}})
    release = registry.register(runs["same"], name=name)
    with pytest.raises(PromotionRefused, match="needs 1 approval"):
        registry.promote(release, to="production", config=config, by="alice")
    registry.approve(release, by="alice@example.com", role="owner", note="reviewed the card")
    assert registry.promote(release, to="production", config=config, by="a").stage == "production"
    approvals = [e for e in registry.history(name) if e.action == "approve"]
    assert approvals[0].actor == "alice@example.com" and approvals[0].role == "owner"


def test_warn_passes_unless_the_policy_or_strict_says_otherwise(store, request):
    db, runs, tmp = store
    registry, name = Registry(db), _name(request)
    # 40 examples cannot show a rate of exactly 0 below 0.001: this bound always warns.
    warns = {"gates": [{"metric": "errors.rate", "max": 0.001}]}
    release = registry.register(runs["base"], name=name)
    with pytest.raises(PromotionRefused, match="does not allow warn"):
        registry.promote(
            release,
            to="production",
            by="a",
            config=gates_file(tmp, {"production": {"allow_warn": False}}, **warns),
        )
    with pytest.raises(PromotionRefused, match="the gate failed"):
        registry.promote(
            release, to="production", by="a", strict=True, config=gates_file(tmp, **warns)
        )
    assert (
        registry.promote(release, to="production", by="a", config=gates_file(tmp, **warns)).stage
        == "production"
    )


def test_runs_on_other_data_or_judges_are_refused_unless_the_mismatch_is_allowed(store, request):
    db, runs, tmp = store
    registry, name = Registry(db), _name(request)
    config = gates_file(tmp)
    registry.promote(
        registry.register(runs["base"], name=name), to="production", config=config, by="a"
    )
    other = registry.register(runs["other_data"], name=name)
    with pytest.raises(PromotionRefused, match="dataset versions differ"):
        registry.promote(other, to="production", config=config, by="a")
    judged = registry.register(runs["other_judge"], name=name)
    with pytest.raises(PromotionRefused, match="judge 'ok' versions differ"):
        registry.promote(judged, to="production", config=config, by="a")
    registry.promote(judged, to="production", config=config, by="a", allow_mismatch=True)
    event = [e for e in registry.history(name) if e.outcome == "done"][-2]
    assert event.action == "promote"
    assert any("judged by different versions" in o for o in event.details["gate_overrides"])


def test_force_needs_a_reason_and_records_what_it_overrode(store, request):
    db, runs, tmp = store
    registry, name = Registry(db), _name(request)
    config = gates_file(tmp)
    registry.promote(
        registry.register(runs["base"], name=name), to="production", config=config, by="a"
    )
    worse = registry.register(runs["worse"], name=name)
    with pytest.raises(UserError, match="force=True needs reason="):
        registry.promote(worse, to="production", config=config, by="a", force=True)
    forced = registry.promote(
        worse,
        to="production",
        config=config,
        by="a",
        force=True,
        reason="hotfix: the old one leaks PII",
    )
    assert forced.stage == "production"
    event = [e for e in registry.history(name) if e.action == "promote"][-1]
    assert event.details["forced"] is True and event.reason.startswith("hotfix")
    assert event.details["overridden"][0].startswith("the gate failed")


def test_transitions_are_validated(store, request):
    db, runs, tmp = store
    registry, name = Registry(db), _name(request)
    config = gates_file(tmp)
    release = registry.register(runs["base"], name=name)
    assert registry.promote(release, to="staging", by="a").stage == "staging"
    with pytest.raises(PromotionRefused, match="already in staging"):
        registry.promote(release, to="staging", by="a")
    with pytest.raises(UserError, match="to='canary'"):
        registry.promote(release, to="canary", by="a", config=config)
    with pytest.raises(UserError, match="has no gates"):
        registry.promote(release, to="production", by="a")
    registry.promote(release, to="production", config=config, by="a")
    with pytest.raises(PromotionRefused, match="already in production"):
        registry.promote(release, to="production", config=config, by="a")
    archived = registry.archive(release, by="a", reason="retired")
    assert archived.stage == "archived" and registry.current(name) is None
    with pytest.raises(PromotionRefused, match="is archived: it cannot go to production"):
        registry.promote(release, to="production", config=config, by="a")
    with pytest.raises(UserError, match="only a candidate or a staging release"):
        registry.approve(release, by="b")
    stages = [(e.from_stage, e.to_stage) for e in registry.history(name) if e.outcome == "done"]
    assert stages == [
        (None, "candidate"),
        ("candidate", "staging"),
        ("staging", "production"),
        ("production", "archived"),
    ]


def test_rollback_restores_the_previous_production_release(store, request):
    db, runs, tmp = store
    registry, name = Registry(db), _name(request)
    config = gates_file(tmp)
    v1, v2 = (registry.register(runs[k], name=name) for k in ("base", "same"))
    registry.promote(v1, to="production", config=config, by="a")
    assert registry.rollback_candidate(name) is None
    registry.promote(v2, to="production", config=config, by="a")
    assert registry.rollback_candidate(name).id == v1.id
    restored = registry.rollback(name, by="bob", reason="p95 regression in production")
    assert restored.id == v1.id and restored.stage == "production"
    assert registry.get(v2.id).stage == "rolled_back"
    rolled, restore = registry.history(name)[-2:]
    assert (rolled.action, rolled.release_id, rolled.reason) == (
        "rollback",
        v2.id,
        "p95 regression in production",
    )
    assert (restore.action, restore.release_id, restore.to_stage) == (
        "restore",
        v1.id,
        "production",
    )
    first_gate = next(e for e in registry.history(name) if e.action == "promote").gate_run_id
    assert restore.gate_run_id == first_gate is not None
    # v2 was rolled back, so it is never a candidate; v1 has nothing before it.
    assert registry.rollback_candidate(name) is None
    with pytest.raises(RollbackRefused) as refused:
        registry.rollback(name, by="bob", reason="again")
    assert "was rolled back" in refused.value.reasons[0]
    assert registry.history(name)[-1].outcome == "refused"


def test_rollback_without_production_or_reason_is_refused(store, request):
    db, runs, _ = store
    registry, name = Registry(db), _name(request)
    registry.register(runs["base"], name=name)
    with pytest.raises(RollbackRefused) as refused:
        registry.rollback(name, by="bob", reason="why not")
    assert refused.value.reasons == [
        f"nothing of {name} is in production",
        f"no rollback candidate for {name}: no earlier release was in production",
    ]
    with pytest.raises(UserError, match="needs reason="):
        registry.rollback(name, by="bob", reason="")
    with pytest.raises(UserError, match="no releases named 'nobody'"):
        registry.rollback("nobody", by="bob", reason="x")


def test_rollback_skips_forced_and_runless_releases_and_honours_to(store, request):
    db, runs, tmp = store
    registry, name = Registry(db), _name(request)
    config = gates_file(tmp)
    v1, v2, v3, v4 = (
        registry.register(runs[k], name=name) for k in ("base", "worse", "fourth", "same")
    )
    registry.promote(v1, to="production", config=config, by="a")
    registry.promote(v2, to="production", config=config, by="a", force=True, reason="hotfix")
    registry.promote(v3, to="production", config=config, by="a", allow_mismatch=True)
    registry.promote(v4, to="production", config=config, by="a")
    # v3 passed but its run is gone; v2 was forced past a failed gate; v1 qualifies.
    conn = duckdb.connect(str(db))
    conn.execute("DELETE FROM eval_runs WHERE run_id = ?", [runs["fourth"]])
    conn.close()
    found = registry.rollback_candidate(name)
    assert found is not None and found.id == v1.id
    with pytest.raises(RollbackRefused, match="never passed its gate"):
        registry.rollback(name, by="b", reason="x", to=v2.id[:10])
    with pytest.raises(RollbackRefused, match="is no longer in the store"):
        registry.rollback(name, by="b", reason="x", to=v3)
    assert registry.rollback(name, by="b", reason="x", to=v1).id == v1.id


def test_releases_view_and_inputs_answer_lineage_questions_in_sql(store, request):
    db, runs, _ = store
    name = _name(request)
    release = Registry(db).register(runs["base"], name=name)
    conn = duckdb.connect(str(db), read_only=True)
    try:
        rows = conn.execute(
            "SELECT DISTINCT i.release_id FROM release_inputs i "
            "WHERE i.kind = 'retrieval_index' AND i.input_version = 'kb-2024-06' "
            "AND i.name = ?",
            [name],
        ).fetchall()
        judges = conn.execute(
            "SELECT input_name, input_version FROM release_inputs "
            "WHERE release_id = ? AND kind = 'judge'",
            [release.id],
        ).fetchall()
    finally:
        conn.close()
    assert rows == [(release.id,)]
    assert judges == [("gpt-4o-2024-08-06", "v1")]


def test_gates_file_release_section_is_validated(store, request):
    db, runs, tmp = store
    registry = Registry(db)
    release = registry.register(runs["base"], name=_name(request))
    bad = gates_file(tmp, {"production": {"approvals": -1}})
    with pytest.raises(evals.GateConfigError, match=r"release\.production\.approvals"):
        registry.promote(release, to="production", config=bad, by="a")
    assert GATES["gates"]  # the shared gates are untouched
