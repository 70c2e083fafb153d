"""The statistics behind gates, in one place: intervals, paired differences, ratios, percentiles.

Conventions follow Miller (2024), "Adding Error Bars to Evals": example-epochs of one example are
not independent, so every interval counts clusters (examples), never observations; baseline
comparisons are paired by example id. Intervals are two-sided at ``confidence``, so each bound
of a gate is a one-sided test at ``(1 - confidence) / 2`` (2.5% at 0.95).

Which interval for which metric (each function's docstring states its assumptions):

- scores in [0, 1] and rates: :func:`bounded_mean` / :func:`clustered_rate`, Clopper-Pearson on
  the clustering-adjusted effective n, never narrower than the clusters alone allow, so an
  all-correct sample at n=5 gives [0.48, 1], not [1, 1];
- unbounded means (latency, cost, tokens): :func:`clustered_mean`, Student t;
- percentiles: :func:`percentile_interval`, distribution-free order statistics on clusters, with
  an unbounded end (``inf``) when the sample is too small to bound the percentile;
- ratios (cost per success, relative bounds): :func:`ratio_interval`, Fieller's interval,
  whose decision at a bound is exactly the t-test of the linearised difference;
- anything else: :func:`bootstrap_interval` (seeded cluster bootstrap) that counts resamples
  where the statistic is undefined and widens the interval for them instead of dropping them.

Everything here is pure Python and numpy: scipy and statsmodels are only used by the tests, as
independent references.
"""

from __future__ import annotations

from ._types import Decision, Interval
from .bootstrap import bootstrap_distribution, bootstrap_interval, interval_from_distribution
from .decisions import decide, minimum_detectable_effect, one_sided_p_value, required_n
from .distributions import beta_cdf, beta_quantile, t_cdf, t_quantile
from .intervals import (
    bounded_mean,
    clopper_pearson_interval,
    clustered_mean,
    clustered_rate,
    effective_n,
    paired_difference,
    wilson_interval,
    zero_count_upper_bound,
)
from .percentiles import clustered_percentile, percentile_interval, percentile_min_clusters
from .ratios import cox_limits, johnson_limits, ratio_interval

__all__ = [
    "Decision",
    "Interval",
    "beta_cdf",
    "beta_quantile",
    "bootstrap_distribution",
    "bootstrap_interval",
    "bounded_mean",
    "clopper_pearson_interval",
    "clustered_mean",
    "clustered_percentile",
    "clustered_rate",
    "cox_limits",
    "decide",
    "effective_n",
    "interval_from_distribution",
    "johnson_limits",
    "minimum_detectable_effect",
    "one_sided_p_value",
    "paired_difference",
    "percentile_interval",
    "percentile_min_clusters",
    "ratio_interval",
    "required_n",
    "t_cdf",
    "t_quantile",
    "wilson_interval",
    "zero_count_upper_bound",
]
