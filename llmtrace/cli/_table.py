"""Tables that fit the terminal: one line per row, truncated with ``…``, never wrapped.

Ids are shortened to the shortest prefix (at least 8 characters) that is unique among the rows
shown, which ``traces``, ``gate`` and the other commands accept back. Numbers are compact
(3 significant digits). Width comes from the terminal, or $COLUMNS, else 80 when piped.
``--format json|csv`` never goes through here: those stay full.

Text that is printable ASCII (most tables) is one cell a character; only other text asks
``rich.cells``, imported then, so a plain table or a CSV does not load rich (#19).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

__all__ = ["Column", "compact_number", "render", "short_ids", "terminal_width", "truncate"]

MIN_ID_CHARS = 8
_GAP = "  "


def cell_len(text: str) -> int:
    """Terminal cells ``text`` takes."""
    if text.isascii() and text.isprintable():
        return len(text)
    from rich.cells import cell_len as rich_cell_len

    return rich_cell_len(text)


def set_cell_size(text: str, total: int) -> str:
    """``text`` cropped or padded with spaces to ``total`` cells."""
    if text.isascii() and text.isprintable():
        return text[:total] if len(text) >= total else text + " " * (total - len(text))
    from rich.cells import set_cell_size as rich_set_cell_size

    return rich_set_cell_size(text, total)


def terminal_width() -> int:
    return max(shutil.get_terminal_size((80, 24)).columns, 20)


def compact_number(value: float | int | Decimal) -> str:
    """``1234567`` -> ``1.23M``, ``16.2449`` -> ``16.2``, ``0.00001471`` -> ``1.47e-05``."""
    if isinstance(value, Decimal):
        value = float(value)
    if isinstance(value, int):
        return str(value) if abs(value) < 1_000_000 else _suffixed(value)
    if value != value or value in (float("inf"), float("-inf")):
        return str(value)
    magnitude = abs(value)
    if magnitude >= 1_000_000:
        return _suffixed(value)
    if magnitude >= 1000:
        return f"{value:.0f}"
    return f"{value:.3g}"


def _suffixed(value: float) -> str:
    for limit, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M")):
        if abs(value) >= limit:
            return f"{value / limit:.3g}{suffix}"
    return str(value)


def short_ids(ids: Sequence[str | None], minimum: int = MIN_ID_CHARS) -> dict[str, str]:
    """Each id -> its shortest prefix of at least ``minimum`` characters unique among ``ids``."""
    present = sorted({i for i in ids if i})
    length = minimum
    while length < max((len(i) for i in present), default=0):
        if len({i[:length] for i in present}) == len(present):
            break
        length += 4
    return {i: i[:length] for i in present}


def cell_text(value: Any) -> str:
    """A value as one short line of text."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, Decimal)):
        return compact_number(value)
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, (dict, list, tuple)):
        import json

        return json.dumps(value, default=str, ensure_ascii=False)
    if isinstance(value, (bytes, bytearray)):
        return value.hex()
    return " ".join(str(value).split())  # newlines and tabs would break the row


def truncate(text: str, width: int) -> str:
    """``text`` cut to ``width`` terminal cells, ending in ``…`` when cut."""
    if cell_len(text) <= width:
        return text
    if width <= 1:
        return "…"[:width]
    return set_cell_size(text, width - 1) + "…"


@dataclass
class Column:
    """How one column shows in a table: header, text of a value, alignment, shrinkability."""

    header: str
    text: Callable[[Any], str] = cell_text
    numeric: bool = False
    shrink: bool = True  # False for ids: a cut id cannot be given back to a command


def render(
    columns: Sequence[Column], rows: Sequence[Sequence[Any]], width: int | None = None
) -> list[str]:
    """The table's lines (header, rule, rows), each at most ``width`` cells."""
    width = width or terminal_width()
    cells = [
        [column.text(value) for column, value in zip(columns, row, strict=False)] for row in rows
    ]
    widths = [
        max([cell_len(column.header), *(cell_len(row[i]) for row in cells)])
        for i, column in enumerate(columns)
    ]
    shown = _fit(columns, cells, widths, width)
    hidden = len(columns) - shown
    columns, widths = list(columns[:shown]), widths[:shown]
    lines = [_line([c.header for c in columns], columns, widths)]
    lines.append(_GAP.join("─" * w for w in widths))
    lines.extend(_line(row[:shown], columns, widths) for row in cells)
    if hidden:
        lines.append(f"({hidden} more column{'s' if hidden > 1 else ''}: use --format csv or json)")
    return lines


def _line(texts: Sequence[str], columns: Sequence[Column], widths: Sequence[int]) -> str:
    parts = []
    for text, column, w in zip(texts, columns, widths, strict=False):
        text = truncate(text, w)
        pad = " " * (w - cell_len(text))
        parts.append(pad + text if column.numeric else text + pad)
    return _GAP.join(parts).rstrip()


def _fit(columns: Sequence[Column], cells: list[list[str]], widths: list[int], width: int) -> int:
    """Shrink ``widths`` in place until a row fits; returns how many columns are shown.

    Wide text columns give way first, one cell at a time from the widest, down to 12 cells;
    then the headers of number columns, down to their widest value (a number itself is never
    cut: a cut number reads as another number); then text columns down to 3 cells. Ids never
    shrink. If that is still too wide, trailing columns are left out (and the table says so).
    """
    values = [max((cell_len(t) for t in texts), default=1) for texts in zip(*cells, strict=True)]
    values = values or [1] * len(columns)
    fixed = [w if not c.shrink else None for c, w in zip(columns, widths, strict=True)]
    numeric = [c.numeric for c in columns]
    passes = (
        [f or (w if n else min(w, 12)) for f, n, w in zip(fixed, numeric, widths, strict=True)],
        [
            f or (min(w, v) if n else w)
            for f, n, w, v in zip(fixed, numeric, widths, values, strict=True)
        ],
        [
            f or (min(w, v) if n else min(w, 3))
            for f, n, w, v in zip(fixed, numeric, widths, values, strict=True)
        ],
    )
    for floors in passes:
        while _total(widths) > width:
            candidates = [i for i, w in enumerate(widths) if w > floors[i]]
            if not candidates:
                break
            widths[max(candidates, key=lambda i: widths[i])] -= 1
    shown = len(columns)
    while shown > 1 and _total(widths[:shown]) > width:
        shown -= 1
    return shown


def _total(widths: Sequence[int]) -> int:
    return sum(widths) + len(_GAP) * max(len(widths) - 1, 0)
