"""Every interval in llmtrace.evals.stats against an independent reference (scipy,
statsmodels, or the closed form by hand), to 1e-9 where a closed form exists (issue 13)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as sp
from statsmodels.stats.proportion import proportion_confint

from llmtrace.evals import stats
from llmtrace.evals.stats.ratios import _fieller

COUNTS = [(0, 1), (0, 5), (5, 5), (3, 10), (0, 10), (10, 10), (50, 100), (199, 200), (1, 3000)]


@pytest.mark.parametrize(
    ("a", "b"), [(0.5, 0.5), (1, 1), (3, 7), (100, 3000), (2999, 2), (0.3, 10)]
)
@pytest.mark.parametrize("p", [1e-6, 0.025, 0.3, 0.5, 0.975, 0.999999])
def test_beta_quantile_matches_scipy(a, b, p):
    assert stats.beta_quantile(p, a, b) == pytest.approx(sp.beta.ppf(p, a, b), abs=1e-9)
    assert stats.beta_cdf(sp.beta.ppf(p, a, b), a, b) == pytest.approx(p, abs=1e-9)


@pytest.mark.parametrize(("k", "n"), COUNTS)
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
def test_clopper_pearson_matches_statsmodels(k, n, confidence):
    low, high = proportion_confint(k, n, 1 - confidence, method="beta")
    interval = stats.clopper_pearson_interval(k, n, confidence)
    assert interval.low == pytest.approx(low, abs=1e-9)
    assert interval.high == pytest.approx(high, abs=1e-9)


@pytest.mark.parametrize(("k", "n"), COUNTS)
def test_wilson_matches_statsmodels(k, n):
    low, high = proportion_confint(k, n, 0.05, method="wilson")
    interval = stats.wilson_interval(k, n, 0.95)
    assert interval.low == pytest.approx(low, abs=1e-9)
    assert interval.high == pytest.approx(high, abs=1e-9)


@pytest.mark.parametrize("n", [1, 5, 60, 300, 3000])
def test_zero_count_upper_bound_is_clopper_pearson_of_none(n):
    _, high = proportion_confint(0, n, 0.05, method="beta")
    assert stats.zero_count_upper_bound(n, 0.95) == pytest.approx(high, abs=1e-12)


def test_five_of_five_correct_does_not_pass_min_0_99():
    clusters = {f"e{i}": [1.0] for i in range(5)}
    interval = stats.bounded_mean(clusters, 0.95)
    assert interval.low == pytest.approx(0.025 ** (1 / 5), abs=1e-12)  # 0.478
    assert interval.high == 1.0
    assert stats.decide(interval, 0.99, "min") == "warn"


def test_bounded_mean_on_one_epoch_is_clopper_pearson_on_examples():
    clusters = {f"e{i}": [1.0 if i < 17 else 0.0] for i in range(20)}
    low, high = proportion_confint(17, 20, 0.05, method="beta")
    interval = stats.bounded_mean(clusters, 0.95)
    assert (interval.low, interval.high) == (
        pytest.approx(low, abs=1e-9),
        pytest.approx(high, abs=1e-9),
    )


def test_effective_n_by_hand():
    # 4 examples x 2 epochs; example means 1, 1, 0.5, 0 -> p = 0.625; variance (ddof 1) of the
    # means = 0.22916..; n_eff = p(1-p) / (var / n) * (z / t_3)^2, held in [4, 8]
    clusters = {"a": [1.0, 1.0], "b": [1.0, 1.0], "c": [1.0, 0.0], "d": [0.0, 0.0]}
    means = np.array([1.0, 1.0, 0.5, 0.0])
    raw = 0.625 * 0.375 / (means.var(ddof=1) / 4) * (sp.norm.ppf(0.975) / sp.t.ppf(0.975, 3)) ** 2
    interval = stats.bounded_mean(clusters, 0.95)
    assert interval.n_eff == pytest.approx(min(8.0, max(4.0, raw)), abs=1e-9)
    low, high = proportion_confint(0.625 * interval.n_eff, interval.n_eff, 0.05, method="beta")
    assert (interval.low, interval.high) == (
        pytest.approx(low, abs=1e-9),
        pytest.approx(high, abs=1e-9),
    )


def test_unknown_outcomes_count_against_the_rate_on_the_high_side():
    clusters = {f"e{i}": [0.0] for i in range(29)} | {"broken": [math.nan]}
    interval = stats.clustered_rate(clusters, 0.95)
    assert interval.estimate == 0.0 and interval.low == 0.0
    _, high = proportion_confint(1, 30, 0.05, method="beta")
    assert interval.high == pytest.approx(high, abs=1e-9)
    assert "1 of 30 example-epochs unknown" in interval.note


@pytest.mark.parametrize("m", [10, 50, 71, 72, 200, 1000])
@pytest.mark.parametrize("q", [0.5, 0.95, 0.99])
def test_percentile_interval_matches_scipy_quantile_test(m, q):
    x = np.random.default_rng(m).lognormal(0, 1, m)
    reference = sp.quantile_test(x, q=0, p=q).confidence_interval(0.95)
    interval = stats.percentile_interval({str(i): [v] for i, v in enumerate(x)}, q * 100, 0.95)
    expected_low = -math.inf if math.isnan(reference.low) else reference.low
    expected_high = math.inf if math.isnan(reference.high) else reference.high
    assert (interval.low, interval.high) == (expected_low, expected_high)
    if math.isinf(expected_high):
        assert "cannot bound" in interval.note


def test_percentile_min_clusters_by_brute_force():
    for q, expected in ((95, 72), (99, 368), (50, 6)):
        brute = next(m for m in range(1, 1000) if sp.binom.cdf(m - 1, m, q / 100) >= 0.975)
        assert stats.percentile_min_clusters(q, 0.95) == brute == expected


def test_percentile_counts_examples_not_epochs():
    # 20 examples x 10 epochs: 200 observations but 20 examples, too few to bound p95
    rng = np.random.default_rng(2)
    clusters = {f"e{i}": list(rng.lognormal(0, 1, 10)) for i in range(20)}
    assert stats.percentile_interval(clusters, 95, 0.95).high == math.inf


@pytest.mark.parametrize("n", [8, 30, 200])
def test_ratio_interval_contains_fieller_whose_ends_are_where_the_t_test_turns(n):
    # Fieller's ends are the r where the one-sided t-test of x - r*y has p = 0.025 exactly
    rng = np.random.default_rng(n)
    y = rng.uniform(1, 2, n)
    x = 2.0 * y + rng.normal(0, 0.3, n)
    fieller_low, fieller_high = _fieller(x, y, 0.95)
    assert sp.ttest_1samp(x - fieller_high * y, 0, alternative="less").pvalue == pytest.approx(
        0.025, abs=1e-9
    )
    assert sp.ttest_1samp(x - fieller_low * y, 0, alternative="greater").pvalue == pytest.approx(
        0.025, abs=1e-9
    )
    interval = stats.ratio_interval(x, y, 0.95)
    assert interval.low <= fieller_low < interval.estimate < fieller_high <= interval.high
    assert interval.estimate == pytest.approx(x.mean() / y.mean(), abs=1e-12)
    # and the skew-corrected end is where Johnson's upper limit of x - r*y crosses 0
    if interval.high > fieller_high:
        assert stats.johnson_limits(x - interval.high * y, 0.95)[1] == pytest.approx(0, abs=1e-8)


def test_johnson_limits_by_hand_and_without_skew():
    v = np.array([1.0, 2.0, 2.5, 3.0, 3.6, 4.0, 4.2, 6.0])
    n, mean, sd = len(v), v.mean(), v.std(ddof=1)
    m3 = ((v - mean) ** 3).sum() / n * n * n / ((n - 1) * (n - 2))
    g, k, se, t = m3 / (6 * sd**2 * n), m3 / (3 * sd**4), sd / math.sqrt(n), sp.t.ppf(0.975, 7)
    roots = [mean - (-1 + math.sqrt(1 - 4 * k * (g + s))) / (2 * k) for s in (-t * se, t * se)]
    assert stats.johnson_limits(v, 0.95) == (
        pytest.approx(roots[0], abs=1e-9),
        pytest.approx(roots[1], abs=1e-9),
    )
    # so skewed that the corrected statistic never reaches the quantile: unbounded, not narrow
    assert stats.johnson_limits([1.0, 2.0, 2.5, 3.0, 5.0], 0.95)[1] == math.inf
    symmetric = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    low, high = sp.t.interval(0.95, 4, loc=3.0, scale=sp.sem(symmetric))
    assert stats.johnson_limits(symmetric, 0.95) == (
        pytest.approx(low, abs=1e-9),
        pytest.approx(high, abs=1e-9),
    )


def test_skew_corrected_mean_contains_the_t_interval():
    rng = np.random.default_rng(4)
    clusters = {f"e{i}": list(rng.lognormal(5, 1, 2)) for i in range(15)}
    plain = stats.clustered_mean(clusters, 0.95)
    corrected = stats.clustered_mean(clusters, 0.95, skew_correction=True)
    assert corrected.low <= plain.low and corrected.high > plain.high


def test_paired_difference_on_identical_deterministic_runs_is_not_zero_width():
    same = {f"e{i}": [1.0, 1.0] for i in range(60)}
    interval = stats.paired_difference(same, same, 0.95, bounded=True)
    floor = stats.zero_count_upper_bound(60, 0.95)
    assert (interval.low, interval.high) == (pytest.approx(-floor), pytest.approx(floor))
    assert stats.decide(interval, 0.0, "min") == "warn"


def test_bootstrap_counts_undefined_resamples_instead_of_dropping_them():
    # one example of ten has a success; resamples without it are 0/0
    def ratio(keys):
        successes = sum(k == "e0" for k in keys)
        return len(keys) / successes if successes else math.nan

    keys = [f"e{i}" for i in range(10)]
    interval = stats.bootstrap_interval(ratio, keys, 0.95, resamples=1000, seed=1)
    undefined = int(interval.note.split(" of ")[0])
    assert 300 < undefined < 400  # (9/10)^10 = 35% of resamples
    assert interval.high == math.inf and interval.low == -math.inf


def test_one_sided_p_value_matches_scipy_t_test():
    rng = np.random.default_rng(8)
    clusters = {f"e{i}": [float(v)] for i, v in enumerate(rng.normal(0.5, 1.0, 40))}
    means = np.array([v[0] for v in clusters.values()])
    bound = -0.1
    p_value = stats.one_sided_p_value(
        lambda c: stats.clustered_mean(clusters, c), bound, "max", "fail"
    )
    reference = sp.ttest_1samp(means, bound, alternative="greater").pvalue
    assert p_value == pytest.approx(reference, rel=1e-5)


def test_public_names_of_design_section_11():
    for name in (
        "clustered_mean",
        "paired_difference",
        "wilson_interval",
        "clustered_rate",
        "bootstrap_interval",
        "t_quantile",
        "decide",
    ):
        assert name in stats.__all__
        assert getattr(stats, name).__doc__
    assert stats.__all__ == sorted(stats.__all__)


@pytest.mark.parametrize("seed", range(4))
def test_cox_limits_match_the_closed_form_computed_with_scipy(seed):
    # modified Cox (Olsson 2005): exp(ybar + s2/2 +- t_{n-1} sqrt(s2/n + s2^2 / (2(n-1))))
    values = np.random.default_rng(seed).lognormal(6.0, 0.7, size=12)
    logs = np.log(values)
    n, s2 = len(logs), logs.var(ddof=1)
    half = sp.t.ppf(0.975, n - 1) * math.sqrt(s2 / n + s2**2 / (2 * (n - 1)))
    expected = (math.exp(logs.mean() + s2 / 2 - half), math.exp(logs.mean() + s2 / 2 + half))
    assert stats.cox_limits(values, 0.95) == pytest.approx(expected, rel=1e-12)
    assert stats.cox_limits([*values, 0.0], 0.95) == (-math.inf, math.inf)  # no log scale


def test_small_lognormal_samples_put_the_mean_below_the_upper_end_as_promised():
    # the skew-corrected mean's upper end at n=10: the t and Johnson limits alone fall below
    # a lognormal mean about 5-6% of the time; with the log-scale limit at most 4% (2.5% nominal)
    rng = np.random.default_rng(7)
    sd = 0.8
    truth = sp.lognorm(sd, scale=math.exp(6.0)).mean()
    misses = 0
    for _ in range(2000):
        sample = rng.lognormal(6.0, sd, size=10)
        clusters = {str(i): [v] for i, v in enumerate(sample)}
        misses += stats.clustered_mean(clusters, 0.95, skew_correction=True).high < truth
    assert misses / 2000 <= 0.04
