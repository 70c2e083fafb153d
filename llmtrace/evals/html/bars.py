"""Horizontal grouped bars: each bin's share in two or more count vectors (the drift report's
reference against current). Horizontal, so category names and bin ranges read as text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .svg import Scale, document, line, nice_ticks, rect, text, tick_label

__all__ = ["CountSeries", "share_bars"]

_W, _LABEL, _RIGHT, _TOP, _BAR, _GAP = 460, 150, 52, 8, 9, 7
_MAX_LABEL = 24


@dataclass(frozen=True)
class CountSeries:
    """Counts per bin; ``role`` is the CSS class ("cand" or "base") that colours and
    patterns it."""

    label: str
    counts: Sequence[int]
    role: str = "cand"


def _short(label: str) -> str:
    return label if len(label) <= _MAX_LABEL else label[: _MAX_LABEL - 1] + "…"


def share_bars(bins: Sequence[str], series: Sequence[CountSeries], title: str) -> str:
    """One group of bars per bin, one bar per series: the share of that series' count in the
    bin. Each bar says its exact share and count on hover; an empty series draws nothing."""
    totals = [sum(s.counts) for s in series]
    if not bins or not any(totals):
        return ""
    shares = [[c / t if t else 0.0 for c in s.counts] for s, t in zip(series, totals, strict=True)]
    top = max(max(share) for share in shares) or 1.0
    group = len(series) * _BAR + _GAP
    height = _TOP + group * len(bins) + 34
    x = Scale(0.0, top, _LABEL, _W - _RIGHT)
    bottom = height - 32  # room for the tick labels, then the axis title under them
    parts = [line(_LABEL, _TOP, _LABEL, bottom, "axis")]
    for tick in nice_ticks(0.0, top, 4):
        parts.append(line(x(tick), _TOP, x(tick), bottom, "grid"))
        parts.append(text(x(tick), bottom + 13, f"{tick_label(tick * 100)}%", cls="muted"))
    for b, name in enumerate(bins):
        y0 = _TOP + b * group
        parts.append(text(_LABEL - 6, y0 + group / 2 + 2, _short(name), anchor="end"))
        for i, (s, share) in enumerate(zip(series, shares, strict=True)):
            tip = f"{s.label}: {share[b]:.1%} ({s.counts[b]:,} of {totals[i]:,}) in {name}"
            parts.append(rect(_LABEL, y0 + i * _BAR, x(share[b]) - _LABEL, _BAR - 1, s.role, tip))
    parts.append(text((_LABEL + _W - _RIGHT) / 2, height - 2, "share of each side", cls="muted"))
    legend = "; ".join(f"{s.label}: {total:,}" for s, total in zip(series, totals, strict=True))
    return document(_W, height, "".join(parts), f"{title} (bars per bin). {legend}")
