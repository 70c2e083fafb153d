"""Arrow columns built from Python lists with nanoarrow, for DuckDB to scan.

nanoarrow (Apache Arrow's small C library) builds the arrays and hands them to DuckDB through
the Arrow C stream interface: ~2 MiB to import, where pyarrow cost the merger ~36 MiB, and
scanning it makes DuckDB import neither pyarrow nor pandas nor numpy (scanning a pyarrow object
does: ~200 ms and ~50 MiB in whoever merges). Each builder converts values as ``pa.array``
with the same type did before (the store's rows stay as they were): an integer column takes
ints and truncates finite floats, a value it cannot take makes the whole column fall back to
its cleaned form (``span_batch``'s ``_typed``), a text column takes text and UTF-8 bytes.
"""

from __future__ import annotations

import array
from collections.abc import Iterable, Sequence
from typing import Any

import nanoarrow as na
from nanoarrow.c_schema import c_schema

__all__ = [
    "FLOAT64",
    "INT64",
    "STRING",
    "STRING_LIST",
    "UINT64",
    "Scannable",
    "bitmap",
    "float64s",
    "hex_strings",
    "int64s",
    "nulls",
    "plain_strings",
    "stream_capsule",
    "string_lists",
    "struct",
    "uint64_words",
    "uint64s",
]

STRING = na.string()
INT64 = na.int64()
FLOAT64 = na.float64()
UINT64 = na.uint64()
STRING_LIST = na.list_(na.string())

_C_STRING = c_schema(STRING)
_C_UINT64 = c_schema(UINT64)
_NONE = type(None)
# Finite floats an int64 column truncates (pyarrow's rule): -2**63 <= f < 2**63.
_INT64_FLOATS = (-(2.0**63), 2.0**63)
_NUMBERS = frozenset({int, _NONE})


# All-NULL columns by (type, length): a batch has a score of them, mostly 1,024 rows long, and
# one array may be a column of any number of batches (a batch refers to it).
_NULLS: dict[tuple[int, int], Any] = {}


def nulls(data_type: na.Schema, n: int) -> Any:
    """A column of ``n`` NULLs of ``data_type`` (one of this module's types)."""
    key = (id(data_type), n)
    column = _NULLS.get(key)
    if column is None:
        if len(_NULLS) > 64:
            _NULLS.clear()
        column = _NULLS[key] = _nulls(data_type, n)
    return column


def _nulls(data_type: na.Schema, n: int) -> Any:
    validity = bytes((n + 7) // 8)
    fmt = c_schema(data_type).format
    if fmt == "u":  # text: offsets, no data
        buffers: list[Any] = [validity, bytes(4 * (n + 1)), b""]
    elif fmt == "+l":  # a list: offsets, and an empty child
        return na.c_array_from_buffers(
            data_type, n, [validity, bytes(4 * (n + 1))], null_count=n, children=[_empty_text()]
        )
    else:  # 64-bit numbers
        buffers = [validity, bytes(8 * n)]
    return na.c_array_from_buffers(data_type, n, buffers, null_count=n)


def _empty_text() -> Any:
    return na.c_array_from_buffers(_C_STRING, 0, [None, bytes(4), b""])


def plain_strings(values: Iterable[Any]) -> Any:
    """A text column of str or None values (raises ``ValueError`` for anything else, and for
    text that is not valid UTF-8)."""
    return na.c_array(values, STRING)


def int64s(values: list[Any]) -> Any | None:
    """An int64 column as ``pa.array(values, pa.int64())`` made it, or None where pyarrow
    refused (a bool, text, NaN, a number out of range: the caller cleans the values)."""
    kinds = set(map(type, values))
    if float in kinds and kinds <= {int, float, _NONE}:
        low, high = _INT64_FLOATS
        if not all(low <= v < high for v in values if type(v) is float):  # NaN fails too
            return None
        values = [int(v) if type(v) is float else v for v in values]
    elif not kinds <= _NUMBERS:
        return None
    try:
        return na.c_array(values, INT64)
    except (ValueError, OverflowError):
        return None


def float64s(values: list[Any]) -> Any | None:
    """A float64 column as ``pa.array(values, pa.float64())`` made it, or None where pyarrow
    refused (text, an integer past 64 bits: the caller cleans the values)."""
    kinds = set(map(type, values))
    if not kinds <= {int, float, bool, _NONE}:
        return None
    if int in kinds and not all(-(2**63) <= v < 2**63 for v in values if type(v) is int):
        return None
    try:
        return na.c_array(values, FLOAT64)
    except (ValueError, OverflowError):
        return None


def uint64s(values: Sequence[Any]) -> Any | None:
    """A uint64 column of ints (None where nanoarrow refused: negative, too big, not ints)."""
    if not set(map(type, values)) <= _NUMBERS:
        return None
    try:
        return na.c_array(values, UINT64)
    except (ValueError, OverflowError):
        return None


def uint64_words(words: array.array[int]) -> Any:
    """A uint64 column over an array of 64-bit words (no NULLs)."""
    return na.c_array_from_buffers(_C_UINT64, len(words), [None, words])


def bitmap(valid: Sequence[bool]) -> Any:
    """A validity bitmap (one bit a row, least significant first)."""
    return na.c_buffer(valid, na.bool_())


def hex_strings(text: bytes, n: int, digits: int, validity: Any = None) -> Any:
    """A text column of ``n`` values of ``digits`` characters each, back to back in ``text``
    (``validity``: a bitmap, None when no value is NULL)."""
    offsets = array.array("i", range(0, digits * (n + 1), digits))
    null_count = -1 if validity is not None else 0
    return na.c_array_from_buffers(_C_STRING, n, [validity, offsets, text], null_count=null_count)


def string_lists(values: Sequence[Any], texts: Any) -> Any:
    """A list<string> column of lists of text (or None); ``texts`` builds the flat text
    column."""
    n = len(values)
    offsets = array.array("i", [0])
    flat: list[Any] = []
    for value in values:
        if value is not None:
            flat.extend(value)
        offsets.append(len(flat))
    valid = [v is not None for v in values]
    validity = None if all(valid) else bitmap(valid)
    return na.c_array_from_buffers(
        STRING_LIST,
        n,
        [validity, offsets],
        null_count=-1 if validity is not None else 0,
        children=[texts(flat)],
    )


def struct(schema: na.Schema, n: int, columns: Sequence[Any]) -> Any:
    """The batch: ``columns`` as the fields of ``schema`` (its metadata included)."""
    return na.c_array_from_buffers(schema, n, [None], children=columns)


def stream_capsule(arrays: Sequence[Any], requested_schema: Any = None) -> Any:
    """``arrays`` (struct arrays of one schema) as a new Arrow C stream, for
    ``__arrow_c_stream__``: DuckDB opens a registered stream more than once (for its schema,
    then to scan), and a stream is read once."""
    from nanoarrow.c_array_stream import CArrayStream

    stream = CArrayStream.from_c_arrays(list(arrays), arrays[0].schema, validate=False)
    return stream.__arrow_c_stream__(requested_schema)


class Scannable:
    """Struct arrays DuckDB scans by name, as often as it opens them."""

    __slots__ = ("arrays",)

    def __init__(self, arrays: Sequence[Any]) -> None:
        self.arrays = arrays

    def __arrow_c_stream__(self, requested_schema: Any = None) -> Any:
        return stream_capsule(self.arrays, requested_schema)
