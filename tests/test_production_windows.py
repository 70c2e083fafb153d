"""Windows (``24h``, ``7d..1d``, ISO ranges) and the interval helpers of production gates."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest

from llmtrace.evals import stats
from llmtrace.evals.production import trace_stats
from llmtrace.evals.production.windows import (
    Window,
    WindowError,
    parse_duration,
    parse_window,
    window_from_options,
)

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("90m", 5400), ("24h", 86400), ("7d", 604800), ("2w", 1209600), ("1.5h", 5400)],
)
def test_durations_take_s_m_h_d_w(text: str, seconds: int) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


def test_windows_relative_ranged_and_iso() -> None:
    assert parse_window("24h", NOW) == Window(NOW - timedelta(hours=24), NOW)
    assert parse_window("7d..1d", NOW) == Window(NOW - timedelta(days=7), NOW - timedelta(days=1))
    iso = parse_window("2026-11-01T00:00..2026-11-02T00:00", NOW)
    assert iso.start == datetime(2026, 11, 1, tzinfo=timezone.utc)
    assert iso.label() == "2026-11-01T00:00:00Z..2026-11-02T00:00:00Z"
    assert parse_window("2d..", NOW).end == NOW


def test_options_make_the_same_windows() -> None:
    assert window_from_options("8d", "1d", NOW) == parse_window("8d..1d", NOW)
    assert window_from_options("8d..1d", None, NOW) == parse_window("8d..1d", NOW)
    assert window_from_options(None, None, NOW) is None


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        ("24x", None, "--since '24x': not a time"),
        ("1d", "2d", "the window is empty"),
        ("7d..1d", "1h", "is already a window"),
        (None, "1d", "needs --since"),
        ("yesterday", None, "not a time"),
    ],
)
def test_bad_windows_say_what_and_where(since: str | None, until: str | None, message: str) -> None:
    with pytest.raises(WindowError, match=message):
        window_from_options(since, until, NOW)


@pytest.mark.parametrize("n", [1, 5, 20, 72, 100, 368, 1000, 5000])
@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_order_ranks_match_the_eval_gate_percentile_interval(n: int, q: float) -> None:
    # on the values 1..n, one per example, the eval gate's interval ends are the ranks
    found = stats.percentile_interval({str(i): [float(i)] for i in range(1, n + 1)}, q * 100, 0.95)
    low = 0 if math.isinf(found.low) else int(found.low)
    high = n + 1 if math.isinf(found.high) else int(found.high)
    assert trace_stats.order_ranks(n, q, 0.95) == (low, high)


def test_singleton_clusters_give_clopper_pearson() -> None:
    outcomes = np.array([1.0] * 7 + [0.0] * 93)
    found = trace_stats.clustered_ratio_rate(outcomes, np.ones(100), 0.95)
    exact = stats.clopper_pearson_interval(7, 100, 0.95)
    assert (found.estimate, found.low, found.high) == pytest.approx(
        (exact.estimate, exact.low, exact.high), abs=1e-12
    )


def test_clustered_rate_is_per_observation_and_wider_when_clusters_agree() -> None:
    # 20 conversations of 5 traces each: all-or-nothing errors are worth 20 trials, not 100
    totals = np.array([5.0] * 4 + [0.0] * 16)
    sizes = np.full(20, 5.0)
    clustered = trace_stats.clustered_ratio_rate(totals, sizes, 0.95)
    independent = stats.clopper_pearson_interval(20, 100, 0.95)
    assert clustered.estimate == pytest.approx(0.2)
    assert clustered.n_eff == pytest.approx(20.0, rel=0.2)
    assert clustered.high - clustered.low > independent.high - independent.low


def test_unpaired_difference_and_relative_combine_the_ends() -> None:
    cand = stats.Interval(12.0, 10.0, 14.0, 50)
    base = stats.Interval(6.0, 5.0, 8.0, 60)
    diff = trace_stats.difference(cand, base)
    assert (diff.estimate, diff.low, diff.high, diff.n) == (6.0, 2.0, 9.0, 50)
    relative = trace_stats.relative_pct(cand, base)
    assert relative is not None
    assert (relative.estimate, relative.low, relative.high) == pytest.approx((100.0, 25.0, 180.0))
    assert trace_stats.relative_pct(cand, stats.Interval(0.0, 0.0, 0.0, 5)) is None
    assert math.isinf(trace_stats.relative_pct(cand, stats.Interval(1.0, 0.0, 2.0, 5)).high)  # type: ignore[union-attr]
