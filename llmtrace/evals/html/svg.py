"""Hand-built SVG primitives: a linear scale, readable ticks, and escaped elements.

Hand-built because the plots needed (intervals against a bound, ECDFs, grouped histograms) are
a few dozen elements each: a plotting library would add tens of megabytes and a font cache to
an SDK for what is here about a hundred lines, and its SVG would embed fonts and ids per figure.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from .page import escape

__all__ = ["Scale", "document", "line", "nice_ticks", "polyline", "rect", "text", "tick_label"]


@dataclass(frozen=True)
class Scale:
    """Maps the data interval [lo, hi] onto pixels [start, end] (end may be below start)."""

    lo: float
    hi: float
    start: float
    end: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        if span <= 0:
            return (self.start + self.end) / 2
        clipped = min(max(value, self.lo), self.hi)
        return self.start + (clipped - self.lo) / span * (self.end - self.start)


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (steps of 1, 2 or 5 times a power of ten) in [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return []
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / max(count, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(lo / step - 1e-9) * step
    ticks = []
    value = first
    while value <= hi + step * 1e-9:
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        value += step
    return ticks


def tick_label(value: float) -> str:
    """A short axis label: 0.25, 1.2k, 3e-06."""
    magnitude = abs(value)
    if magnitude >= 10_000:
        return f"{value / 1000:.3g}k"
    if magnitude and magnitude < 0.001:
        return f"{value:.1e}"
    return f"{value:.4g}"


def _fmt(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def line(x1: float, y1: float, x2: float, y2: float, cls: str, extra: str = "") -> str:
    return (
        f'<line x1="{_fmt(x1)}" y1="{_fmt(y1)}" x2="{_fmt(x2)}" y2="{_fmt(y2)}" '
        f'class="{cls}"{extra}/>'
    )


def rect(x: float, y: float, width: float, height: float, cls: str, label: str = "") -> str:
    title = f"<title>{escape(label)}</title>" if label else ""
    return (
        f'<rect x="{_fmt(x)}" y="{_fmt(y)}" width="{_fmt(max(width, 0.0))}" '
        f'height="{_fmt(max(height, 0.0))}" class="{cls}">{title}</rect>'
    )


def text(x: float, y: float, content: str, anchor: str = "middle", cls: str = "") -> str:
    css = f' class="{cls}"' if cls else ""
    return f'<text x="{_fmt(x)}" y="{_fmt(y)}" text-anchor="{anchor}"{css}>{escape(content)}</text>'


def polyline(points: Sequence[tuple[float, float]], cls: str, dashed: bool = False) -> str:
    coords = " ".join(f"{_fmt(x)},{_fmt(y)}" for x, y in points)
    dash = ' stroke-dasharray="6 4"' if dashed else ""
    return (
        f'<polyline points="{coords}" class="{cls}" fill="none" stroke-width="2"{dash} '
        'style="fill:none"/>'
    )


def document(width: int, height: int, body: str, label: str) -> str:
    """An inline ``<svg>`` that screen readers announce as one image named ``label``."""
    return (
        f'<svg viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" aria-label="{escape(label)}">'
        f"<title>{escape(label)}</title>{body}</svg>"
    )
