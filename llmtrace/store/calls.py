"""One model call, one row: the SQL of the views that count each call once (migration 5).

One call often leaves more than one inference span: llmtrace's ``llm`` span around the
anthropic client's own ``anthropic.messages.create``, or two instrumentors on one client (one
span inside the other), or an instrumentor whose span is a sibling of the client's own. The
rule, also in the README:

1. An inference span (kind ``llm`` or ``judge``) with another inference span inside it (a
   descendant, through any plain OpenTelemetry spans in between) is a wrapper, not a call. The
   innermost span is the call.
2. The call's row is the innermost span's, and what it left empty (prompt, dataset, a token
   count, the model) is taken from the wrappers around it, nearest first, when a wrapper wraps
   that call alone. Where they disagree, the innermost span wins. Cost goes with the span whose
   input tokens were used.
3. Spans with the same provider and response id are one call too (an instrumentor whose span
   is not the parent of the client's, so they are siblings): the one closest to the wire is
   kept, the span that started last (an instrumentor wraps the ones installed before it, and
   starts first), then the shortest. ``traces`` applies this within a trace, ``llm_calls``
   across the store.

The rule is a view, not a mark made at write time, so it holds however the spans of one call
are split across batches, processes and spool files.
"""

from __future__ import annotations

from typing import Final

__all__ = [
    "CALL_PARENT_VIEWS_SQL",
    "CALL_VIEWS_SQL",
    "FASTER_CALL_VIEWS_SQL",
    "HASHED_REPEAT_CALL_VIEWS_SQL",
    "KEYED_CALL_VIEWS_SQL",
    "NEW_SPAN_COLUMNS_SQL",
    "ROW_CALL_VIEWS_SQL",
]

NEW_SPAN_COLUMNS_SQL: Final = """
ALTER TABLE spans ADD COLUMN response_id VARCHAR;
ALTER TABLE spans ADD COLUMN cache_read_input_tokens BIGINT;
ALTER TABLE spans ADD COLUMN cache_creation_input_tokens BIGINT;
ALTER TABLE spans ADD COLUMN price_table_version VARCHAR;
ALTER TABLE spans ADD COLUMN retrieval_document_ids VARCHAR[];
"""

_INFERENCE_KINDS = "('llm', 'judge')"
# Plain OpenTelemetry span kinds: spans that sit between a wrapper and its call (an HTTP or a
# user's own span) without being a step of their own.
_PLAIN_KINDS = "('internal', 'client', 'server', 'producer', 'consumer')"
# Taken from the wrappers when the innermost span left them empty.
_INHERITED = (
    "operation",
    "provider",
    "model",
    "prompt_name",
    "prompt_version",
    "prompt_hash",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
    "response_id",
    "judge_model",
    "judge_version",
    "dataset_version",
    "eval_run_id",
    "eval_example_id",
)
# Taken together from the first span (innermost first) that has input tokens.
_PRICED_WITH_INPUT = ("input_tokens", "cost_usd", "price_table_version")


def _inherited() -> str:
    lines = [f"coalesce(c.{col}, w1.{col}, w2.{col}) AS {col}" for col in _INHERITED]
    for col in _PRICED_WITH_INPUT:
        lines.append(
            f"CASE WHEN c.input_tokens IS NOT NULL THEN c.{col} "
            f"WHEN w1.input_tokens IS NOT NULL THEN w1.{col} ELSE w2.{col} END AS {col}"
        )
    return ",\n        ".join(lines)


CALL_VIEWS_SQL: Final = f"""
CREATE VIEW model_calls AS
WITH RECURSIVE
inference AS (
    SELECT trace_id, span_id, parent_span_id FROM spans WHERE kind IN {_INFERENCE_KINDS}
),
climb(trace_id, span_id, ancestor_id, hops) AS (
    SELECT trace_id, span_id, parent_span_id, 1 FROM inference WHERE parent_span_id IS NOT NULL
    UNION ALL
    SELECT c.trace_id, c.span_id, s.parent_span_id, c.hops + 1
    FROM climb c JOIN spans s ON s.trace_id = c.trace_id AND s.span_id = c.ancestor_id
    WHERE s.kind IN {_PLAIN_KINDS} AND s.parent_span_id IS NOT NULL AND c.hops < 16
),
wrapping AS (
    SELECT c.trace_id, c.span_id, c.ancestor_id AS wrapper_id
    FROM climb c JOIN inference i ON i.trace_id = c.trace_id AND i.span_id = c.ancestor_id
),
sole AS (  -- wrappers of one call (spans inside that share a response id are one call)
    SELECT w.trace_id, w.wrapper_id FROM wrapping w
    JOIN spans s ON s.trace_id = w.trace_id AND s.span_id = w.span_id
    GROUP BY ALL HAVING count(DISTINCT coalesce(s.response_id, s.span_id)) = 1
),
innermost AS (
    SELECT s.* FROM spans s
    WHERE s.kind IN {_INFERENCE_KINDS}
      AND NOT EXISTS (
          SELECT 1 FROM wrapping w WHERE w.trace_id = s.trace_id AND w.wrapper_id = s.span_id
      )
),
filled AS (
    SELECT c.* REPLACE (
        {_inherited()}
    ),
    w1.span_id AS wrapper_span_id
    FROM innermost c
    LEFT JOIN wrapping x1 ON x1.trace_id = c.trace_id AND x1.span_id = c.span_id
    LEFT JOIN sole s1 ON s1.trace_id = x1.trace_id AND s1.wrapper_id = x1.wrapper_id
    LEFT JOIN spans w1 ON w1.trace_id = s1.trace_id AND w1.span_id = s1.wrapper_id
    LEFT JOIN wrapping x2 ON x2.trace_id = w1.trace_id AND x2.span_id = w1.span_id
    LEFT JOIN sole s2 ON s2.trace_id = x2.trace_id AND s2.wrapper_id = x2.wrapper_id
    LEFT JOIN spans w2 ON w2.trace_id = s2.trace_id AND w2.span_id = s2.wrapper_id
)
SELECT *,
    row_number() OVER (
        PARTITION BY coalesce(provider, ''), coalesce(response_id, trace_id || span_id)
        ORDER BY start_time DESC, duration_ms, span_id
    ) = 1 AS first_in_store,
    row_number() OVER (
        PARTITION BY trace_id, coalesce(provider, ''), coalesce(response_id, span_id)
        ORDER BY start_time DESC, duration_ms, span_id
    ) = 1 AS first_in_trace
FROM filled;

CREATE OR REPLACE VIEW llm_calls AS
SELECT * EXCLUDE (wrapper_span_id, first_in_store, first_in_trace)
FROM model_calls WHERE kind = 'llm' AND first_in_store;

CREATE OR REPLACE VIEW traces AS
WITH calls AS (
    SELECT trace_id, sum(input_tokens) AS input_tokens, sum(output_tokens) AS output_tokens,
           sum(cost_usd) AS cost_usd
    FROM model_calls WHERE first_in_trace GROUP BY trace_id
),
trace_spans AS (
    SELECT
        trace_id,
        arg_min(name, CASE WHEN parent_span_id IS NULL THEN 0 ELSE 1 END) AS root_name,
        arg_min(service_name, start_time) AS service_name,
        min(start_time) AS start_time,
        (epoch_us(max(end_time)) - epoch_us(min(start_time))) / 1000.0 AS duration_ms,
        count(*) AS span_count,
        bool_or(status = 'ERROR') AS has_error
    FROM spans GROUP BY trace_id
)
SELECT t.trace_id, t.root_name, t.service_name, t.start_time, t.duration_ms, t.span_count,
       c.input_tokens, c.output_tokens, c.cost_usd, t.has_error
FROM trace_spans t LEFT JOIN calls c USING (trace_id);
"""

# Migration 7: the same rule, faster on a large store. Only the columns a query asks for are
# read (no materialised copy of the spans); the wrappers (few) are joined instead of the whole
# table; a wrapper's calls are counted by a key carried up from the call; and only calls whose
# response id occurs more than once are ranked (a window over every call was half the time).
FASTER_CALL_VIEWS_SQL: Final = f"""
CREATE OR REPLACE VIEW model_calls AS
WITH RECURSIVE
climb(trace_id, span_id, call_key, ancestor_id, hops) AS (
    SELECT trace_id, span_id, coalesce(response_id, span_id), parent_span_id, 1
    FROM spans WHERE kind IN {_INFERENCE_KINDS} AND parent_span_id IS NOT NULL
    UNION ALL
    SELECT c.trace_id, c.span_id, c.call_key, s.parent_span_id, c.hops + 1
    FROM climb c JOIN spans s ON s.trace_id = c.trace_id AND s.span_id = c.ancestor_id
    WHERE s.kind IN {_PLAIN_KINDS} AND s.parent_span_id IS NOT NULL AND c.hops < 16
),
wrapping AS (
    SELECT c.trace_id, c.span_id, c.call_key, c.ancestor_id AS wrapper_id
    FROM climb c SEMI JOIN spans i
        ON i.trace_id = c.trace_id AND i.span_id = c.ancestor_id AND i.kind IN {_INFERENCE_KINDS}
),
sole AS (  -- wrappers of one call (spans inside that share a response id are one call)
    SELECT trace_id, wrapper_id FROM wrapping
    GROUP BY ALL HAVING count(DISTINCT call_key) = 1
),
wrappers AS (
    SELECT i.* FROM spans i
    SEMI JOIN sole ON sole.trace_id = i.trace_id AND sole.wrapper_id = i.span_id
),
filled AS (
    SELECT c.* REPLACE (
        {_inherited()}
    ),
    w1.span_id AS wrapper_span_id
    FROM spans c
    LEFT JOIN wrapping x1 ON x1.trace_id = c.trace_id AND x1.span_id = c.span_id
    LEFT JOIN wrappers w1 ON w1.trace_id = x1.trace_id AND w1.span_id = x1.wrapper_id
    LEFT JOIN wrapping x2 ON x2.trace_id = w1.trace_id AND x2.span_id = w1.span_id
    LEFT JOIN wrappers w2 ON w2.trace_id = x2.trace_id AND w2.span_id = x2.wrapper_id
    WHERE c.kind IN {_INFERENCE_KINDS}
      AND NOT EXISTS (
          SELECT 1 FROM wrapping w WHERE w.trace_id = c.trace_id AND w.wrapper_id = c.span_id
      )
),
repeated AS (  -- response ids that more than one span reports
    SELECT provider, response_id FROM spans
    WHERE kind IN {_INFERENCE_KINDS} AND response_id IS NOT NULL
    GROUP BY ALL HAVING count(*) > 1
),
ranked AS (
    SELECT s.trace_id, s.span_id,
        row_number() OVER (
            PARTITION BY s.provider, s.response_id
            ORDER BY s.start_time DESC, s.duration_ms, s.span_id
        ) = 1 AS first_in_store,
        row_number() OVER (
            PARTITION BY s.trace_id, s.provider, s.response_id
            ORDER BY s.start_time DESC, s.duration_ms, s.span_id
        ) = 1 AS first_in_trace
    FROM spans s
    SEMI JOIN repeated r
        ON r.provider IS NOT DISTINCT FROM s.provider AND r.response_id = s.response_id
    WHERE s.kind IN {_INFERENCE_KINDS}
      AND NOT EXISTS (
          SELECT 1 FROM wrapping w WHERE w.trace_id = s.trace_id AND w.wrapper_id = s.span_id
      )
)
SELECT f.*, coalesce(r.first_in_store, TRUE) AS first_in_store,
       coalesce(r.first_in_trace, TRUE) AS first_in_trace
FROM filled f LEFT JOIN ranked r ON r.trace_id = f.trace_id AND r.span_id = f.span_id;
"""

# Every span kind a climb from a call can pass through or stop on as a wrapper.
_CLIMBED_KINDS = "('llm', 'judge', 'internal', 'client', 'server', 'producer', 'consumer')"

# Migration 10: the same rule again, at the cost of a plain scan when no call is nested. What
# costs is reading the trace and span ids (48 bytes a span) of every call to join on them; so
# only the traces where a call has a parent are climbed, the calls are joined to their wrappers
# by DuckDB's row id (free to read), and a call that no rule touches (not wrapped, not a
# wrapper, its response id not repeated) is read as it is. A join whose other side is empty
# reads next to nothing. Parquet has no row ids: evals/production/source.py keeps migration 7's.
_ANY_PARENT = f"""
nested AS MATERIALIZED (  -- traces where a call has a parent: the only ones to climb
    SELECT DISTINCT trace_id FROM spans
    WHERE kind IN {_INFERENCE_KINDS} AND parent_span_id IS NOT NULL
),"""


ROW_CALL_VIEWS_SQL: Final = f"""
CREATE OR REPLACE VIEW model_calls AS
WITH RECURSIVE{_ANY_PARENT}
links AS MATERIALIZED (
    SELECT s.trace_id, s.span_id, s.parent_span_id, s.kind, s.rowid AS row_id,
           coalesce(s.response_id, s.span_id) AS call_key
    FROM spans s SEMI JOIN nested n ON n.trace_id = s.trace_id
    WHERE s.kind IN {_CLIMBED_KINDS}
),
climb(trace_id, span_id, call_row, call_key, node_kind, node_row, node_id, next_id, hops) AS (
    SELECT trace_id, span_id, row_id, call_key, kind, row_id, span_id, parent_span_id, 0
    FROM links WHERE kind IN {_INFERENCE_KINDS} AND parent_span_id IS NOT NULL
    UNION ALL
    SELECT c.trace_id, c.span_id, c.call_row, c.call_key, s.kind, s.row_id, s.span_id,
           s.parent_span_id, c.hops + 1
    FROM climb c JOIN links s ON s.trace_id = c.trace_id AND s.span_id = c.next_id
    WHERE (c.hops = 0 OR c.node_kind IN {_PLAIN_KINDS}) AND c.hops < 16
      AND c.next_id IS NOT NULL
),
wrapped AS (  -- a call and the nearest call around it
    SELECT call_row, call_key, node_id AS wrapper_id, node_row AS wrapper_row
    FROM climb WHERE hops > 0 AND node_kind IN {_INFERENCE_KINDS}
),
sole AS (  -- wrappers of one call (spans inside that share a response id are one call)
    SELECT wrapper_row FROM wrapped GROUP BY wrapper_row HAVING count(DISTINCT call_key) = 1
),
wrappers AS (
    SELECT i.rowid AS row_id, i.* FROM spans i SEMI JOIN sole ON sole.wrapper_row = i.rowid
),
repeated AS (  -- response ids that more than one span reports
    SELECT provider, response_id FROM spans
    WHERE kind IN {_INFERENCE_KINDS} AND response_id IS NOT NULL
    GROUP BY ALL HAVING count(*) > 1
),
ranked AS (
    SELECT s.rowid AS row_id,
        row_number() OVER (
            PARTITION BY s.provider, s.response_id
            ORDER BY s.start_time DESC, s.duration_ms, s.span_id
        ) = 1 AS first_in_store,
        row_number() OVER (
            PARTITION BY s.trace_id, s.provider, s.response_id
            ORDER BY s.start_time DESC, s.duration_ms, s.span_id
        ) = 1 AS first_in_trace
    FROM repeated r JOIN spans s  -- (repeated is distinct: a join is a semi join here)
        ON r.provider IS NOT DISTINCT FROM s.provider AND r.response_id = s.response_id
    WHERE s.kind IN {_INFERENCE_KINDS} AND s.response_id IS NOT NULL
      AND s.rowid NOT IN (SELECT wrapper_row FROM wrapped)
),
touched AS (SELECT call_row AS row_id FROM wrapped UNION SELECT row_id FROM ranked),
filled AS (
    SELECT c.* EXCLUDE (call_row) REPLACE (
        {_inherited()}
    ),
    w1.span_id AS wrapper_span_id, c.call_row
    FROM (SELECT rowid AS call_row, * FROM spans WHERE rowid IN (SELECT row_id FROM touched)) c
    LEFT JOIN wrapped x1 ON x1.call_row = c.call_row
    LEFT JOIN wrappers w1 ON w1.row_id = x1.wrapper_row
    LEFT JOIN wrapped x2 ON x2.call_row = w1.row_id
    LEFT JOIN wrappers w2 ON w2.row_id = x2.wrapper_row
    ANTI JOIN wrapped w ON w.wrapper_row = c.call_row
    WHERE c.kind IN {_INFERENCE_KINDS}
)
SELECT s.* REPLACE (  -- as migration 7's: no input tokens, no cost (nothing to take it from)
        CASE WHEN s.input_tokens IS NOT NULL THEN s.cost_usd END AS cost_usd,
        CASE WHEN s.input_tokens IS NOT NULL THEN s.price_table_version END
            AS price_table_version
    ),
    NULL::VARCHAR AS wrapper_span_id, TRUE AS first_in_store, TRUE AS first_in_trace
FROM spans s
ANTI JOIN (SELECT row_id FROM touched UNION ALL SELECT wrapper_row FROM wrapped) t
    ON t.row_id = s.rowid
WHERE s.kind IN {_INFERENCE_KINDS}
UNION ALL
SELECT f.* EXCLUDE (call_row), coalesce(r.first_in_store, TRUE) AS first_in_store,
       coalesce(r.first_in_trace, TRUE) AS first_in_trace
FROM filled f LEFT JOIN ranked r ON r.row_id = f.call_row;
"""


# Migration 11: migration 10 climbed every trace where a call has a parent, which is every
# trace of an application whose calls sit under a workflow or agent span: the join on trace and
# span ids it meant to avoid. Only a call whose parent is a call or a plain span can be wrapped,
# so only those traces are climbed; the parent is found by its span id alone (16 bytes, no
# trace id to hash), each pair then checked by row id to be of one trace.
_CALL_PARENT = f"""
parents AS MATERIALIZED (  -- a call and a span of a climbed kind that has its parent's id
    SELECT c.rowid AS call_row, p.rowid AS parent_row
    FROM spans c JOIN spans p ON p.span_id = c.parent_span_id
    WHERE c.kind IN {_INFERENCE_KINDS} AND p.kind IN {_CLIMBED_KINDS}
),
nested AS MATERIALIZED (  -- traces where a call's parent is a call or a plain span
    SELECT DISTINCT c.trace_id FROM parents x
    JOIN spans c ON c.rowid = x.call_row JOIN spans p ON p.rowid = x.parent_row
    WHERE c.trace_id = p.trace_id
),"""
CALL_PARENT_VIEWS_SQL: Final = ROW_CALL_VIEWS_SQL.replace(_ANY_PARENT, _CALL_PARENT, 1)


# Migration 13: migration 11's join of every call to its parent on the text span ids was most
# of the view's time (1.4 s of 1.7 over 4M calls); the integer keys of store/keys.py make it a
# join of integers. An id without a key (not 16 hex digits, or a row written by plain SQL) is
# matched by its text: those joins read only rows without keys, none in a store llmtrace wrote.
_KEYED_PARENT = f"""
parents AS MATERIALIZED (  -- a call and a span of a climbed kind that has its parent's id
    SELECT c.rowid AS call_row, p.rowid AS parent_row
    FROM spans c JOIN spans p ON p.span_key = c.parent_key
    WHERE c.kind IN {_INFERENCE_KINDS} AND p.kind IN {_CLIMBED_KINDS}
    UNION ALL
    SELECT c.rowid, p.rowid FROM spans c JOIN spans p ON p.span_id = c.parent_span_id
    WHERE c.kind IN {_INFERENCE_KINDS} AND p.kind IN {_CLIMBED_KINDS}
      AND c.parent_key IS NULL AND c.parent_span_id IS NOT NULL
    UNION ALL
    SELECT c.rowid, p.rowid FROM spans c JOIN spans p ON p.span_id = c.parent_span_id
    WHERE c.kind IN {_INFERENCE_KINDS} AND p.kind IN {_CLIMBED_KINDS}
      AND c.parent_key IS NOT NULL AND p.span_key IS NULL
),"""
_PARENTS_BY_TEXT = _CALL_PARENT[: _CALL_PARENT.index("nested AS")]
KEYED_CALL_VIEWS_SQL: Final = CALL_PARENT_VIEWS_SQL.replace(
    _PARENTS_BY_TEXT, _KEYED_PARENT + "\n", 1
)


# Migration 14: which response ids repeat was a grouping of every call's (provider, response id)
# text, 1 of the view's 2 CPU-s over 4M calls that all have one (as real calls do). Their 64-bit
# hashes are grouped first; only ids whose hash repeats (a repeat, or a rare collision) are
# grouped as text, so the rows are the same.
_REPEATED_BY_TEXT = f"""
repeated AS (  -- response ids that more than one span reports
    SELECT provider, response_id FROM spans
    WHERE kind IN {_INFERENCE_KINDS} AND response_id IS NOT NULL
    GROUP BY ALL HAVING count(*) > 1
),"""
_REPEATED_BY_HASH = f"""
repeated AS (  -- response ids that more than one span reports (their hash first)
    SELECT provider, response_id FROM spans
    WHERE kind IN {_INFERENCE_KINDS} AND response_id IS NOT NULL
      AND hash(provider, response_id) IN (
          SELECT h FROM (
              SELECT hash(provider, response_id) AS h FROM spans
              WHERE kind IN {_INFERENCE_KINDS} AND response_id IS NOT NULL
          ) GROUP BY h HAVING count(*) > 1
      )
    GROUP BY ALL HAVING count(*) > 1
),"""
HASHED_REPEAT_CALL_VIEWS_SQL: Final = KEYED_CALL_VIEWS_SQL.replace(
    _REPEATED_BY_TEXT, _REPEATED_BY_HASH, 1
)
