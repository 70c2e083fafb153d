"""The DuckDB span exporter: spans converted to Arrow in the traced process (``rows``),
gathered into row groups on a writer thread (``gathering``, ``exporter``) and handed to a merger
process of the exporter's own (``merger_client``, ``merger``), which stores them through
``llmtrace.store``. This package knows spans; the store knows only DuckDB and Arrow batches."""

from .conversion import convert
from .exporter import RECOMMENDED_BATCH, DuckDBSpanExporter

__all__ = ["RECOMMENDED_BATCH", "DuckDBSpanExporter", "convert"]
