"""The DuckDB span exporter: spans read into hand-off documents in the traced process
(``reading``), gathered into row groups on a writer thread (``gathering``, ``exporter``) and
handed to a merger process of the exporter's own (``merger_client``, ``merger``), which turns
them into rows and stores them through ``llmtrace.store``. This package knows spans; the store
knows only DuckDB, Arrow batches and span fields.

``convert`` (spans straight to an Arrow batch) loads pyarrow, so it is imported on first use:
the traced application never needs it."""

from typing import Any

from .exporter import RECOMMENDED_BATCH, DuckDBSpanExporter

__all__ = ["RECOMMENDED_BATCH", "DuckDBSpanExporter", "convert"]


def __getattr__(name: str) -> Any:
    if name == "convert":
        from .conversion import convert

        return convert
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
