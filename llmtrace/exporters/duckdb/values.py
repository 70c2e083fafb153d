"""Attribute values as text and JSON that DuckDB will take (moved to ``llmtrace.store.values``,
where the merge side, which turns hand-off documents into rows, finds them too)."""

from ...store.values import bytes_text, clean_text, dumps, strings

__all__ = ["bytes_text", "clean_text", "dumps", "strings"]
