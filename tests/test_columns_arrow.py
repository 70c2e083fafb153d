"""store/columns.py builds with nanoarrow the columns pyarrow built before, value for value:
promoted number columns take and refuse what ``pa.array`` took and refused (then fall back to
the cleaned values), text columns turn odd values into the same text."""

from __future__ import annotations

import math
from typing import Any

import nanoarrow as na
import pyarrow as pa
import pytest

from llmtrace.store.span_batch import _typed
from llmtrace.store.values import strings, text_or_none

_ODD: list[Any] = [
    None,
    0,
    -1,
    7,
    2**63 - 1,
    2**63,
    -(2**63),
    -(2**63) - 1,
    2**64,
    10**30,
    True,
    False,
    1.0,
    1.5,
    -1.9,
    2.0**63,
    float("nan"),
    float("inf"),
    "12",
    "",
    b"5",
    [1],
    {"a": 1},
]


def _before(values: list[Any], data_type: pa.DataType) -> list[Any]:
    """What the pyarrow builder stored (span_batch before nanoarrow)."""
    try:
        return pa.array(values, type=data_type).to_pylist()
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        if data_type == pa.int64():
            cleaned = [v if type(v) is int and -(2**63) <= v < 2**63 else None for v in values]
        else:
            cleaned = [float(v) if type(v) in (int, float) else None for v in values]
        return pa.array(cleaned, type=data_type).to_pylist()


def _same(a: list[Any], b: list[Any]) -> bool:
    def key(v: Any) -> Any:
        return "nan" if isinstance(v, float) and math.isnan(v) else (type(v).__name__, v)

    return [key(v) for v in a] == [key(v) for v in b]


# Every value alone, next to a plain int, and next to a plain float: a column converts whole,
# so one odd value decides how its neighbours are stored.
_CASES = [[v] for v in _ODD] + [[3, v] for v in _ODD] + [[v, 0.25, None] for v in _ODD]


@pytest.mark.parametrize(
    "column, data_type", [("input_tokens", pa.int64()), ("cost_usd", pa.float64())]
)
def test_a_number_column_stores_what_pyarrow_stored(column, data_type):
    for values in _CASES:
        if data_type == pa.float64() and any(type(v) is int and abs(v) > 10**300 for v in values):
            continue
        built = na.Array(_typed(list(values), column)).to_pylist()
        assert _same(built, _before(list(values), data_type)), values


def test_a_text_column_stores_what_pyarrow_stored():
    values = ["a", "", None, "é✓ 中文", "lone \udcff", b"bytes", b"\xff", 5, {"k": [1]}, ["x"]]
    for case in [[v] for v in values] + [["plain", v] for v in values]:
        try:
            before = pa.array(case, pa.string()).to_pylist()
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeEncodeError):
            before = pa.array([text_or_none(v) for v in case], pa.string()).to_pylist()
        assert na.Array(strings(case)).to_pylist() == before, case
