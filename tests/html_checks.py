"""Checks for the self-contained HTML pages (gate report, model card, drift report): the page
parses with every tag closed, and what it would fetch from outside."""

from __future__ import annotations

import re
from html.parser import HTMLParser

# -------------------------------------------------------------------------------------------
_VOID = {"meta", "br", "hr", "img", "input", "link", "col", "area", "base", "source", "wbr"}
_SVG_VOID = {"line", "circle", "polyline", "path"}


class _Structure(HTMLParser):
    """Checks nesting, collects every attribute and the text of each table row."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.errors: list[str] = []
        self.attributes: list[tuple[str, str, str]] = []
        self.tags: list[str] = []
        self.rows: list[str] = []
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, k, v or "") for k, v in attrs]
        if tag == "tr":
            self._row = []
        if tag not in _VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes += [(tag, k, v or "") for k, v in attrs]

    def handle_endtag(self, tag: str) -> None:
        if tag in _VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.errors.append(f"</{tag}> closes {self.stack[-1:]}")
            return
        self.stack.pop()
        if tag == "tr" and self._row is not None:
            self.rows.append(" ".join(self._row))
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._row is not None and "svg" not in self.stack:
            self._row.append(data.strip())


def parse(page: str) -> _Structure:
    parser = _Structure()
    parser.feed(page)
    parser.close()
    assert not parser.errors, parser.errors[:5]
    assert parser.stack == [], parser.stack
    return parser


def external_references(page: str) -> list[str]:
    parser = parse(page)
    found = [
        f"{tag} {name}={value}"
        for tag, name, value in parser.attributes
        if name in ("src", "href", "xlink:href", "action", "data") and not value.startswith("#")
    ]
    found += re.findall(r"url\(\s*['\"]?(?!#)[^)]*\)", page)
    found += re.findall(r"https?://", page)
    found += [tag for tag in parser.tags if tag in ("script", "link", "iframe", "img")]
    return found
