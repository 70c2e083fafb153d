"""The store's schema as named, append-only migrations recorded in ``schema_migrations``.

A migration is never edited once released: a schema change is a new entry at the end. Opening
a store for writing applies whatever is missing, in order, inside one transaction each.
"""

from __future__ import annotations

from typing import Any

from ..semconv import GEN_AI_RESPONSE_FINISH_REASONS, PROMOTED_COLUMNS
from .call_repeats import SORTED_REPEAT_CALL_VIEWS_SQL
from .calls import (
    CALL_PARENT_VIEWS_SQL,
    CALL_VIEWS_SQL,
    FASTER_CALL_VIEWS_SQL,
    HASHED_REPEAT_CALL_VIEWS_SQL,
    KEYED_CALL_VIEWS_SQL,
    NEW_SPAN_COLUMNS_SQL,
    ROW_CALL_VIEWS_SQL,
)
from .judge_tables import JUDGE_TABLES_SQL
from .keys import TRACE_KEYS_MIGRATION_SQL
from .production_tables import PRODUCTION_TABLES_SQL
from .release_tables import RELEASE_TABLES_SQL

__all__ = [
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "applied_version",
    "apply_migrations",
    "attribute_text_sql",
    "promoted_column_problems",
]

_SPANS = """
CREATE TABLE spans (
    trace_id VARCHAR NOT NULL,
    span_id VARCHAR NOT NULL,
    parent_span_id VARCHAR,
    name VARCHAR NOT NULL,
    kind VARCHAR,
    status VARCHAR NOT NULL,
    status_message VARCHAR,
    start_time TIMESTAMPTZ NOT NULL,
    end_time TIMESTAMPTZ NOT NULL,
    duration_ms DOUBLE NOT NULL,
    service_name VARCHAR,
    operation VARCHAR,
    provider VARCHAR,
    model VARCHAR,
    prompt_name VARCHAR,
    prompt_version VARCHAR,
    prompt_hash VARCHAR,
    retrieval_index VARCHAR,
    retrieval_index_version VARCHAR,
    tool_name VARCHAR,
    tool_call_id VARCHAR,
    input_tokens BIGINT,
    output_tokens BIGINT,
    cost_usd DOUBLE,
    guardrail_policy VARCHAR,
    guardrail_action VARCHAR,
    guardrail_score DOUBLE,
    judge_model VARCHAR,
    judge_version VARCHAR,
    dataset_version VARCHAR,
    eval_run_id VARCHAR,
    eval_example_id VARCHAR,
    attributes VARIANT,
    events JSON,
    links JSON,
    resource JSON
);
CREATE TABLE spool_merged (file VARCHAR PRIMARY KEY, merged_at TIMESTAMPTZ DEFAULT now());
CREATE VIEW llm_calls AS SELECT * FROM spans WHERE kind = 'llm';
CREATE VIEW tool_calls AS SELECT * FROM spans WHERE kind = 'tool';
CREATE VIEW traces AS
SELECT
    trace_id,
    arg_min(name, CASE WHEN parent_span_id IS NULL THEN 0 ELSE 1 END) AS root_name,
    arg_min(service_name, start_time) AS service_name,
    min(start_time) AS start_time,
    epoch_ms(max(end_time)) - epoch_ms(min(start_time)) AS duration_ms,
    count(*) AS span_count,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost_usd) AS cost_usd,
    bool_or(status = 'ERROR') AS has_error
FROM spans GROUP BY trace_id;
"""

_EVALS = """
CREATE TABLE datasets (
    name VARCHAR NOT NULL,
    version VARCHAR NOT NULL,
    row_count INTEGER NOT NULL,
    content_hash VARCHAR NOT NULL,
    source_path VARCHAR,
    recorded_at TIMESTAMPTZ DEFAULT now(),
    PRIMARY KEY (name, version)
);
CREATE TABLE eval_runs (
    run_id VARCHAR PRIMARY KEY,
    suite VARCHAR NOT NULL,
    dataset_name VARCHAR NOT NULL,
    dataset_version VARCHAR NOT NULL,
    model VARCHAR NOT NULL,
    prompt_name VARCHAR,
    prompt_version VARCHAR,
    epochs INTEGER NOT NULL,
    seed BIGINT,
    status VARCHAR NOT NULL,
    started_at TIMESTAMPTZ NOT NULL,
    ended_at TIMESTAMPTZ,
    envelope JSON,
    params JSON,
    concurrency INTEGER,
    example_count INTEGER
);
CREATE TABLE eval_results (
    run_id VARCHAR NOT NULL,
    example_id VARCHAR NOT NULL,
    epoch INTEGER NOT NULL,
    scorer VARCHAR NOT NULL,
    kind VARCHAR NOT NULL,
    score DOUBLE,
    passed BOOLEAN,
    error VARCHAR,
    judge_model VARCHAR,
    judge_version VARCHAR,
    trace_id VARCHAR,
    latency_ms DOUBLE
);
CREATE TABLE gate_results (
    run_id VARCHAR NOT NULL,
    baseline_run_id VARCHAR,
    metric VARCHAR NOT NULL,
    rule VARCHAR NOT NULL,
    estimate DOUBLE,
    ci_low DOUBLE,
    ci_high DOUBLE,
    n INTEGER,
    decision VARCHAR NOT NULL,
    reason VARCHAR,
    overrides JSON,
    decided_at TIMESTAMPTZ DEFAULT now()
);
CREATE VIEW eval_result_spans AS
SELECT r.*, s.span_id, s.duration_ms, s.status AS span_status,
       t.input_tokens AS trace_input_tokens, t.output_tokens AS trace_output_tokens,
       t.cost_usd AS trace_cost_usd
FROM eval_results r
LEFT JOIN spans s ON s.trace_id = r.trace_id AND s.parent_span_id IS NULL
LEFT JOIN traces t ON t.trace_id = r.trace_id;
"""

# Version 1 took trace durations in whole milliseconds, so traces of similar length tied.
_TRACE_DURATION_US = """
CREATE OR REPLACE VIEW traces AS
SELECT
    trace_id,
    arg_min(name, CASE WHEN parent_span_id IS NULL THEN 0 ELSE 1 END) AS root_name,
    arg_min(service_name, start_time) AS service_name,
    min(start_time) AS start_time,
    (epoch_us(max(end_time)) - epoch_us(min(start_time))) / 1000.0 AS duration_ms,
    count(*) AS span_count,
    sum(input_tokens) AS input_tokens,
    sum(output_tokens) AS output_tokens,
    sum(cost_usd) AS cost_usd,
    bool_or(status = 'ERROR') AS has_error
FROM spans GROUP BY trace_id;
"""

# DuckDB 2.0.1 left row groups under 30,000 rows unshredded, and a filter on attributes[...]
# then answered for those groups from the statistics of the shredded ones (wrong rows). Every
# connection now shreds every row group (connection._prepare); this rewrites the column once so
# that stores written before that answer correctly too.
_RESHRED_ATTRIBUTES = """
ALTER TABLE spans ALTER attributes TYPE VARIANT USING attributes;
"""


def attribute_text_sql(attribute: str, attributes: str = "attributes") -> str:
    """SQL of an attribute (of the VARIANT ``attributes``) as a promoted text column holds it:
    a string as it is, anything else (a list, a number) as the batch writes it, compact JSON."""
    value = f"{attributes}['{attribute}']"
    return (
        f"CASE WHEN {value} IS NULL THEN NULL WHEN variant_typeof({value}) = 'VARCHAR' "
        f"THEN {value}::VARCHAR ELSE {value}::JSON::VARCHAR END"
    )


# Drift reads every call's finish reasons: from the attributes, a list cast to text cost more
# than the rest of the call's row (3 s over 4M calls); the column is read as fast as the model.
_FINISH_REASONS = f"""
ALTER TABLE spans ADD COLUMN finish_reasons VARCHAR;
UPDATE spans SET finish_reasons = {attribute_text_sql(GEN_AI_RESPONSE_FINISH_REASONS)}
WHERE attributes['{GEN_AI_RESPONSE_FINISH_REASONS}'] IS NOT NULL;
"""

# (version, name, SQL). Append only.
MIGRATIONS: list[tuple[int, str, str]] = [
    (1, "spans table, spool ledger and the llm_calls/tool_calls/traces views", _SPANS),
    (2, "datasets, eval_runs, eval_results and gate_results", _EVALS),
    (3, "traces.duration_ms to the microsecond", _TRACE_DURATION_US),
    (4, "attributes rewritten with every row group shredded", _RESHRED_ATTRIBUTES),
    (
        5,
        "spans from anywhere: response id, cache tokens, price table version, document ids; "
        "one model call one row in llm_calls and traces (model_calls)",
        NEW_SPAN_COLUMNS_SQL + CALL_VIEWS_SQL,
    ),
    (
        6,
        "release registry: release_records, release_events, approvals, release_gates; "
        "the releases and release_inputs views",
        RELEASE_TABLES_SQL,
    ),
    (7, "model_calls about 3x faster on a large store, the same rows", FASTER_CALL_VIEWS_SQL),
    (
        8,
        "production gates and drift: the window a gate covered; drift_results with its bins",
        PRODUCTION_TABLES_SQL,
    ),
    (9, "judge_calibrations: a judge version's agreement with human labels", JUDGE_TABLES_SQL),
    (
        10,
        "model_calls reads only the calls a rule touches (nested traces, repeated response "
        "ids): as fast as spans when nothing is nested, the same rows",
        ROW_CALL_VIEWS_SQL,
    ),
    (
        11,
        "model_calls climbs only traces where a call's parent is a call or a plain span "
        "(not every call under a workflow): the same rows",
        CALL_PARENT_VIEWS_SQL,
    ),
    (12, "finish_reasons promoted to a column, filled from the attributes", _FINISH_REASONS),
    (
        13,
        "integer keys of the hex trace and span ids (trace_hi, trace_lo, span_key, "
        "parent_key), filled; model_calls finds a call's parent by them: the same rows",
        TRACE_KEYS_MIGRATION_SQL + KEYED_CALL_VIEWS_SQL,
    ),
    (
        14,
        "model_calls finds repeated response ids by their hashes first, then their text: "
        "the same rows",
        HASHED_REPEAT_CALL_VIEWS_SQL,
    ),
    (
        15,
        "model_calls finds the hashes of repeated response ids by sorting them, not grouping "
        "them: the same rows",
        SORTED_REPEAT_CALL_VIEWS_SQL,
    ),
]
SCHEMA_VERSION = MIGRATIONS[-1][0]


def applied_version(conn: Any) -> int:
    """The newest migration applied to the open store (0 for a blank file)."""
    exists = conn.execute(
        "SELECT count(*) FROM information_schema.tables WHERE table_name = 'schema_migrations'"
    ).fetchall()[0][0]
    if not exists:
        return 0
    row = conn.execute("SELECT max(version) FROM schema_migrations").fetchall()[0]
    return int(row[0] or 0)


def _applied_versions(conn: Any) -> set[int]:
    if not applied_version(conn):
        return set()
    return {int(row[0]) for row in conn.execute("SELECT version FROM schema_migrations").fetchall()}


def promoted_column_problems(conn: Any) -> list[str]:
    """What ``spans`` lacks of ``semconv.PROMOTED_COLUMNS`` (a column, or its SQL type): a
    promoted column is added by a migration, never by the table alone."""
    have = {str(row[0]): str(row[1]) for row in conn.execute("DESCRIBE spans").fetchall()}
    problems = []
    for column, (_, sql_type) in PROMOTED_COLUMNS.items():
        if column not in have:
            problems.append(
                f"spans has no column {column} (semconv.PROMOTED_COLUMNS): add a migration"
            )
        elif have[column] != sql_type:
            problems.append(f"spans.{column} is {have[column]}, PROMOTED_COLUMNS says {sql_type}")
    return problems


_LEDGER_SQL = (
    "CREATE TABLE IF NOT EXISTS schema_migrations "
    "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMPTZ DEFAULT now())"
)


def apply_migrations(conn: Any, migrations: list[tuple[int, str, str]] | None = None) -> int:
    """Bring the store up to date; returns the version it is at afterwards.

    Every migration not yet recorded is applied, in order, even one numbered below the newest
    applied (a store made by a build that had 5 but not yet 4 still gets 4)."""
    migrations = MIGRATIONS if migrations is None else migrations
    current = applied_version(conn)
    if current > migrations[-1][0]:
        raise RuntimeError(
            f"this store is at schema version {current}, newer than this llmtrace "
            f"understands ({migrations[-1][0]}): upgrade llmtrace"
        )
    applied = _applied_versions(conn)
    missing = [m for m in migrations if m[0] not in applied]
    if not missing:
        return current
    for version, name, sql in missing:
        conn.execute("BEGIN TRANSACTION")
        try:
            # In the migration's own transaction: a process killed before the first commit
            # leaves a blank file, never a lone empty schema_migrations table that the next
            # opener would take for another application's database.
            conn.execute(_LEDGER_SQL)
            conn.execute(sql)
            conn.execute(
                "INSERT INTO schema_migrations (version, name) VALUES (?, ?)", [version, name]
            )
            conn.execute("COMMIT")
        except Exception:
            conn.execute("ROLLBACK")
            raise
    if migrations is MIGRATIONS and (problems := promoted_column_problems(conn)):
        raise RuntimeError("; ".join(problems))
    return max(current, missing[-1][0])
