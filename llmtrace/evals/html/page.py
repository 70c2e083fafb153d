"""The page shell and its building blocks: sections, tables, decision badges, fact lists.

Every function returns a string of HTML with all text escaped; nothing refers to a network
resource, so a page is one file that opens anywhere, offline.
"""

from __future__ import annotations

import html
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from ._style import STYLESHEET

__all__ = [
    "Cell",
    "Section",
    "decision_badge",
    "escape",
    "facts",
    "format_number",
    "render_page",
    "table",
]

_NUM = ' class="num"'
DECISION_LABELS = {"pass": "✓ pass", "warn": "! warn", "fail": "✗ fail"}


def escape(text: object) -> str:
    """Text made safe for HTML content and attribute values."""
    return html.escape("" if text is None else str(text), quote=True)


def format_number(value: float | int | None, unit: str = "") -> str:
    """A number as a person reads it: four significant digits, ∞ for unbounded, – for none."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, float) and math.isinf(value):
        return "∞" if value > 0 else "−∞"
    text = f"{value:,}" if isinstance(value, int) else f"{value:.4g}"
    return f"{text} {unit}" if unit else text


def decision_badge(decision: str | None) -> str:
    """The decision in colour, symbol and word (colour alone is never the message)."""
    if decision in DECISION_LABELS:
        return f'<span class="badge d-{decision}">{DECISION_LABELS[decision]}</span>'
    return f'<span class="badge d-none">{escape(decision or "none")}</span>'


@dataclass(frozen=True)
class Cell:
    """A table cell: ``markup`` is HTML already (a badge, an SVG); ``kind`` picks its style:
    "num" right-aligned, "note" small and muted, "plot" a figure, "" plain."""

    markup: str
    kind: str = ""


@dataclass(frozen=True)
class Section:
    """A titled part of a page; ``anchor`` is its id for the table of contents."""

    title: str
    body: str
    anchor: str


def _cell(value: object, tag: str, scope: str = "") -> str:
    if isinstance(value, Cell):
        cls = f' class="{value.kind}"' if value.kind else ""
        return f"<{tag}{scope}{cls}>{value.markup}</{tag}>"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f'<{tag}{scope} class="num">{escape(format_number(value))}</{tag}>'
    return f"<{tag}{scope}>{escape(value)}</{tag}>"


def table(
    headers: Sequence[str],
    rows: Iterable[Sequence[object]],
    *,
    caption: str = "",
    row_headers: bool = True,
    numeric: Sequence[int] = (),
) -> str:
    """A real table: column headers with ``scope="col"``, the first cell of each row a
    ``<th scope="row">`` when ``row_headers``. Plain values are escaped; pass :class:`Cell`
    for markup. ``numeric`` lists header positions to right-align."""
    head = "".join(
        f'<th scope="col"{_NUM if i in numeric else ""}>{escape(h)}</th>'
        for i, h in enumerate(headers)
    )
    body = []
    for row in rows:
        cells = [
            _cell(value, "th", ' scope="row"') if i == 0 and row_headers else _cell(value, "td")
            for i, value in enumerate(row)
        ]
        body.append("<tr>" + "".join(cells) + "</tr>")
    caption_html = f"<caption>{escape(caption)}</caption>" if caption else ""
    return (
        f'<div class="table-wrap"><table>{caption_html}<thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def facts(pairs: Iterable[tuple[str, object]]) -> str:
    """A definition list of label/value pairs; values that are None are left out."""
    items = "".join(
        f"<dt>{escape(label)}</dt><dd>{value.markup if isinstance(value, Cell) else escape(value)}"
        "</dd>"
        for label, value in pairs
        if value is not None
    )
    return f'<dl class="facts">{items}</dl>'


def render_page(
    title: str, sections: Sequence[Section], *, header: str = "", generator: str = "llmtrace"
) -> str:
    """One self-contained HTML document: inline style, no scripts, no external resource.

    Args:
        title: the page title and its top heading.
        sections: the parts, in order; each gets an entry in the table of contents.
        header: HTML shown under the title, before the contents (a verdict banner, a summary).
        generator: who made the page, said in the footer.
    """
    toc = "".join(f'<a href="#{escape(s.anchor)}">{escape(s.title)}</a>' for s in sections)
    parts = "".join(
        f'<section id="{escape(s.anchor)}" aria-labelledby="{escape(s.anchor)}-h">'
        f'<h2 id="{escape(s.anchor)}-h">{escape(s.title)}</h2>{s.body}</section>'
        for s in sections
    )
    made = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{STYLESHEET}</style></head>"
        f"<body><main><header><h1>{escape(title)}</h1>{header}"
        f'<nav class="toc" aria-label="Contents">{toc}</nav></header>{parts}'
        f"<footer>Made by {escape(generator)} on {made}. One file, no network needed."
        "</footer></main></body></html>\n"
    )
