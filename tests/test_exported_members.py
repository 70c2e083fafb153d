"""The public names, as httpx's test_exported_members does: a name added or removed from a
package's ``__all__`` is a decision made here, on purpose (DESIGN.md's names are a contract)."""

from __future__ import annotations

import llmtrace
from llmtrace import evals, exporters
from llmtrace.evals import stats


def test_llmtrace_exports_exactly_these() -> None:
    assert llmtrace.__all__ == [
        "Decision",
        "LiveSpan",
        "Prompt",
        "SpanSpec",
        "TracingHandle",
        "configure",
        "context",
        "current_span",
        "guardrail",
        "instrument",
        "judge",
        "llm",
        "query",
        "retrieval",
        "tool",
        "workflow",
    ]
    for name in llmtrace.__all__:
        assert getattr(llmtrace, name) is not None


def test_exporters_export_exactly_these() -> None:
    assert exporters.__all__ == ["DuckDBSpanExporter", "otlp_exporter"]


def test_evals_exports_every_name_the_design_promises() -> None:
    promised = {
        "Dataset", "Example", "Suite", "Run", "exact_match", "contains", "regex", "judge",
        "safety", "scorer", "gate", "Registry", "PromotionRefused", "card", "lineage",
        "reproduce", "report", "calibrate",
    }  # fmt: skip
    assert promised <= set(evals.__all__)
    assert all(hasattr(evals, name) for name in evals.__all__)


def test_stats_exports_the_design_names_sorted() -> None:
    promised = {
        "clustered_mean", "paired_difference", "wilson_interval", "clustered_rate",
        "bootstrap_interval", "t_quantile", "decide",
    }  # fmt: skip
    assert promised <= set(stats.__all__)
    assert stats.__all__ == sorted(stats.__all__)
