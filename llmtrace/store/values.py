"""Attribute values as text and JSON that DuckDB will take, whatever a span holds: text
that is not valid UTF-8 gets visible markers, bytes become text, big integers strings, other
objects their ``str``. One odd value must cost nothing but its own readability, never a batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

__all__ = ["bytes_text", "clean_text", "dumps", "strings", "text_or_none"]

_INT64_MIN, _UINT64_MAX = -(2**63), 2**64 - 1


def clean_text(text: str) -> str:
    """``text`` as valid UTF-8: a lone surrogate (a file name decoded with ``surrogateescape``,
    say) becomes a visible ``\\udcXX`` marker instead of sinking the batch it is in."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return text.encode("utf-8", "backslashreplace").decode("utf-8")
    return text


def bytes_text(value: bytes | bytearray | memoryview) -> str:
    """Bytes as text: UTF-8 when they are, with ``\\xNN`` markers for the bytes that are not
    (never a Python ``b'...'`` repr)."""
    return bytes(value).decode("utf-8", "backslashreplace")


def _json_safe(value: Any) -> Any:
    """``value`` with what orjson cannot encode made encodable: integers past 64 bits become
    strings (a JSON number that size would not fit any column or VARIANT type either), text that
    is not valid UTF-8 gets markers, bytes become text, other containers become lists or dicts,
    anything else its ``str``."""
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, str):
        return clean_text(value)
    if isinstance(value, int):
        return value if _INT64_MIN <= value <= _UINT64_MAX else str(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes_text(value)
    if isinstance(value, Mapping):
        return {clean_text(str(k)): _json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_json_safe(v) for v in value]
    return clean_text(str(value))


def dumps(value: Any) -> str:
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # rare: a big integer, bad UTF-8, bytes, an object orjson cannot encode
        return orjson.dumps(_json_safe(value)).decode()


def strings(values: list[Any]) -> Any:
    """A string column (nanoarrow, ``columns``); a value that is not a string (bytes, a dict,
    anything a foreign SDK gives) or not valid UTF-8 becomes readable text rather than sink the
    batch. nanoarrow loads where a column is built: the traced process never does."""
    from .columns import plain_strings

    try:
        return plain_strings(values)
    except (ValueError, TypeError, UnicodeEncodeError):
        return plain_strings([text_or_none(v) for v in values])


def text_or_none(value: Any) -> str | None:
    """A text column's value as text (or None)."""
    if value is None or isinstance(value, str):
        return None if value is None else clean_text(value)
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes_text(value)
    if isinstance(value, (Mapping, list, tuple)):
        return dumps(value)
    return clean_text(str(value))
