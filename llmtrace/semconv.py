"""Every span attribute and event name llmtrace writes or reads, one constant each.

OpenTelemetry GenAI semantic-convention names are used wherever the conventions have one, so
that any OTLP backend shows llmtrace spans correctly; everything else lives under
``llmtrace.*``. No other module spells an attribute string: import it from here.
"""

from __future__ import annotations

from typing import Final

# --- OpenTelemetry GenAI semantic conventions -------------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_PREFIX: Final = "gen_ai.request."
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS: Final = "gen_ai.usage.cache_creation.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
GEN_AI_PROMPT_VERSION: Final = "gen_ai.prompt.version"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"

# Evaluation results are events on the judged span.
GEN_AI_EVALUATION_RESULT_EVENT: Final = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME: Final = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"

# Values of gen_ai.operation.name.
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_EMBEDDINGS: Final = "embeddings"
OP_RETRIEVAL: Final = "retrieval"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"
# Guardrails and judges have no GenAI operation name yet; these are ours.
OP_GUARDRAIL: Final = "guardrail"
OP_JUDGE: Final = "judge"

# --- General OpenTelemetry names used on spans ------------------------------------------------
USER_ID: Final = "user.id"
SESSION_ID: Final = "session.id"
EXCEPTION_EVENT: Final = "exception"
EXCEPTION_TYPE: Final = "exception.type"
EXCEPTION_MESSAGE: Final = "exception.message"
SERVICE_NAME: Final = "service.name"

# --- llmtrace.* -------------------------------------------------------------------------------
SPAN_KIND: Final = "llmtrace.span.kind"
PROMPT_HASH: Final = "llmtrace.prompt.hash"
RETRIEVAL_INDEX: Final = "llmtrace.retrieval.index"
RETRIEVAL_INDEX_VERSION: Final = "llmtrace.retrieval.index_version"
RETRIEVAL_DOCUMENT_IDS: Final = "llmtrace.retrieval.document_ids"
USAGE_SOURCE: Final = "llmtrace.usage.source"
COST_USD: Final = "llmtrace.cost.usd"
COST_INPUT_USD: Final = "llmtrace.cost.input_usd"
COST_OUTPUT_USD: Final = "llmtrace.cost.output_usd"
PRICING_SOURCE: Final = "llmtrace.pricing.source"
GUARDRAIL_POLICY: Final = "llmtrace.guardrail.policy"
GUARDRAIL_VERSION: Final = "llmtrace.guardrail.version"
GUARDRAIL_ACTION: Final = "llmtrace.guardrail.action"
GUARDRAIL_SCORE: Final = "llmtrace.guardrail.score"
GUARDRAIL_REASON: Final = "llmtrace.guardrail.reason"
JUDGE_MODEL: Final = "llmtrace.judge.model"
JUDGE_VERSION: Final = "llmtrace.judge.version"
EVAL_RUN_ID: Final = "llmtrace.eval.run_id"
EVAL_EXAMPLE_ID: Final = "llmtrace.eval.example_id"
EVAL_EPOCH: Final = "llmtrace.eval.epoch"
# On an example-epoch's root span, only when content capture is on (redacted, truncated): the
# example's input and expected answer and what the target returned, for reports.
EVAL_INPUT: Final = "llmtrace.eval.input"
EVAL_EXPECTED: Final = "llmtrace.eval.expected"
EVAL_OUTPUT: Final = "llmtrace.eval.output"
DATASET_VERSION: Final = "llmtrace.dataset.version"
STREAM_TTFT_MS: Final = "llmtrace.stream.ttft_ms"
STREAM_CHUNKS: Final = "llmtrace.stream.chunks"
CONTENT_TRUNCATED: Final = "llmtrace.content.truncated"
CONTEXT_PREFIX: Final = "llmtrace.context."
# On a gen_ai.evaluation.result event: "quality" or "safety" (a safety score of 1 is a violation),
# so production gates can tell safety checks from quality scores.
EVALUATION_KIND: Final = "llmtrace.evaluation.kind"

# Values of llmtrace.span.kind.
KIND_WORKFLOW: Final = "workflow"
KIND_LLM: Final = "llm"
KIND_TOOL: Final = "tool"
KIND_RETRIEVAL: Final = "retrieval"
KIND_GUARDRAIL: Final = "guardrail"
KIND_JUDGE: Final = "judge"
SPAN_KINDS: Final = (
    KIND_WORKFLOW,
    KIND_LLM,
    KIND_TOOL,
    KIND_RETRIEVAL,
    KIND_GUARDRAIL,
    KIND_JUDGE,
)
# The kinds that are a call to a model: they get token estimates and a price.
PRICED_KINDS: Final = (KIND_LLM, KIND_JUDGE)

# Values of llmtrace.usage.source.
USAGE_FROM_PROVIDER: Final = "provider"
USAGE_ESTIMATED: Final = "estimate"

# llmtrace.context(key=...) keys that map to a promoted attribute instead of llmtrace.context.*.
CONTEXT_KEY_ATTRIBUTES: Final[dict[str, str]] = {
    "prompt_name": GEN_AI_PROMPT_NAME,
    "prompt_version": GEN_AI_PROMPT_VERSION,
    "dataset_version": DATASET_VERSION,
    "conversation_id": GEN_AI_CONVERSATION_ID,
    "user_id": USER_ID,
    "session_id": SESSION_ID,
    "eval_run_id": EVAL_RUN_ID,
    "eval_example_id": EVAL_EXAMPLE_ID,
    "eval_epoch": EVAL_EPOCH,
}


def context_attribute(key: str) -> str:
    """The span attribute that ``llmtrace.context(key=...)`` writes."""
    return CONTEXT_KEY_ATTRIBUTES.get(key, CONTEXT_PREFIX + key)


# --- Names other instrumentations write, read when their spans are stored -------------------
# Deprecated OpenTelemetry GenAI names (semantic conventions before 1.37) and other current ones.
GEN_AI_SYSTEM: Final = "gen_ai.system"
GEN_AI_USAGE_PROMPT_TOKENS: Final = "gen_ai.usage.prompt_tokens"
GEN_AI_USAGE_COMPLETION_TOKENS: Final = "gen_ai.usage.completion_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_OLD: Final = "gen_ai.usage.cache_read_input_tokens"
GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_OLD: Final = "gen_ai.usage.cache_creation_input_tokens"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
OP_GENERATE_CONTENT: Final = "generate_content"
OP_CREATE_AGENT: Final = "create_agent"
OP_RESPONSES: Final = "responses"
# The anthropic client's own spans (anthropic 2.x, scope com.anthropic.sdk.python).
ANTHROPIC_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
# OpenInference (Arize Phoenix).
OPENINFERENCE_SPAN_KIND: Final = "openinference.span.kind"
OI_LLM_MODEL_NAME: Final = "llm.model_name"
OI_EMBEDDING_MODEL_NAME: Final = "embedding.model_name"
OI_LLM_PROVIDER: Final = "llm.provider"
OI_LLM_SYSTEM: Final = "llm.system"
OI_TOKEN_COUNT_PROMPT: Final = "llm.token_count.prompt"
OI_TOKEN_COUNT_COMPLETION: Final = "llm.token_count.completion"
OI_TOKEN_COUNT_TOTAL: Final = "llm.token_count.total"
OI_TOKEN_COUNT_CACHE_READ: Final = "llm.token_count.prompt_details.cache_read"
OI_TOKEN_COUNT_CACHE_WRITE: Final = "llm.token_count.prompt_details.cache_write"
OI_TOOL_NAME: Final = "tool.name"
OI_TOOL_CALL_ID: Final = "tool_call.id"
OI_OUTPUT_VALUE: Final = "output.value"
OI_OUTPUT_MIME_TYPE: Final = "output.mime_type"
OI_JSON_MIME_TYPE: Final = "application/json"
OI_RETRIEVAL_DOCUMENTS_PREFIX: Final = "retrieval.documents."
OI_DOCUMENT_ID_SUFFIX: Final = ".document.id"
# OpenLLMetry (Traceloop).
TRACELOOP_SPAN_KIND: Final = "traceloop.span.kind"
TRACELOOP_ENTITY_NAME: Final = "traceloop.entity.name"
TRACELOOP_REQUEST_TYPE: Final = "llm.request.type"
TRACELOOP_USAGE_TOTAL_TOKENS: Final = "llm.usage.total_tokens"


# --- The store's promoted columns: column name -> (the attribute it is read from, SQL type) --
# Columns not listed here (ids, names, times, status, kind) come from the span itself. The
# batch's Arrow schema (exporters/duckdb/rows.py), the INSERT (store/batch_sql.py) and
# `stats --by` (cli/stats.py) follow this table; a column added here needs a migration in
# store/schema.py too, which the store checks (schema.promoted_column_problems).
PROMOTED_COLUMNS: Final[dict[str, tuple[str, str]]] = {
    "operation": (GEN_AI_OPERATION_NAME, "VARCHAR"),
    "provider": (GEN_AI_PROVIDER_NAME, "VARCHAR"),
    "model": (GEN_AI_REQUEST_MODEL, "VARCHAR"),
    "prompt_name": (GEN_AI_PROMPT_NAME, "VARCHAR"),
    "prompt_version": (GEN_AI_PROMPT_VERSION, "VARCHAR"),
    "prompt_hash": (PROMPT_HASH, "VARCHAR"),
    "retrieval_index": (GEN_AI_DATA_SOURCE_ID, "VARCHAR"),
    "retrieval_index_version": (RETRIEVAL_INDEX_VERSION, "VARCHAR"),
    "tool_name": (GEN_AI_TOOL_NAME, "VARCHAR"),
    "tool_call_id": (GEN_AI_TOOL_CALL_ID, "VARCHAR"),
    "input_tokens": (GEN_AI_USAGE_INPUT_TOKENS, "BIGINT"),
    "output_tokens": (GEN_AI_USAGE_OUTPUT_TOKENS, "BIGINT"),
    "cost_usd": (COST_USD, "DOUBLE"),
    "guardrail_policy": (GUARDRAIL_POLICY, "VARCHAR"),
    "guardrail_action": (GUARDRAIL_ACTION, "VARCHAR"),
    "guardrail_score": (GUARDRAIL_SCORE, "DOUBLE"),
    "judge_model": (JUDGE_MODEL, "VARCHAR"),
    "judge_version": (JUDGE_VERSION, "VARCHAR"),
    "dataset_version": (DATASET_VERSION, "VARCHAR"),
    "eval_run_id": (EVAL_RUN_ID, "VARCHAR"),
    "eval_example_id": (EVAL_EXAMPLE_ID, "VARCHAR"),
    # Added by migration 5 (spans from anywhere): what identifies and prices one model call.
    "response_id": (GEN_AI_RESPONSE_ID, "VARCHAR"),
    "cache_read_input_tokens": (GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS, "BIGINT"),
    "cache_creation_input_tokens": (GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS, "BIGINT"),
    # Added by migration 12 (drift reads it for every call): the reasons as the batch writes a
    # list into a text column, JSON (``["stop"]``); a single string as it is.
    "finish_reasons": (GEN_AI_RESPONSE_FINISH_REASONS, "VARCHAR"),
}
# column -> the attribute it is read from
PROMOTED_ATTRIBUTES: Final[dict[str, str]] = {
    column: attribute for column, (attribute, _) in PROMOTED_COLUMNS.items()
}
