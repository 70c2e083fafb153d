"""Spans from any instrumentation to the store's columns, by one table of attribute names.

llmtrace's own spans carry ``llmtrace.span.kind`` and the current GenAI names, so the promoted
columns read straight off them. Spans from elsewhere (the OpenTelemetry GenAI conventions, old
or new, OpenInference, OpenLLMetry, the anthropic client's own tracing) name the same facts
differently; the tables below say where each column may come from, first name found wins. Only
the columns are filled: the attributes are stored exactly as they came.

Pricing happens here too, on the exporter's thread: any inference span with a model and input
tokens and no cost gets one from the installed price table, with the table's version, so the
application never waits for prices to load.

Works on attribute mappings only (no OpenTelemetry import): ``rows.spans_to_batch`` calls
:func:`normalize_batch` once a batch.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final

import orjson

from .. import semconv as sc
from ..usage import Usage

if TYPE_CHECKING:
    from ..pricing import PriceTable

__all__ = [
    "DERIVED_COLUMNS",
    "FIELD_SOURCES",
    "KIND_SOURCES",
    "NormalizedBatch",
    "normalize_attributes",
    "normalize_batch",
]

# Where each promoted column may be read from, in order of preference.
FIELD_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "operation": (sc.GEN_AI_OPERATION_NAME,),
    "provider": (sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_SYSTEM, sc.OI_LLM_PROVIDER, sc.OI_LLM_SYSTEM),
    "model": (
        sc.GEN_AI_REQUEST_MODEL,
        sc.OI_LLM_MODEL_NAME,
        sc.OI_EMBEDDING_MODEL_NAME,
        sc.GEN_AI_RESPONSE_MODEL,
    ),
    "input_tokens": (
        sc.GEN_AI_USAGE_INPUT_TOKENS,
        sc.GEN_AI_USAGE_PROMPT_TOKENS,
        sc.OI_TOKEN_COUNT_PROMPT,
    ),
    "output_tokens": (
        sc.GEN_AI_USAGE_OUTPUT_TOKENS,
        sc.GEN_AI_USAGE_COMPLETION_TOKENS,
        sc.OI_TOKEN_COUNT_COMPLETION,
    ),
    "cache_read_input_tokens": (
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS,
        sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS_OLD,
        sc.OI_TOKEN_COUNT_CACHE_READ,
    ),
    "cache_creation_input_tokens": (
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS,
        sc.ANTHROPIC_USAGE_CACHE_WRITE_INPUT_TOKENS,
        sc.GEN_AI_USAGE_CACHE_CREATION_INPUT_TOKENS_OLD,
        sc.OI_TOKEN_COUNT_CACHE_WRITE,
    ),
    "tool_name": (sc.GEN_AI_TOOL_NAME, sc.OI_TOOL_NAME),
    "tool_call_id": (sc.GEN_AI_TOOL_CALL_ID, sc.OI_TOOL_CALL_ID),
    "response_id": (sc.GEN_AI_RESPONSE_ID,),
    "retrieval_index": (sc.GEN_AI_DATA_SOURCE_ID,),
}

_INFERENCE = (sc.KIND_LLM, sc.OP_CHAT)
_EMBEDDING = (sc.KIND_LLM, sc.OP_EMBEDDINGS)

# (attribute, its value -> (llmtrace kind, operation or None)), in order of preference: a
# convention's own kind attribute says more than a generic operation name.
KIND_SOURCES: Final[tuple[tuple[str, Mapping[str, tuple[str, str | None]]], ...]] = (
    (
        sc.OPENINFERENCE_SPAN_KIND,
        {
            "LLM": _INFERENCE,
            "EMBEDDING": _EMBEDDING,
            "TOOL": (sc.KIND_TOOL, sc.OP_EXECUTE_TOOL),
            "RETRIEVER": (sc.KIND_RETRIEVAL, sc.OP_RETRIEVAL),
            "RERANKER": (sc.KIND_RETRIEVAL, None),
            "CHAIN": (sc.KIND_WORKFLOW, None),
            "AGENT": (sc.KIND_WORKFLOW, sc.OP_INVOKE_AGENT),
            "GUARDRAIL": (sc.KIND_GUARDRAIL, None),
            "EVALUATOR": (sc.KIND_JUDGE, None),
        },
    ),
    (
        sc.TRACELOOP_SPAN_KIND,
        {
            "workflow": (sc.KIND_WORKFLOW, sc.OP_INVOKE_WORKFLOW),
            "agent": (sc.KIND_WORKFLOW, sc.OP_INVOKE_AGENT),
            "tool": (sc.KIND_TOOL, sc.OP_EXECUTE_TOOL),
        },
    ),
    (
        sc.TRACELOOP_REQUEST_TYPE,
        {
            "chat": _INFERENCE,
            "completion": (sc.KIND_LLM, sc.OP_TEXT_COMPLETION),
            "embedding": _EMBEDDING,
            "rerank": (sc.KIND_RETRIEVAL, None),
        },
    ),
    (
        sc.GEN_AI_OPERATION_NAME,
        {
            sc.OP_CHAT: _INFERENCE,
            sc.OP_TEXT_COMPLETION: (sc.KIND_LLM, sc.OP_TEXT_COMPLETION),
            sc.OP_GENERATE_CONTENT: (sc.KIND_LLM, sc.OP_GENERATE_CONTENT),
            sc.OP_RESPONSES: (sc.KIND_LLM, sc.OP_RESPONSES),
            sc.OP_EMBEDDINGS: _EMBEDDING,
            sc.OP_EXECUTE_TOOL: (sc.KIND_TOOL, sc.OP_EXECUTE_TOOL),
            sc.OP_RETRIEVAL: (sc.KIND_RETRIEVAL, sc.OP_RETRIEVAL),
            sc.OP_INVOKE_AGENT: (sc.KIND_WORKFLOW, sc.OP_INVOKE_AGENT),
            sc.OP_INVOKE_WORKFLOW: (sc.KIND_WORKFLOW, sc.OP_INVOKE_WORKFLOW),
        },
    ),
)

# Any of these on a span without llmtrace.span.kind makes it worth normalising.
_FOREIGN_KEYS: Final = frozenset(
    [name for names in FIELD_SOURCES.values() for name in names]
    + [attribute for attribute, _ in KIND_SOURCES]
)

# Columns the store derives rather than reads from one attribute: (name, SQL type).
DERIVED_COLUMNS: Final[tuple[tuple[str, str], ...]] = (
    ("price_table_version", "VARCHAR"),
    ("retrieval_document_ids", "VARCHAR[]"),
)

# Kinds whose spans are model calls, priced when they have a model and usage.
PRICED_KINDS: Final = (sc.KIND_LLM, sc.KIND_JUDGE)
_TOKEN_COLUMNS = (
    "input_tokens",
    "output_tokens",
    "cache_read_input_tokens",
    "cache_creation_input_tokens",
)


def _token_count(value: Any) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _first(attributes: Mapping[str, Any], names: tuple[str, ...]) -> Any:
    for name in names:
        value = attributes.get(name)
        if value is not None and value != "":
            return value
    return None


def _document_ids(attributes: Mapping[str, Any]) -> list[str] | None:
    """OpenInference flattens documents to ``retrieval.documents.<i>.document.id``."""
    found = []
    for key, value in attributes.items():
        if key.startswith(sc.OI_RETRIEVAL_DOCUMENTS_PREFIX) and key.endswith(
            sc.OI_DOCUMENT_ID_SUFFIX
        ):
            index = key[len(sc.OI_RETRIEVAL_DOCUMENTS_PREFIX) : -len(sc.OI_DOCUMENT_ID_SUFFIX)]
            if index.isdigit() and value is not None:
                found.append((int(index), str(value)))
    return [doc_id for _, doc_id in sorted(found)] or None


def _response_id_in_output(attributes: Mapping[str, Any]) -> str | None:
    """OpenInference records no response id, but its ``output.value`` is the response's JSON:
    the id there is what tells its span and a sibling instrumentor's apart as one call."""
    if attributes.get(sc.OI_OUTPUT_MIME_TYPE) != sc.OI_JSON_MIME_TYPE:
        return None
    text = attributes.get(sc.OI_OUTPUT_VALUE)
    if not isinstance(text, str) or '"id"' not in text:
        return None
    try:
        response = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    response_id = response.get("id") if isinstance(response, dict) else None
    return response_id if isinstance(response_id, str) and response_id else None


_KindSources = tuple[tuple[str, Mapping[str, tuple[str, str | None]]], ...]
_FieldSources = tuple[tuple[str, tuple[str, ...]], ...]
_ALL_FIELDS: Final[_FieldSources] = tuple(FIELD_SOURCES.items())


def _sources_in(keys: set[str]) -> tuple[_KindSources, _FieldSources]:
    """The tables cut down to the names a batch holds. A column whose only name there is the
    one the store promotes it from anyway is left to that (the provider is still lower-cased)."""
    kind_sources = tuple(source for source in KIND_SOURCES if source[0] in keys)
    field_sources = []
    for column, names in FIELD_SOURCES.items():
        present = tuple(name for name in names if name in keys)
        promoted_only = present == (sc.PROMOTED_ATTRIBUTES.get(column),)
        if present and not (promoted_only and column != "provider"):
            field_sources.append((column, present))
    return kind_sources, tuple(field_sources)


def normalize_attributes(
    attributes: Mapping[str, Any],
    sources: tuple[_KindSources, _FieldSources] = (KIND_SOURCES, _ALL_FIELDS),
) -> dict[str, Any]:
    """The columns a foreign span's attributes give: kind, operation, provider, model, tokens,
    tool and retrieval fields (absent ones are left out)."""
    columns: dict[str, Any] = {}
    kind_sources, field_sources = sources
    for attribute, kinds in kind_sources:
        value = attributes.get(attribute)
        if isinstance(value, str) and value in kinds:
            kind, operation = kinds[value]
            columns["kind"] = kind
            if operation is not None:
                columns["operation"] = operation
            break
    for column, names in field_sources:
        if column in columns:
            continue
        value = _first(attributes, names)
        if value is None:
            continue
        if column in _TOKEN_COLUMNS:
            value = _token_count(value)
            if value is None:
                continue
        elif column == "provider" and isinstance(value, str):
            value = value.lower()
        columns[column] = value
    if columns.get("kind") == sc.KIND_LLM and "response_id" not in columns:
        response_id = _response_id_in_output(attributes)
        if response_id is not None:
            columns["response_id"] = response_id
    if columns.get("kind") == sc.KIND_TOOL and "tool_name" not in columns:
        name = attributes.get(sc.TRACELOOP_ENTITY_NAME)  # OpenLLMetry names tools this way
        if isinstance(name, str) and name:
            columns["tool_name"] = name
    if columns.get("kind") == sc.KIND_RETRIEVAL:
        documents = _document_ids(attributes)
        if documents is not None:
            columns["retrieval_document_ids"] = documents
    return columns


class NormalizedBatch:
    """What normalisation changed in a batch: the kinds, and whole columns it filled."""

    __slots__ = ("columns", "kinds")

    def __init__(self, kinds: list[Any], columns: dict[str, list[Any]]) -> None:
        self.kinds = kinds
        self.columns = columns


def _default_prices() -> PriceTable:
    """The installed price table, for a caller that brings none (the exporter brings the one
    ``configure()`` set, with the user's own prices)."""
    from ..pricing import PriceTable

    return PriceTable()


def normalize_batch(
    attributes: Sequence[Mapping[str, Any]],
    kinds: list[Any],
    keys: set[str],
    prices: PriceTable | None = None,
) -> NormalizedBatch:
    """Fill the columns of foreign spans and price every unpriced model call in a batch.

    ``kinds`` are the kinds so far (llmtrace's own, else the OpenTelemetry span kind) and
    ``keys`` every attribute name in the batch. Columns not in the result read as before.
    """
    n = len(attributes)
    columns: dict[str, list[Any]] = {}

    def column(name: str) -> list[Any]:
        values = columns.get(name)
        if values is None:
            key = sc.PROMOTED_ATTRIBUTES.get(name)
            values = [a.get(key) for a in attributes] if key in keys else [None] * n
            columns[name] = values
        return values

    own = sc.SPAN_KIND in keys
    if not keys.isdisjoint(_FOREIGN_KEYS):
        kinds = list(kinds)
        sources = _sources_in(keys)
        for i, attrs in enumerate(attributes):
            if own and sc.SPAN_KIND in attrs:
                continue
            if attrs.keys().isdisjoint(_FOREIGN_KEYS):
                continue
            for name, value in normalize_attributes(attrs, sources).items():
                if name == "kind":
                    kinds[i] = value
                else:
                    column(name)[i] = value
    if own and sc.RETRIEVAL_DOCUMENT_IDS in keys:
        documents = column("retrieval_document_ids")
        for i, attrs in enumerate(attributes):
            ids = attrs.get(sc.RETRIEVAL_DOCUMENT_IDS)
            if ids is not None and documents[i] is None:
                documents[i] = [str(doc_id) for doc_id in ids]
    _price(attributes, kinds, column, prices)
    return NormalizedBatch(kinds, columns)


def table_version(pricing_source: str) -> str:
    """The price table a ``llmtrace.pricing.source`` names: ``genai-prices 0.2.3:openai/gpt-4o``
    was priced by ``genai-prices 0.2.3``; a user table is its own version."""
    if pricing_source.startswith("genai-prices "):
        return pricing_source.split(":", 1)[0]
    return pricing_source


def _price(
    attributes: Sequence[Mapping[str, Any]],
    kinds: list[Any],
    column: Any,
    prices: PriceTable | None,
) -> None:
    """Cost and price-table version of every model call with a model and input tokens."""
    calls = [i for i, kind in enumerate(kinds) if kind in PRICED_KINDS]
    if not calls:
        return
    models, inputs, costs = column("model"), column("input_tokens"), column("cost_usd")
    versions = column("price_table_version")
    todo = []
    for i in calls:
        if costs[i] is not None:  # priced when the span ended: say by which table
            source = attributes[i].get(sc.PRICING_SOURCE)
            if isinstance(source, str):
                versions[i] = table_version(source)
        elif models[i] and inputs[i] is not None:
            todo.append(i)
    if not todo:
        return
    table = prices if prices is not None else _default_prices()
    providers, outputs = column("provider"), column("output_tokens")
    cache_read = column("cache_read_input_tokens")
    cache_write = column("cache_creation_input_tokens")
    keys = [
        (models[i], providers[i], inputs[i], outputs[i], cache_read[i], cache_write[i])
        for i in todo
    ]
    try:  # calls alike cost alike: each distinct call is priced once
        costed = {key: _cost(table, key) for key in set(keys)}
    except TypeError:  # a value that cannot be a key (a list, say): one by one
        costed = None
    for i, key in zip(todo, keys, strict=True):
        priced = costed[key] if costed is not None else _cost(table, key)
        if priced is not None:
            costs[i], versions[i] = priced


def _cost(table: PriceTable, call: tuple[Any, ...]) -> tuple[float, str] | None:
    """(cost, price table version) of a call: model, provider, then its four token counts."""
    model, provider, *tokens = call
    usage = Usage(*(_token_count(count) for count in tokens))
    cost = table.cost(usage, str(model), provider if isinstance(provider, str) else None)
    return None if cost is None else (cost.total_usd, cost.table_version)
