"""The model card's sections, rendered as Markdown or as one standalone HTML page."""

from __future__ import annotations

import html
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Part", "Section", "to_html", "to_markdown"]


@dataclass(frozen=True)
class Part:
    """``p`` (text), ``list`` (items), ``table`` (headers, rows), ``mermaid`` (a diagram) or
    ``missing`` (a written section nobody wrote)."""

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
    if part.kind == "mermaid":
        return ["```mermaid", part.content, "```"]
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


def _bold(text: str) -> str:
    pieces = html.escape(text).split("**")
    return "".join(f"<strong>{p}</strong>" if i % 2 else p for i, p in enumerate(pieces))


def _html_part(part: Part) -> str:
    if part.kind == "table":
        head = "".join(f"<th>{html.escape(str(h))}</th>" for h in part.content)
        body = "".join(
            "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>"
            for row in part.rows
        )
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    if part.kind == "list":
        return "<ul>" + "".join(f"<li>{html.escape(str(i))}</li>" for i in part.content) + "</ul>"
    if part.kind == "mermaid":
        return f'<pre class="mermaid">{html.escape(part.content)}</pre>'
    if part.kind == "missing":
        return f'<p class="missing">{html.escape(part.content)}</p>'
    return f"<p>{_bold(str(part.content))}</p>"


_STYLE = (
    "body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
    "table{border-collapse:collapse;margin:.5rem 0}td,th{border:1px solid #ccc;padding:.2rem .5rem"
    ";text-align:left}.missing{color:#a40;font-weight:bold}pre{background:#f6f6f6;padding:.5rem}"
)


def to_html(title: str, sections: Sequence[Section]) -> str:
    """A page with no external resources (the lineage shows as Mermaid source)."""
    body = "".join(
        f"<section><h2>{html.escape(s.title)}</h2>{''.join(_html_part(p) for p in s.parts)}"
        "</section>"
        for s in sections
    )
    return (
        f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}'
        f"</title><style>{_STYLE}</style></head><body><h1>{html.escape(title)}</h1>{body}"
        "</body></html>\n"
    )
