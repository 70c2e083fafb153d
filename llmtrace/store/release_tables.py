"""The release registry's tables (migration 6): immutable release records, an append-only event
log whose latest transition is each release's stage, approvals and the gates promotions rested on.

``releases`` is a view: a release never changes after it is registered, and its ``stage`` is
read from ``release_events``, so the stage shown can never disagree with the history.
``release_inputs`` answers "which releases used dataset version X or index version Y?" in one
query::

    SELECT DISTINCT i.name, i.release_id, r.stage
    FROM release_inputs i JOIN releases r USING (release_id)
    WHERE i.kind = 'retrieval_index' AND i.input_version = 'Y'
"""

from __future__ import annotations

__all__ = ["RELEASE_TABLES_SQL"]

RELEASE_TABLES_SQL = """
CREATE TABLE release_records (
    release_id VARCHAR PRIMARY KEY,
    name VARCHAR NOT NULL,
    version INTEGER NOT NULL,
    run_id VARCHAR NOT NULL,
    suite VARCHAR,
    dataset_name VARCHAR,
    dataset_version VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    prompt_name VARCHAR,
    prompt_version VARCHAR,
    registered_by VARCHAR,
    created_at TIMESTAMPTZ NOT NULL,
    UNIQUE (name, version)
);
CREATE TABLE release_events (
    event_id VARCHAR PRIMARY KEY,
    release_id VARCHAR NOT NULL,
    name VARCHAR NOT NULL,
    seq INTEGER NOT NULL,
    action VARCHAR NOT NULL,
    outcome VARCHAR NOT NULL,
    from_stage VARCHAR,
    to_stage VARCHAR,
    actor VARCHAR,
    role VARCHAR,
    reason VARCHAR,
    occurred_at TIMESTAMPTZ NOT NULL,
    gate_run_id VARCHAR,
    details JSON,
    UNIQUE (name, seq)
);
CREATE TABLE approvals (
    release_id VARCHAR NOT NULL,
    approver VARCHAR NOT NULL,
    role VARCHAR,
    note VARCHAR,
    approved_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE release_gates (
    gate_run_id VARCHAR PRIMARY KEY,
    release_id VARCHAR NOT NULL,
    run_id VARCHAR NOT NULL,
    baseline_run_id VARCHAR,
    baseline_release_id VARCHAR,
    decision VARCHAR NOT NULL,
    strict BOOLEAN NOT NULL,
    config JSON,
    result JSON,
    decided_at TIMESTAMPTZ NOT NULL
);
CREATE VIEW releases AS
SELECT r.release_id, r.name, r.run_id, r.dataset_version, r.model, r.prompt_version,
       coalesce(s.stage, 'candidate') AS stage, r.created_at, r.version, r.suite,
       r.dataset_name, r.prompt_name, r.registered_by, s.stage_since
FROM release_records r
LEFT JOIN (
    SELECT release_id, arg_max(to_stage, seq) AS stage, arg_max(occurred_at, seq) AS stage_since
    FROM release_events
    WHERE outcome = 'done' AND to_stage IS NOT NULL
    GROUP BY release_id
) s USING (release_id);
CREATE VIEW release_inputs AS
SELECT release_id, name, 'dataset' AS kind, dataset_name AS input_name,
       dataset_version AS input_version
FROM release_records
UNION ALL
SELECT release_id, name, 'prompt', prompt_name, prompt_version FROM release_records
UNION ALL
SELECT release_id, name, 'model', model, NULL FROM release_records
UNION ALL
SELECT DISTINCT r.release_id, r.name, 'judge', e.judge_model, e.judge_version
FROM release_records r JOIN eval_results e USING (run_id)
WHERE e.judge_model IS NOT NULL OR e.judge_version IS NOT NULL
UNION ALL
SELECT DISTINCT r.release_id, r.name, 'retrieval_index', s.retrieval_index,
       s.retrieval_index_version
FROM release_records r
JOIN (SELECT DISTINCT run_id, trace_id FROM eval_results) t USING (run_id)
JOIN spans s ON s.trace_id = t.trace_id
WHERE s.retrieval_index IS NOT NULL;
"""
