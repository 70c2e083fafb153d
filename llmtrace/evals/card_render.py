"""The model card's sections, rendered as Markdown or as one standalone HTML page on the
shared renderer (:mod:`llmtrace.evals.html`, the gate report's page shell and styles)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from .gate_report.lineage_section import lineage_body
from .html import Cell, decision_badge, escape, render_page, table
from .html import Section as HtmlSection
from .html.page import DECISION_LABELS

__all__ = ["Part", "Section", "to_html", "to_markdown"]


@dataclass(frozen=True)
class Part:
    """``p`` (text), ``list`` (items), ``table`` (headers, rows), ``lineage`` (a
    :class:`~llmtrace.evals.lineage_graph.Lineage`: Mermaid in Markdown, SVG and tables in
    HTML) or ``missing`` (a written section nobody wrote)."""

    kind: str
    content: Any
    rows: Sequence[Sequence[Any]] = ()


@dataclass(frozen=True)
class Section:
    title: str
    parts: list[Part] = field(default_factory=list)


def _cell(value: Any) -> str:
    return str(value).replace("|", "\\|").replace("\n", " ")


def _markdown_part(part: Part) -> list[str]:
    if part.kind == "table":
        lines = ["| " + " | ".join(part.content) + " |", "|" + "---|" * len(part.content)]
        lines += ["| " + " | ".join(_cell(v) for v in row) + " |" for row in part.rows]
        return lines
    if part.kind == "list":
        return [f"- {item}" for item in part.content]
    if part.kind == "lineage":
        return ["```mermaid", part.content.to_mermaid(), "```"]
    if part.kind == "missing":
        return [f"> **{part.content}**"]
    return [str(part.content)]


def to_markdown(title: str, sections: Sequence[Section]) -> str:
    lines = [f"# {title}", ""]
    for section in sections:
        lines += [f"## {section.title}", ""]
        for part in section.parts:
            lines += [*_markdown_part(part), ""]
    return "\n".join(lines)


_BADGES = {"pass": "pass", "warn": "warn", "fail": "fail", "ok": "pass", "fails": "fail"}
_DECISION_COLUMNS = ("decision", "result", "outcome")
_NUMERIC_COLUMNS = ("estimate", "n", "measured")
_MISSING = '<span class="badge d-warn">! missing</span>'  # colour, symbol and word


def _inline(text: str) -> str:
    """Text with ``**bold**``; a bold decision word becomes its badge (colour, symbol, word)."""
    pieces = text.split("**")
    return "".join(
        (decision_badge(p) if p in DECISION_LABELS else f"<strong>{escape(p)}</strong>")
        if i % 2
        else escape(p)
        for i, p in enumerate(pieces)
    )


def _html_cell(value: Any, badged: bool, numeric: bool) -> Any:
    if badged and value in _BADGES:
        return Cell(decision_badge(_BADGES[value]))
    if numeric:  # numbers (and intervals) are formatted already: align them as numbers
        return Cell(escape(value), "num")
    return value


def _html_table(part: Part) -> str:
    headers = [str(h) for h in part.content]
    badged = {i for i, h in enumerate(headers) if h in _DECISION_COLUMNS}
    numeric = [i for i, h in enumerate(headers) if h in _NUMERIC_COLUMNS or "interval" in h]
    rows = [
        [_html_cell(v, i in badged, i in numeric) for i, v in enumerate(row)] for row in part.rows
    ]
    return table(headers, rows, numeric=numeric)


def _html_part(part: Part) -> str:
    if part.kind == "table":
        return _html_table(part)
    if part.kind == "list":
        return "<ul>" + "".join(f"<li>{escape(item)}</li>" for item in part.content) + "</ul>"
    if part.kind == "lineage":
        return lineage_body(part.content, "release")
    if part.kind == "missing":
        text = str(part.content).removeprefix("Missing: ")  # the badge says it
        return f'<p class="missing">{_MISSING} {escape(text)}</p>'
    return f"<p>{_inline(str(part.content))}</p>"


def _anchor(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")


def to_html(title: str, sections: Sequence[Section], header: str = "") -> str:
    """The card as one self-contained page on the shared renderer (the gate report's shell,
    styles and tables); the lineage is drawn as inline SVG, with its tables. ``header`` is a
    line of text (``**bold**`` allowed) shown under the title."""
    parts = [
        HtmlSection(s.title, "".join(_html_part(p) for p in s.parts), _anchor(s.title))
        for s in sections
    ]
    summary = f"<p>{_inline(header)}</p>" if header else ""
    return render_page(title, parts, header=summary, generator="llmtrace card")
