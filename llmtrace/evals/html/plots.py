"""The plots of a report, as inline SVG: an interval against its bound, ECDFs and histograms.

Large runs are decimated (an ECDF keeps at most ``MAX_POINTS`` evenly spaced order statistics),
so a 10,000-example run draws as fast and weighs as little as a 500-example one.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .page import format_number
from .svg import Scale, document, line, nice_ticks, polyline, rect, text, tick_label

__all__ = ["MAX_POINTS", "Series", "ecdf_plot", "histogram_plot", "interval_plot"]

MAX_POINTS = 300
_LOG_SPREAD = 100.0  # beyond this max/min ratio a linear axis shows only the tail
_W, _H = 520, 270
_LEFT, _RIGHT, _TOP, _BOTTOM = 52, 16, 14, 46


@dataclass(frozen=True)
class Series:
    """One distribution to draw: ``role`` "cand" (solid) or "base" (dashed) picks the style."""

    label: str
    values: Sequence[float]
    role: str = "cand"


def _padded(values: Sequence[float]) -> tuple[float, float]:
    lo, hi = min(values), max(values)
    pad = (hi - lo) * 0.08 or abs(hi) * 0.1 or 1.0
    return lo - pad, hi + pad


def interval_plot(
    estimate: float | None,
    low: float | None,
    high: float | None,
    bound: float | None,
    direction: str | None,
    decision: str,
    width: int = 250,
    height: int = 44,
) -> str:
    """The interval as a bar in its decision's colour, the estimate as a dot, the bound as a
    dashed line with the side that breaks it shaded; an unbounded end runs off the edge."""
    finite = [v for v in (estimate, low, high, bound) if v is not None and math.isfinite(v)]
    if not finite:
        return ""
    lo, hi = _padded(finite)
    x = Scale(lo, hi, 6, width - 6)
    mid = 16
    parts = []
    if bound is not None and direction in ("min", "max"):
        edge = x(bound)
        left, right = (0.0, edge) if direction == "min" else (edge, float(width))
        parts.append(
            f'<rect x="{left:.1f}" y="2" width="{right - left:.1f}" height="28" '
            'fill="#8a94a6" fill-opacity="0.16"/>'
        )
        parts.append(line(edge, 1, edge, 31, "bound"))
        anchor = "end" if edge > width - 40 else "start" if edge < 40 else "middle"
        parts.append(text(edge, height - 3, f"bound {tick_label(bound)}", anchor))
    if low is not None and high is not None:
        x1 = 0.0 if math.isinf(low) else x(low)
        x2 = float(width) if math.isinf(high) else x(high)
        parts.append(line(x1, mid, x2, mid, f"i-{decision}", ' stroke-width="6"'))
        for end, infinite in ((x1, math.isinf(low)), (x2, math.isinf(high))):
            if not infinite:
                parts.append(line(end, mid - 7, end, mid + 7, f"i-{decision}", ' stroke-width="2"'))
    if estimate is not None and math.isfinite(estimate):
        parts.append(
            f'<circle cx="{x(estimate):.1f}" cy="{mid}" r="5" class="i-{decision}" '
            'stroke="#fff" stroke-width="1.5"/>'
        )
    label = (
        f"{decision}: estimate {format_number(estimate)}, interval [{format_number(low)}, "
        f"{format_number(high)}], bound {direction or ''} {format_number(bound)}"
    )
    return document(width, height, "".join(parts), label)


def _decimated(values: Sequence[float]) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values and their ECDF heights, at most MAX_POINTS of them."""
    ordered = np.sort(np.asarray([v for v in values if math.isfinite(v)], dtype=float))
    n = len(ordered)
    heights = np.arange(1, n + 1) / n
    if n > MAX_POINTS:
        keep = np.unique(np.linspace(0, n - 1, MAX_POINTS).round().astype(int))
        return ordered[keep], heights[keep]
    return ordered, heights


def _axes(
    x: Scale,
    y: Scale,
    labels: tuple[str, str],
    y_ticks: Sequence[float],
    x_ticks: Sequence[tuple[float, str]] = (),
) -> str:
    x_label, y_label = labels
    parts = []
    for tick in y_ticks:
        parts.append(line(_LEFT, y(tick), _W - _RIGHT, y(tick), "grid"))
        parts.append(text(_LEFT - 6, y(tick) + 4, tick_label(tick), "end"))
    for tick, name in x_ticks or [(t, tick_label(t)) for t in nice_ticks(x.lo, x.hi, 5)]:
        parts.append(line(x(tick), _H - _BOTTOM, x(tick), _H - _BOTTOM + 4, "axis"))
        parts.append(text(x(tick), _H - _BOTTOM + 16, name))
    parts.append(line(_LEFT, _H - _BOTTOM, _W - _RIGHT, _H - _BOTTOM, "axis"))
    parts.append(text((_LEFT + _W - _RIGHT) / 2, _H - 8, x_label))
    parts.append(
        f'<text x="12" y="{(_TOP + _H - _BOTTOM) / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 12 {(_TOP + _H - _BOTTOM) / 2:.0f})">{y_label}</text>'
    )
    return "".join(parts)


def _log_ticks(lo: float, hi: float) -> list[tuple[float, str]]:
    """Ticks at 1, 2 and 5 times powers of ten, placed in log10 space between lo and hi."""
    ticks = [
        (k + math.log10(m), tick_label(m * 10.0**k))
        for k in range(math.floor(lo), math.ceil(hi) + 1)
        for m in (1, 2, 5)
        if lo <= k + math.log10(m) <= hi
    ]
    return [t for t in ticks if t[1].lstrip("0.").startswith("1")] if len(ticks) > 8 else ticks


def _steps(
    xs: np.ndarray, heights: np.ndarray, x: Callable[[float], float], y: Scale
) -> list[tuple[float, float]]:
    points = [(x(float(xs[0])), y(0.0))]
    previous = 0.0
    for value, height in zip(xs.tolist(), heights.tolist(), strict=True):
        points += [(x(value), y(previous)), (x(value), y(height))]
        previous = height
    points.append((float(_W - _RIGHT), y(1.0)))
    return points


def ecdf_plot(series: Sequence[Series], x_label: str, title: str) -> str:
    """Empirical CDFs on one axis: the share of examples at or below each value. Values that
    spread over more than two orders of magnitude (latency tails) get a log axis."""
    drawn = [(s, *_decimated(s.values)) for s in series if len(s.values)]
    drawn = [(s, xs, heights) for s, xs, heights in drawn if len(xs)]
    if not drawn:
        return ""
    lo = min(float(xs[0]) for _, xs, _ in drawn)
    hi = max(float(xs[-1]) for _, xs, _ in drawn)
    log = lo > 0 and hi / lo > _LOG_SPREAD

    def position(value: float) -> float:
        return math.log10(value) if log else value

    scale = Scale(*_padded([position(lo), position(hi)]), _LEFT, _W - _RIGHT)

    def x(value: float) -> float:
        return scale(position(value))

    y = Scale(0.0, 1.0, _H - _BOTTOM, _TOP)
    labels = (x_label + (", log scale" if log else ""), "share of examples ≤ x")
    x_ticks = _log_ticks(scale.lo, scale.hi) if log else ()
    parts = [_axes(scale, y, labels, [0, 0.25, 0.5, 0.75, 1.0], x_ticks)]
    for s, xs, heights in drawn:
        parts.append(polyline(_steps(xs, heights, x, y), s.role, dashed=s.role == "base"))
    summary = "; ".join(
        f"{s.label}: n={len(s.values)}, median {format_number(float(np.median(s.values)))}"
        for s, _, _ in drawn
    )
    return document(_W, _H, "".join(parts), f"{title} (ECDF). {summary}")


def histogram_plot(
    series: Sequence[Series],
    edges: Sequence[float],
    x_label: str,
    title: str,
    x_ticks: Sequence[tuple[float, str]] = (),
) -> str:
    """Side-by-side bars per bin: the share of each series' values falling in it.
    ``x_ticks`` (value, label) replace the numeric ticks (name the bins of a pass/fail score)."""
    drawn = [s for s in series if len(s.values)]
    if not drawn or len(edges) < 2:
        return ""
    shares = []
    for s in drawn:
        counts, _ = np.histogram(np.clip(s.values, edges[0], edges[-1]), bins=np.asarray(edges))
        shares.append(counts / max(len(s.values), 1))
    top = max(float(max(share)) for share in shares) or 1.0
    x = Scale(edges[0], edges[-1], _LEFT, _W - _RIGHT)
    y = Scale(0.0, top, _H - _BOTTOM, _TOP)
    parts = [_axes(x, y, (x_label, "share of examples"), nice_ticks(0.0, top, 4), x_ticks)]
    for b in range(len(edges) - 1):
        slot = (x(edges[b + 1]) - x(edges[b])) / (len(drawn) + 0.6)
        for i, (s, share) in enumerate(zip(drawn, shares, strict=True)):
            left = x(edges[b]) + slot * (0.3 + i)
            value = float(share[b])
            label = f"{s.label}: {value:.1%} in [{edges[b]:.3g}, {edges[b + 1]:.3g}]"
            parts.append(rect(left, y(value), slot * 0.92, y(0.0) - y(value), s.role, label))
    means = "; ".join(f"{s.label}: mean {format_number(float(np.mean(s.values)))}" for s in drawn)
    return document(_W, _H, "".join(parts), f"{title} (histogram). {means}")
