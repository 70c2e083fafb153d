"""Span exporters: the embedded DuckDB store and OTLP to any collector."""

from .duckdb import DuckDBSpanExporter
from .otlp import otlp_exporter

__all__ = ["DuckDBSpanExporter", "otlp_exporter"]
