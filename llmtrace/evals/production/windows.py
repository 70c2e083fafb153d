"""Time windows over stored traces: ``24h``, ``7d..1d``, ``2026-11-01T00:00..2026-11-02T00:00``.

A window is half-open, ``[start, end)``, in UTC. Durations take ``s``, ``m``, ``h``, ``d`` and
``w`` everywhere (``--since 90m`` as well as ``7d..1d``), so one grammar covers the CLI options
and the ``WINDOW`` arguments of ``llmtrace drift``. A bad window is a :class:`WindowError`
(exit 2) naming the option and the value.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ...errors import UserError

__all__ = [
    "Window",
    "WindowError",
    "parse_duration",
    "parse_moment",
    "parse_window",
    "window_from_options",
]

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)([smhdw])$")
_UNIT_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_GRAMMAR = "use a duration like 24h or 7d (s, m, h, d, w), FROM..UNTIL, or an ISO time"


class WindowError(UserError):
    """A window, duration or time that cannot be read: the CLI exits 2 naming the option."""


@dataclass(frozen=True)
class Window:
    """The half-open UTC interval ``[start, end)`` of trace start times a gate or drift reads."""

    start: datetime
    end: datetime

    def label(self) -> str:
        """How reports and stored gate results name the window (ISO, to the second)."""
        return f"{_iso(self.start)}..{_iso(self.end)}"

    def __str__(self) -> str:
        return self.label()


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_duration(text: str, origin: str = "duration") -> timedelta:
    """``90m``, ``24h``, ``7d``, ``2w``, ``1.5h`` as a timedelta; anything else is an error."""
    match = _DURATION.match(text.strip())
    if not match:
        raise WindowError(f"{origin} {text!r}: not a duration; {_GRAMMAR}")
    value = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    return timedelta(seconds=value)


def parse_moment(text: str, now: datetime, origin: str = "time") -> datetime:
    """A point in time: a duration ago (``1d``), ``now``, or an ISO time (UTC unless it says
    otherwise)."""
    text = text.strip()
    if text == "now":
        return now
    if _DURATION.match(text):
        return now - parse_duration(text, origin)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise WindowError(f"{origin} {text!r}: not a time; {_GRAMMAR}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc)


def _checked(start: datetime, end: datetime, origin: str, text: str) -> Window:
    if start >= end:
        raise WindowError(
            f"{origin} {text!r}: the window is empty ({_iso(start)} is not before {_iso(end)})"
        )
    return Window(start, end)


def parse_window(text: str, now: datetime | None = None, origin: str = "window") -> Window:
    """``24h`` (the last 24 hours), ``7d..1d`` (from 7 days ago until 1 day ago) or
    ``FROM..UNTIL`` with ISO times; ``now`` defaults to the current UTC time."""
    now = now or datetime.now(timezone.utc)
    if ".." in text:
        since, _, until = text.partition("..")
        start = parse_moment(since, now, origin)
        end = parse_moment(until or "now", now, origin)
        return _checked(start, end, origin, text)
    return _checked(parse_moment(text, now, origin), now, origin, text)


def window_from_options(
    since: str | None,
    until: str | None,
    now: datetime,
    *,
    names: tuple[str, str] = ("--since", "--until"),
) -> Window | None:
    """The window of a ``--since``/``--until`` pair (None when neither is given). ``--since``
    may itself be a whole window (``7d..1d``); ``--until`` defaults to now."""
    if since is None:
        if until is not None:
            raise WindowError(f"{names[1]} {until!r} needs {names[0]}")
        return None
    if ".." in since:
        if until is not None:
            raise WindowError(f"{names[0]} {since!r} is already a window; drop {names[1]}")
        return parse_window(since, now, names[0])
    start = parse_moment(since, now, names[0])
    end = parse_moment(until, now, names[1]) if until is not None else now
    return _checked(start, end, names[0], since)
