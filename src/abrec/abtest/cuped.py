"""CUPED: variance reduction with a pre-experiment covariate (Deng, Xu, Kohavi and Walker, WSDM 2013).

Each unit's metric ``y`` is replaced by ``y - theta * (x - mean_x)``, with ``x`` its pre-period
covariate (typically the same metric before the experiment), ``mean_x`` the covariate's mean over
both arms and ``theta`` the within-arm regression slope pooled across the arms,
``theta = (S_xy_c + S_xy_t) / (S_xx_c + S_xx_t)`` (centred sums of products). Because the covariate
was measured before assignment, the adjusted effect is unbiased, and its variance shrinks by about
``corr(x, y)**2``. The adjusted arms are then compared with Welch's t test or the z test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Literal

from .._interval import ConfidenceInterval
from .._params import StrOptions, validate_params
from ._common import Alternative, check_alpha, check_alternative, check_summaries
from .frequentist import TestResult, welch_ttest, ztest
from .stats import CupedStats, Moments

__all__ = ["CupedResult", "cuped_test"]

_METHOD = {"method": StrOptions(("welch-t", "z"))}


@dataclass(frozen=True, slots=True)
class CupedResult:
    """A CUPED-adjusted test and the unadjusted test it improves on.

    Attributes
    ----------
    test : TestResult
        The test on the adjusted metric (method 'cuped-welch-t' or 'cuped-z').
    raw : TestResult
        The same test without the covariate.
    theta : float
        The pooled regression slope of the metric on the covariate.
    variance_reduction : float
        ``1 - var_adjusted / var_raw`` of the effect estimate (about ``corr**2``; 0 means no gain).
    """

    test: TestResult
    raw: TestResult
    theta: float
    variance_reduction: float

    def confidence_interval(self, *, relative: bool = False) -> ConfidenceInterval:
        """The adjusted test's interval (of the relative effect with ``relative=True``)."""
        return self.test.confidence_interval(relative=relative)


def _adjusted(stats: CupedStats, theta: float, pooled_pre_mean: float) -> Moments:
    var = stats.variance - 2 * theta * stats.covariance + theta**2 * stats.pre.variance
    mean = stats.mean - theta * (stats.pre.mean - pooled_pre_mean)
    return Moments(stats.n, mean, max(var, 0.0))


def cuped_test(
    control: CupedStats,
    treatment: CupedStats,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    method: Literal["welch-t", "z"] = "welch-t",
) -> CupedResult:
    """Compare treatment with control on a CUPED-adjusted metric.

    Parameters
    ----------
    control, treatment : CupedStats
        Each arm's metric and pre-period covariate sums; at least two units each.
    alpha : float, default 0.05
        Significance level in (0, 1).
    alternative : {'two-sided', 'greater', 'less'}, default 'two-sided'
    method : {'welch-t', 'z'}, default 'welch-t'
        The test run on the adjusted arms.

    Returns
    -------
    CupedResult

    Raises
    ------
    abrec.errors.ParameterError
        For a bad alpha, alternative or method.
    abrec.errors.InputError
        When an arm has fewer than two units.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> pre = rng.normal(10, 2, size=(2, 500))
    >>> post = pre + rng.normal(0, 1, size=(2, 500)) + np.array([[0.0], [0.3]])
    >>> r = cuped_test(CupedStats.from_values(post[0], pre[0]), CupedStats.from_values(post[1], pre[1]))
    >>> round(r.theta, 2), round(r.variance_reduction, 2), r.test.p_value < 0.05 < r.raw.p_value
    (1.03, 0.8, True)
    """
    check_alpha("cuped_test", alpha)
    check_alternative("cuped_test", alternative)
    validate_params("cuped_test", _METHOD, {"method": method})
    check_summaries("cuped_test", control, treatment)
    s_xx = control.pre.variance * (control.n - 1) + treatment.pre.variance * (treatment.n - 1)
    s_xy = control.covariance * (control.n - 1) + treatment.covariance * (treatment.n - 1)
    theta = s_xy / s_xx if s_xx > 0 else 0.0
    pooled_pre_mean = (control.sum_pre + treatment.sum_pre) / (control.n + treatment.n)
    run = welch_ttest if method == "welch-t" else ztest
    raw = run(control, treatment, alpha=alpha, alternative=alternative)
    adjusted = run(
        _adjusted(control, theta, pooled_pre_mean),
        _adjusted(treatment, theta, pooled_pre_mean),
        alpha=alpha,
        alternative=alternative,
    )
    reduction = 1.0 - adjusted.standard_error**2 / raw.standard_error**2 if raw.standard_error > 0 else math.nan
    return CupedResult(replace(adjusted, method=f"cuped-{method}"), raw, theta, reduction)
