"""A/B test statistics: sufficient statistics, frequentist, CUPED, sequential and Bayesian tests, SRM, power.

- :mod:`~abrec.abtest.stats`: :class:`SampleStats`, :class:`RatioStats`, :class:`CupedStats` (sums that
  merge with ``+`` across shards and days) and :class:`Moments`.
- :mod:`~abrec.abtest.metrics`: :func:`aggregate_units` turns an interaction log into per-variant stats
  (proportion, mean, or delta-method ratio metrics per unit); a :class:`Metric` names one, and
  :data:`DEFAULT_METRICS` are clicks per user, CTR, conversion and revenue per user.
- :mod:`~abrec.abtest.frequentist`: :func:`welch_ttest`, :func:`ztest`, :func:`proportions_ztest`
  returning a :class:`TestResult` with absolute and relative effects and intervals.
- :mod:`~abrec.abtest.cuped`: :func:`cuped_test` (pre-period covariate, pooled theta).
- :mod:`~abrec.abtest.sequential`: :func:`sequential_test`, the always-valid mSPRT.
- :mod:`~abrec.abtest.bayesian`: :func:`gaussian_test`, :func:`beta_binomial_test`.
- :mod:`~abrec.abtest.srm`: :func:`srm_test` for sample ratio mismatch under changing weights.
- :mod:`~abrec.abtest.multiple`: :func:`holm`, :func:`benjamini_hochberg`.
- :mod:`~abrec.abtest.power`: power, sample size and minimum detectable effect.
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
from .cuped import CupedResult, cuped_test
from .frequentist import TestResult, proportions_ztest, welch_ttest, ztest
from .metrics import DEFAULT_METRICS, Metric, aggregate_units
from .multiple import benjamini_hochberg, holm
from .power import (
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    sample_size_means,
    sample_size_proportions,
)
from .sequential import sequential_test
from .srm import SRMResult, srm_test
from .stats import CupedStats, Moments, RatioStats, SampleStats

__all__ = [
    "Assigner",
    "BayesianResult",
    "BucketRange",
    "ConfidenceInterval",
    "CupedResult",
    "CupedStats",
    "DEFAULT_METRICS",
    "Experiment",
    "GaussianPrior",
    "Layer",
    "Metric",
    "Moments",
    "N_BUCKETS",
    "PeriodStats",
    "PeriodWeightedDifference",
    "PeriodWeightedMeans",
    "RatioStats",
    "SRMResult",
    "SampleStats",
    "TestResult",
    "ThompsonAllocator",
    "TopTwoThompsonAllocator",
    "aggregate_units",
    "benjamini_hochberg",
    "beta_binomial_test",
    "cuped_test",
    "floor_weights",
    "gaussian_test",
    "hash_units",
    "holm",
    "mde_means",
    "mde_proportions",
    "period_weighted_means",
    "power_means",
    "power_proportions",
    "proportions_ztest",
    "sample_size_means",
    "sample_size_proportions",
    "sequential_test",
    "srm_test",
    "welch_ttest",
    "ztest",
]
