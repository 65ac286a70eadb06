"""A/B test statistics: sufficient statistics, frequentist, CUPED, sequential and Bayesian tests, SRM, power.

- :mod:`~abrec.abtest.stats`: :class:`SampleStats`, :class:`RatioStats`, :class:`CupedStats` (sums that
  merge with ``+`` across shards and days) and :class:`Moments`.
- :mod:`~abrec.abtest.metrics`: :func:`aggregate_units` turns an interaction log into per-variant stats
  (proportion, mean, or delta-method ratio metrics per unit), :func:`quantile_samples` into per-variant
  values of per-unit totals (the p50/p90/p99 metrics); a :class:`Metric` names one, and
  :data:`DEFAULT_METRICS` are clicks per user, CTR, conversion and revenue per user.
- :mod:`~abrec.abtest.frequentist`: :func:`welch_ttest`, :func:`ztest`, :func:`proportions_ztest`
  returning a :class:`TestResult` with absolute and relative effects and intervals.
- :mod:`~abrec.abtest.cuped`: :func:`cuped_test` (pre-period covariate: pooled slope, Lin's interacted
  regression with HC errors, or GrowthBook's convention), :func:`lin_test` (HC2/HC3 from unit values),
  :func:`sequential_cuped_test` (the mSPRT on the adjusted effect).
- :mod:`~abrec.abtest.sequential`: :func:`sequential_test`, the always-valid mSPRT.
- :mod:`~abrec.abtest.group_sequential`: :func:`group_sequential_test` over a few planned looks with
  Lan-DeMets alpha spending (O'Brien-Fleming-, Pocock-type, power), :func:`group_sequential_boundaries`;
  :mod:`~abrec.abtest.futility`: :func:`futility_design`, beta-spending futility boundaries (binding or not).
- :mod:`~abrec.abtest.quantiles`: :func:`quantile_test` of p50/p90/p99 (gbstats' order-statistic or
  Spotify's resampling-free bootstrap standard error) on a :class:`QuantileSample` (merges with ``+``)
  or precomputed :class:`QuantileBounds`; :mod:`~abrec.abtest.sketch`: :class:`QuantileSketch`, a
  fixed-size DDSketch that merges with ``+`` across shards and periods (quantiles within a relative error).
- :mod:`~abrec.abtest.bayesian`: :func:`gaussian_test`, :func:`beta_binomial_test`.
- :mod:`~abrec.abtest.srm`: :func:`srm_test` for sample ratio mismatch under changing weights.
- :mod:`~abrec.abtest.proportions`: :func:`newcombe_interval`, :func:`risk_ratio_interval` (log scale) and
  :func:`chi_square_test` (2 x k, with or without Yates) for conversion rates.
- :mod:`~abrec.abtest.multiple`: :func:`adjust` (Bonferroni, Sidak, Holm, Holm-Sidak, BH, BY) and
  :func:`adjusted_intervals`; :func:`holm`, :func:`benjamini_hochberg`.
- :mod:`~abrec.abtest.power`: power, sample size and minimum detectable effect (means, proportions with
  Cohen's h, relative lifts, the mSPRT), and :func:`optimal_allocation` across many arms.
- :mod:`~abrec.abtest.best`: exact (quadrature) probabilities of being the best and second best.
- :mod:`~abrec.abtest.assignment`: salted-hash assignment, layers, holdouts, minimal-movement reweighting.
- :mod:`~abrec.abtest.allocation`: adaptive (top-two) Thompson allocation and period-weighted readouts.
- :mod:`~abrec.abtest.readout`: the per-variant readout of an experiment (from a log or per-period statistics),
  on one metric (``analyze_log``) or on a primary and secondary metrics together (``analyze_metrics``).

Pure statistics: importing :mod:`abrec.abtest` loads neither policies nor numba. Simulated experiments
of abrec policies live in :mod:`abrec.experiments`.

Examples
--------
>>> from abrec.abtest import SampleStats, welch_ttest
>>> control = SampleStats.from_values([0.0, 1.0, 0.0, 1.0, 1.0, 0.0])
>>> treatment = SampleStats.from_values([1.0, 1.0, 0.0, 1.0, 1.0, 1.0])
>>> r = welch_ttest(control, treatment)
>>> round(r.effect, 3), round(r.p_value, 3)
(0.333, 0.262)
"""

from __future__ import annotations

from .._interval import ConfidenceInterval
from .allocation import (
    PeriodStats,
    PeriodWeightedDifference,
    PeriodWeightedMeans,
    ThompsonAllocator,
    TopTwoThompsonAllocator,
    floor_weights,
    period_weighted_means,
)
from .assignment import N_BUCKETS, Assigner, BucketRange, Experiment, Layer, hash_units
from .bayesian import BayesianResult, GaussianPrior, beta_binomial_test, gaussian_test
from .best import (
    TopTwoProbabilities,
    prob_best_beta,
    prob_best_gaussian,
    prob_best_student_t,
    top_two_beta,
    top_two_gaussian,
    top_two_student_t,
)
from .cuped import CupedResult, cuped_test, lin_test, sequential_cuped_test
from .frequentist import TestResult, proportions_ztest, welch_ttest, ztest
from .futility import FutilityDesign, futility_design
from .group_sequential import (
    GroupSequentialBoundaries,
    GroupSequentialResult,
    alpha_spending,
    group_sequential_boundaries,
    group_sequential_test,
)
from .metrics import DEFAULT_METRICS, Metric, aggregate_units, quantile_samples
from .multiple import CORRECTION_METHODS, AdjustedIntervals, adjust, adjusted_intervals, benjamini_hochberg, holm
from .power import (
    cohens_h,
    mde_means,
    mde_proportions,
    mde_relative,
    optimal_allocation,
    power_means,
    power_proportions,
    power_relative,
    power_sequential,
    sample_size_means,
    sample_size_proportions,
    sample_size_relative,
    sample_size_sequential,
)
from .proportions import (
    ChiSquareResult,
    ProportionsInterval,
    chi_square_test,
    newcombe_interval,
    risk_ratio_interval,
)
from .quantiles import QuantileBounds, QuantileResult, QuantileSample, quantile_test
from .sequential import sequential_test
from .sketch import QuantileSketch
from .srm import SRMResult, srm_test
from .stats import CupedStats, Moments, RatioStats, SampleStats

__all__ = [
    "AdjustedIntervals",
    "Assigner",
    "BayesianResult",
    "BucketRange",
    "CORRECTION_METHODS",
    "ChiSquareResult",
    "ConfidenceInterval",
    "CupedResult",
    "CupedStats",
    "DEFAULT_METRICS",
    "Experiment",
    "FutilityDesign",
    "GaussianPrior",
    "GroupSequentialBoundaries",
    "GroupSequentialResult",
    "Layer",
    "Metric",
    "Moments",
    "N_BUCKETS",
    "PeriodStats",
    "PeriodWeightedDifference",
    "PeriodWeightedMeans",
    "ProportionsInterval",
    "QuantileBounds",
    "QuantileResult",
    "QuantileSample",
    "QuantileSketch",
    "RatioStats",
    "SRMResult",
    "SampleStats",
    "TestResult",
    "ThompsonAllocator",
    "TopTwoProbabilities",
    "TopTwoThompsonAllocator",
    "adjust",
    "adjusted_intervals",
    "aggregate_units",
    "alpha_spending",
    "benjamini_hochberg",
    "beta_binomial_test",
    "chi_square_test",
    "cohens_h",
    "cuped_test",
    "floor_weights",
    "futility_design",
    "gaussian_test",
    "group_sequential_boundaries",
    "group_sequential_test",
    "hash_units",
    "holm",
    "lin_test",
    "mde_means",
    "mde_proportions",
    "mde_relative",
    "newcombe_interval",
    "optimal_allocation",
    "period_weighted_means",
    "power_means",
    "power_proportions",
    "power_relative",
    "power_sequential",
    "prob_best_beta",
    "prob_best_gaussian",
    "prob_best_student_t",
    "proportions_ztest",
    "quantile_samples",
    "quantile_test",
    "risk_ratio_interval",
    "sample_size_means",
    "sample_size_proportions",
    "sample_size_relative",
    "sample_size_sequential",
    "sequential_cuped_test",
    "sequential_test",
    "srm_test",
    "top_two_beta",
    "top_two_gaussian",
    "top_two_student_t",
    "welch_ttest",
    "ztest",
]
