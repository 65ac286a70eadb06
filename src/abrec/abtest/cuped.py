"""CUPED: variance reduction with a pre-experiment covariate ``x`` (Deng, Xu, Kohavi and Walker, WSDM 2013).

Three estimators of ``treatment - control`` on a metric ``y`` (``method=``), each a difference of
the arms' adjusted means ``mean_y - theta * (mean_x - pooled_mean_x)``:

- ``'pooled'`` (default): one slope, the within-arm regression slope pooled across the arms,
  ``theta = (S_xy_c + S_xy_t) / (S_xx_c + S_xx_t)`` (centred sums of products within each arm); the
  adjusted arms are compared with Welch's t test or the z test. This equals the ANCOVA estimate of
  ``y ~ 1 + arm + x``.
- ``'lin'``: Lin (2013, "Agnostic notes on regression adjustments to experimental data"), the fully
  interacted regression ``y ~ arm * (x - mean_x)``: each arm has its own slope, and the effect is
  the coefficient of ``arm`` (the difference of the arms' fitted values at the pooled covariate
  mean). Its standard error is heteroskedasticity-robust (``cov_type`` 'HC0', 'HC1', 'HC2' or
  'HC3', as statsmodels' ``OLS(...).fit(cov_type=...)``); inference uses the normal distribution
  (``test='z'``, statsmodels' default with a robust covariance) or the t distribution with
  ``n - 4`` degrees of freedom (``test='t'``, statsmodels' ``use_t=True``). Lin's estimator is never
  less precise asymptotically than the unadjusted difference, even when the arms' slopes differ.
  HC0 and HC1 come from the sums in :class:`CupedStats` (with its higher cross-moments); HC2 and
  HC3 weight each unit by its leverage, which sums cannot give: :func:`lin_test` takes unit values.
  The HC variance holds the covariate's sample mean fixed: it is Lin's variance for the average
  effect over the units in the experiment (conservative under re-randomisation). When the arms'
  slopes differ, the average effect in the population the units were drawn from varies by a further
  ``(theta_t - theta_c)**2 var(x) / (n_c + n_t)``, which no regression-table SE includes.
- ``'gbstats'``: GrowthBook's convention (gbstats ``models/statistics.py``: ``compute_theta`` and
  ``RegressionAdjustedStatistic``; ``models/tests.py``: ``frequentist_variance_relative_cuped``): one
  slope from the pooled sample, both arms together, ignoring the arm,
  ``theta = cov(x, y) / var(x)`` over all units; Welch's t test (or z) on the adjusted arms; the
  relative lift is ``(adj_t - adj_c) / |mean_y_c|``, on the *unadjusted* control mean, with the
  delta-method variance::

      v_t = (var_y_t + theta**2 var_x_t - 2 theta cov_t) / (n_t mean_y_c**2)
      v_c = (var_y_c mean_y_t**2 / mean_y_c**2 - 2 theta cov_c mean_y_t / mean_y_c + theta**2 var_x_c)
            / (n_c mean_y_c**2)

  (sample variances with ``n - 1``: gbstats' ``SampleMeanStatistic``; for 0/1 metrics gbstats'
  ``ProportionStatistic`` divides by ``n`` instead, a factor ``n / (n - 1)`` apart).

``convention=`` reproduces another engine's CUPED readout (the README's table): ``'gbstats'`` takes
the ``'gbstats'`` estimator (the only one gbstats has) with gbstats' reading of the arms (``p (1 - p)``
for 0/1 metrics, no result where gbstats refuses: a zero variance or a control mean of 0);
``'statsmodels'`` gives the ``'pooled'`` estimator the standard error of statsmodels'
``OLS(y, [1, arm, x]).fit()`` (ANCOVA with the homoskedastic residual variance, ``n - 3`` degrees of
freedom; ``test='z'`` is ``use_t=False``) and the unadjusted test statsmodels' pooled-variance t test
(``'lin'`` already equals statsmodels' ``OLS(...).fit(cov_type=...)``). ``'abrec'`` (default) is the
above. The relative lift's interval under 'statsmodels' is abrec's (statsmodels has none).

Because the covariate was measured before assignment, every estimator is consistent; the variance
shrinks by about ``corr(x, y)**2``. :func:`sequential_cuped_test` runs the always-valid mSPRT of
:func:`~abrec.abtest.sequential.sequential_test` on the adjusted difference and its variance, with
``theta`` re-estimated at every look.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import numpy.typing as npt

from .._interval import ConfidenceInterval
from .._params import Constraint, Interval, StrOptions, validate_params
from ..errors import InputError, ParameterError
from ._common import (
    Alternative,
    Summary,
    check_alpha,
    check_alternative,
    check_convention,
    check_summaries,
    critical_value,
)
from .frequentist import (
    TestResult,
    arms_for,
    build_result,
    gbstats_refusal,
    welch_df,
    welch_ttest,
    with_relative,
    ztest,
)
from .sequential import mixture_k, msprt_half_width, msprt_p_value, sequential_test
from .stats import CupedStats, Moments

__all__ = ["CupedResult", "cuped_test", "lin_test", "sequential_cuped_test"]

Method = Literal["pooled", "lin", "gbstats"]
CovType = Literal["HC0", "HC1", "HC2", "HC3"]

_CUPED = {
    "method": StrOptions(("pooled", "lin", "gbstats")),
    "cov_type": StrOptions(("HC0", "HC1", "HC2", "HC3")),
    "test": StrOptions(("t", "z")),
}
_SEQUENTIAL = {
    "method": _CUPED["method"],
    "cov_type": _CUPED["cov_type"],
    "tuning_parameter": Interval("float", 0.0, closed="neither"),
    "tau_squared": Constraint("float", 0.0, math.inf, low_open=True, optional=True),
}
_N_PARAMS = 4  # intercept, arm, covariate, arm x covariate
_CUPED_CONVENTIONS = ("abrec", "gbstats", "statsmodels")


@dataclass(frozen=True, slots=True)
class CupedResult:
    """A CUPED-adjusted test and the unadjusted test it improves on.

    Attributes
    ----------
    test : TestResult
        The test on the adjusted effect (method 'cuped-welch-t', 'cuped-z', 'cuped-gbstats-welch-t',
        'cuped-lin-hc1-z', ..., or 'cuped-msprt', 'cuped-lin-hc1-msprt', ... for the sequential test).
        Its relative effect follows the estimator's convention (see the module docstring).
    raw : TestResult
        The same test without the covariate.
    theta : float
        The slope of the metric on the covariate (the control arm's own slope for ``'lin'``).
    variance_reduction : float
        ``1 - var_adjusted / var_raw`` of the effect estimate (about ``corr**2``; 0 means no gain).
    estimator : str
        'pooled', 'lin' or 'gbstats'.
    theta_treatment : float
        The treatment arm's slope for ``'lin'``; ``theta`` otherwise.
    """

    test: TestResult
    raw: TestResult
    theta: float
    variance_reduction: float
    estimator: str = "pooled"
    theta_treatment: float = math.nan

    def confidence_interval(self, *, relative: bool = False) -> ConfidenceInterval:
        """The adjusted test's interval (of the relative effect with ``relative=True``)."""
        return self.test.confidence_interval(relative=relative)


@dataclass(frozen=True, slots=True)
class _Arm:
    """One arm's adjusted mean (at the pooled covariate mean) and the variance of that mean."""

    n: int
    mean: float
    mean_variance: float  # squared standard error of ``mean``

    def moments(self) -> Moments:
        return Moments(self.n, self.mean, max(self.n * self.mean_variance, 0.0))


def _sxx(s: CupedStats) -> float:
    return max(s.sum_pre_sq - s.sum_pre**2 / s.n, 0.0)


def _sxy(s: CupedStats) -> float:
    return s.sum_cross - s.sum * s.sum_pre / s.n


def _adjusted(stats: CupedStats, theta: float, pooled_pre_mean: float) -> Moments:
    var = stats.variance - 2 * theta * stats.covariance + theta**2 * stats.pre_variance
    mean = stats.mean - theta * (stats.pre_mean - pooled_pre_mean)
    return Moments(stats.n, mean, max(var, 0.0))


def _pooled_theta(control: CupedStats, treatment: CupedStats) -> float:
    s_xx = _sxx(control) + _sxx(treatment)
    return (_sxy(control) + _sxy(treatment)) / s_xx if s_xx > 0 else 0.0


def _gbstats_theta(control: CupedStats, treatment: CupedStats) -> float:
    """gbstats ``compute_theta``: the slope over both arms together, 0 when either variable is constant."""
    joint = control + treatment
    if not (joint.pre_variance > 0 and joint.variance > 0):
        return 0.0
    return joint.covariance / joint.pre_variance


def _gbstats_relative(control: CupedStats, treatment: CupedStats, theta: float) -> tuple[float, float]:
    """gbstats' relative lift on the unadjusted control mean, and its variance.

    gbstats ``models/tests.py`` ``frequentist_variance_relative_cuped``, transcribed.
    """
    mc, mt = control.mean, treatment.mean
    effect = (mt - theta * treatment.pre_mean) - (mc - theta * control.pre_mean)
    v_t = (treatment.variance + theta**2 * treatment.pre_variance - 2 * theta * treatment.covariance) / (
        treatment.n * mc**2
    )
    v_c = (
        control.variance * mt**2 / mc**2 - 2 * theta * control.covariance * mt / mc + theta**2 * control.pre_variance
    ) / (control.n * mc**2)
    return effect / abs(mc), v_t + v_c


def _central_moment(raw: dict[tuple[int, int], float], a: int, b: int, mx: float, my: float) -> float:
    """``sum((x - mx)**a * (y - my)**b)`` by the binomial expansion of the raw sums ``raw[(i, j)]``."""
    total = 0.0
    for i in range(a + 1):
        for j in range(b + 1):
            total += math.comb(a, i) * math.comb(b, j) * (-mx) ** (a - i) * (-my) ** (b - j) * raw[(i, j)]
    return total


def _lin_arm_from_sums(s: CupedStats, pooled_pre_mean: float) -> tuple[_Arm, float]:
    """One arm of Lin's regression from sums: its fitted value at the pooled mean, HC0 variance, slope.

    The fitted value is ``a = sum(c_i y_i)`` with ``c_i = 1/n - d u_i / S`` (``u`` the covariate
    centred in the arm, ``S = sum(u**2)``, ``d`` the arm's covariate mean minus the pooled one), so
    its HC0 variance ``sum(c_i**2 e_i**2)`` needs ``sum(u**p e**2)`` for ``p`` = 0, 1, 2.
    """
    n = s.n
    mx, my = s.sum_pre / n, s.sum / n
    raw = s.raw_moments()
    needed = ((2, 0), (1, 1), (0, 2), (3, 0), (2, 1), (1, 2), (4, 0), (3, 1), (2, 2))
    m = {(a, b): _central_moment(raw, a, b, mx, my) for a, b in needed}
    big_s = m[(2, 0)]
    beta = m[(1, 1)] / big_s
    d = mx - pooled_pre_mean
    e = [m[(p, 2)] - 2 * beta * m[(p + 1, 1)] + beta**2 * m[(p + 2, 0)] for p in (0, 1, 2)]
    var = e[0] / n**2 - 2 * d * e[1] / (n * big_s) + d**2 * e[2] / big_s**2
    return _Arm(n, my - beta * d, max(var, 0.0)), beta


def _lin_arm_from_values(
    y: npt.NDArray[np.float64], x: npt.NDArray[np.float64], pooled_pre_mean: float, cov_type: str
) -> tuple[_Arm, float]:
    """One arm of Lin's regression from unit values: fitted value at the pooled mean, HC variance, slope."""
    n = y.size
    u = x - x.mean()
    big_s = float(u @ u)
    beta = float(u @ (y - y.mean())) / big_s
    d = float(x.mean()) - pooled_pre_mean
    resid = y - y.mean() - beta * u
    c = 1.0 / n - d * u / big_s
    weight = np.ones(n)
    if cov_type in ("HC2", "HC3"):
        leverage = 1.0 / n + u * u / big_s
        weight = 1.0 / (1.0 - leverage) ** (1 if cov_type == "HC2" else 2)
    var = float(np.sum(c * c * resid * resid * weight))
    return _Arm(n, float(y.mean()) - beta * d, var), beta


def _check_lin_arm(owner: str, name: str, n: int, s_xx: float) -> None:
    if n < 3:
        raise InputError(
            f"{owner}: Lin's regression fits an intercept and a slope per arm, so it needs at least 3 units in "
            f"each arm; the {name} arm has {n}."
        )
    if not s_xx > 0:
        raise InputError(
            f"{owner}: the covariate is constant within the {name} arm, so that arm has no slope; use "
            "method='pooled' or 'gbstats'."
        )


def _reduction(adjusted_se: float, raw_se: float) -> float:
    return 1.0 - adjusted_se**2 / raw_se**2 if raw_se > 0 else math.nan


def _with_gbstats_relative(
    result: TestResult,
    control: CupedStats,
    treatment: CupedStats,
    theta: float,
    crit: float,
    p_of: Callable[[float], float] | None = None,
) -> TestResult:
    """``result`` with gbstats' relative lift (on the unadjusted control mean), its interval and p-value."""
    notes = [x for x in result.note.split("; ") if x and not x.startswith(("relative effect", "the absolute effect"))]
    if control.mean == 0:
        notes.append("relative effect undefined: the control mean is 0")
        rel, rel_se = math.nan, math.nan
    else:
        rel, var = _gbstats_relative(control, treatment, theta)
        rel_se = math.sqrt(max(var, 0.0))
    return replace(with_relative(result, rel, rel_se, crit=crit, p_of=p_of), note="; ".join(notes))


def _arms(
    owner: str, control: CupedStats, treatment: CupedStats, method: str, cov_type: str
) -> tuple[Moments, Moments, float, float, float]:
    """The adjusted arms as Moments, the two slopes and the HC scale of the variances."""
    pooled_pre_mean = (control.sum_pre + treatment.sum_pre) / (control.n + treatment.n)
    if method == "lin":
        if cov_type in ("HC2", "HC3"):
            raise InputError(
                f"{owner}(method='lin', cov_type={cov_type!r}) needs each unit's leverage, which sums cannot give; "
                "use lin_test with the unit values, or cov_type 'HC0' or 'HC1'."
            )
        for name, arm in (("control", control), ("treatment", treatment)):
            _check_lin_arm(owner, name, arm.n, _sxx(arm))
        arm_c, beta_c = _lin_arm_from_sums(control, pooled_pre_mean)
        arm_t, beta_t = _lin_arm_from_sums(treatment, pooled_pre_mean)
        scale = _hc_scale(cov_type, control.n + treatment.n)
        return (
            replace(arm_c, mean_variance=arm_c.mean_variance * scale).moments(),
            replace(arm_t, mean_variance=arm_t.mean_variance * scale).moments(),
            beta_c,
            beta_t,
            scale,
        )
    theta = _pooled_theta(control, treatment) if method == "pooled" else _gbstats_theta(control, treatment)
    return (
        _adjusted(control, theta, pooled_pre_mean),
        _adjusted(treatment, theta, pooled_pre_mean),
        theta,
        theta,
        1.0,
    )


def _method_for(owner: str, method: Method | None, convention: str, allowed: tuple[str, ...]) -> Method:
    """The estimator ``method`` names, or the convention's own (gbstats has only its own)."""
    check_convention(owner, convention, allowed)
    if method is None:
        return "gbstats" if convention == "gbstats" else "pooled"
    if convention == "gbstats" and method != "gbstats":
        raise ParameterError(
            f"{owner}(convention='gbstats') uses gbstats' own CUPED estimator; got method={method!r}. "
            "Leave method out (or pass method='gbstats'), or use convention='abrec' for the other estimators."
        )
    if convention == "statsmodels" and method == "gbstats":
        raise ParameterError(
            f"{owner}(convention='statsmodels') reproduces statsmodels' OLS, which has no gbstats estimator; "
            "use method='pooled' (ANCOVA) or 'lin'."
        )
    return method


def _ancova_se(control: CupedStats, treatment: CupedStats) -> tuple[float, float]:
    """statsmodels' ``OLS(y, [1, arm, x]).fit()`` standard error of the arm's coefficient, and its df.

    One slope ``theta = S_xy / S_xx`` (within-arm sums pooled), residual sum of squares
    ``S_yy - S_xy**2 / S_xx``, ``s**2 = RSS / (n - 3)`` and
    ``Var = s**2 (1 / n_c + 1 / n_t + (mean_x_t - mean_x_c)**2 / S_xx)``.
    """
    n = control.n + treatment.n
    s_xx = _sxx(control) + _sxx(treatment)
    s_xy = _sxy(control) + _sxy(treatment)
    s_yy = (control.n - 1) * control.variance + (treatment.n - 1) * treatment.variance
    rss = max(s_yy - (s_xy**2 / s_xx if s_xx > 0 else 0.0), 0.0)
    gap = treatment.pre_mean - control.pre_mean
    leverage = 1.0 / control.n + 1.0 / treatment.n + (gap**2 / s_xx if s_xx > 0 else 0.0)
    df = float(n - 3)
    return math.sqrt(rss / df * leverage) if df > 0 else math.nan, df


def _hc_scale(cov_type: str, n: int) -> float:
    """HC1's small-sample factor ``n / (n - k)`` over both arms (k = 4 coefficients); 1 otherwise."""
    return n / (n - _N_PARAMS) if cov_type == "HC1" else 1.0


def _lin_result(
    arm_c: Moments, arm_t: Moments, alpha: float, alternative: str, test: str, cov_type: str, suffix: str = ""
) -> TestResult:
    se = math.sqrt(arm_c.variance / arm_c.n + arm_t.variance / arm_t.n)
    df = math.inf if test == "z" else float(arm_c.n + arm_t.n - _N_PARAMS)
    return build_result(f"cuped-lin-{cov_type.lower()}-{test}{suffix}", arm_c, arm_t, se, df, alpha, alternative)


def cuped_test(
    control: CupedStats,
    treatment: CupedStats,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    method: Method | None = None,
    test: Literal["t", "z"] = "t",
    cov_type: CovType = "HC1",
    convention: Literal["abrec", "gbstats", "statsmodels"] = "abrec",
) -> CupedResult:
    """Compare treatment with control on a CUPED-adjusted metric.

    Parameters
    ----------
    control, treatment : CupedStats
        Each arm's metric and pre-period covariate sums; at least two units each (three for 'lin',
        whose HC standard errors also need the higher cross-moments that ``CupedStats.from_values`` fills).
    alpha : float, default 0.05
        Significance level in (0, 1).
    alternative : {'two-sided', 'greater', 'less'}, default 'two-sided'
    method : {'pooled', 'lin', 'gbstats'}, optional
        The estimator (see the module docstring); default the convention's: 'gbstats' under
        ``convention='gbstats'``, else 'pooled'.
    test : {'t', 'z'}, default 't'
        The reference distribution: Welch's t on the adjusted arms ('pooled', 'gbstats') or the t
        distribution with ``n - 4`` degrees of freedom ('lin'); or the normal distribution.
    cov_type : {'HC0', 'HC1', 'HC2', 'HC3'}, default 'HC1'
        The robust covariance of 'lin' (HC2 and HC3 only with :func:`lin_test`); unused otherwise.
    convention : {'abrec', 'gbstats', 'statsmodels'}, default 'abrec'
        Whose CUPED readout to reproduce (see the module docstring).

    Returns
    -------
    CupedResult

    Raises
    ------
    abrec.errors.ParameterError
        For a bad alpha, alternative, method, test or cov_type.
    abrec.errors.InputError
        When an arm has too few units, or 'lin' lacks what it needs (higher moments, a covariate
        that varies within each arm, unit values for HC2/HC3).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> pre = rng.normal(10, 2, size=(2, 500))
    >>> post = pre + rng.normal(0, 1, size=(2, 500)) + np.array([[0.0], [0.3]])
    >>> c, t = CupedStats.from_values(post[0], pre[0]), CupedStats.from_values(post[1], pre[1])
    >>> r = cuped_test(c, t)
    >>> round(r.theta, 2), round(r.variance_reduction, 2), r.test.p_value < 0.05 < r.raw.p_value
    (1.03, 0.8, True)
    >>> lin = cuped_test(c, t, method="lin", test="z")
    >>> lin.test.method, round(lin.test.effect, 3), round(lin.theta, 2), round(lin.theta_treatment, 2)
    ('cuped-lin-hc1-z', 0.185, 1.01, 1.05)
    >>> gb = cuped_test(c, t, method="gbstats")
    >>> round(gb.theta, 2), round(gb.test.relative_effect, 4)
    (1.03, 0.0185)
    >>> sm = cuped_test(c, t, convention="statsmodels")
    >>> sm.test.method, sm.test.df, round(sm.test.standard_error, 4)
    ('cuped-ancova-t', 997.0, 0.0646)
    """
    check_alpha("cuped_test", alpha)
    check_alternative("cuped_test", alternative)
    if method in ("welch-t", "z"):  # the test's name before method= named the estimator
        raise ParameterError(
            f"The 'method' parameter of cuped_test names the estimator ('pooled', 'lin' or 'gbstats'). Got "
            f"{method!r} instead. Did you mean test={'t' if method == 'welch-t' else 'z'!r}?"
        )
    method = _method_for("cuped_test", method, convention, _CUPED_CONVENTIONS)
    validate_params("cuped_test", _CUPED, {"method": method, "cov_type": cov_type, "test": test})
    check_summaries("cuped_test", control, treatment)
    raw_convention = "abrec" if convention == "gbstats" and test == "z" else convention
    if test == "t":
        raw = welch_ttest(control, treatment, alpha=alpha, alternative=alternative, convention=convention)
    else:
        raw = ztest(control, treatment, alpha=alpha, alternative=alternative, convention=raw_convention)  # type: ignore[arg-type]
    adj_c, adj_t, theta_c, theta_t, _ = _arms("cuped_test", control, treatment, method, cov_type)
    if method == "lin":
        adjusted = _lin_result(adj_c, adj_t, alpha, alternative, test, cov_type)
    elif convention == "statsmodels":
        se, df = _ancova_se(control, treatment)
        df = df if test == "t" else math.inf
        name = "t" if test == "t" else "z"
        adjusted = build_result(f"cuped-ancova-{name}", adj_c, adj_t, se, df, alpha, alternative)
    else:
        run = welch_ttest if test == "t" else ztest
        adjusted = run(adj_c, adj_t, alpha=alpha, alternative=alternative)
        name = "welch-t" if test == "t" else "z"
        adjusted = replace(adjusted, method=f"cuped-{name}" if method == "pooled" else f"cuped-gbstats-{name}")
        if convention == "gbstats":
            refused = gbstats_refusal(*arms_for("gbstats", control, treatment))
            if refused:
                adjusted = build_result(
                    adjusted.method,
                    adj_c,
                    adj_t,
                    math.nan,
                    adjusted.df,
                    alpha,
                    alternative,
                    convention="gbstats",
                    undefined=refused,
                )
        if method == "gbstats" and not math.isnan(adjusted.standard_error):
            crit = critical_value(alpha, alternative, welch_df(adj_c, adj_t) if test == "t" else math.inf)
            adjusted = _with_gbstats_relative(adjusted, control, treatment, theta_c, crit)
    reduction = _reduction(adjusted.standard_error, raw.standard_error)
    return CupedResult(adjusted, raw, theta_c, reduction, method, theta_t)


def lin_test(
    control_values: npt.ArrayLike,
    control_pre: npt.ArrayLike,
    treatment_values: npt.ArrayLike,
    treatment_pre: npt.ArrayLike,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    test: Literal["t", "z"] = "t",
    cov_type: CovType = "HC1",
) -> CupedResult:
    """Lin's (2013) fully interacted regression ``y ~ arm * (x - mean_x)`` from unit values, any HC covariance.

    The same estimator as ``cuped_test(method='lin')``; unit values give HC2 and HC3 (each unit's
    residual weighted by ``1 / (1 - h)`` or ``1 / (1 - h)**2``, ``h`` its leverage), which are
    better than HC0/HC1 in small samples. Equals statsmodels' ``OLS(y, [1, arm, xc, arm * xc])
    .fit(cov_type=cov_type)`` (``use_t=True`` for ``test='t'``) on the coefficient of ``arm``.

    Parameters
    ----------
    control_values, control_pre, treatment_values, treatment_pre : array_like
        Each arm's per-unit metric and pre-period covariate (1-D, finite, at least 3 units per arm).
    alpha, alternative, test, cov_type
        As in :func:`cuped_test`.

    Returns
    -------
    CupedResult
        ``estimator='lin'``; ``raw`` is Welch's t (or the z) test of the unadjusted metric.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(1)
    >>> x_c, x_t = rng.exponential(2.0, 40), rng.exponential(2.0, 30)
    >>> y_c, y_t = x_c + rng.normal(0, 1, 40), 0.5 + 1.5 * x_t + rng.normal(0, 1, 30)
    >>> r = lin_test(y_c, x_c, y_t, x_t, cov_type="HC3")
    >>> r.test.method, r.test.df, round(r.test.effect, 3), round(r.test.standard_error, 3)
    ('cuped-lin-hc3-t', 66.0, 1.459, 0.228)
    """
    check_alpha("lin_test", alpha)
    check_alternative("lin_test", alternative)
    validate_params("lin_test", {k: _CUPED[k] for k in ("cov_type", "test")}, {"cov_type": cov_type, "test": test})
    control = CupedStats.from_values(control_values, control_pre)
    treatment = CupedStats.from_values(treatment_values, treatment_pre)
    check_summaries("lin_test", control, treatment)
    for name, arm in (("control", control), ("treatment", treatment)):
        _check_lin_arm("lin_test", name, arm.n, _sxx(arm))
    pooled_pre_mean = (control.sum_pre + treatment.sum_pre) / (control.n + treatment.n)
    arm_c, beta_c = _lin_arm_from_values(
        np.asarray(control_values, dtype=np.float64),
        np.asarray(control_pre, dtype=np.float64),
        pooled_pre_mean,
        cov_type,
    )
    arm_t, beta_t = _lin_arm_from_values(
        np.asarray(treatment_values, dtype=np.float64),
        np.asarray(treatment_pre, dtype=np.float64),
        pooled_pre_mean,
        cov_type,
    )
    scale = _hc_scale(cov_type, control.n + treatment.n)
    adj_c = replace(arm_c, mean_variance=arm_c.mean_variance * scale).moments()
    adj_t = replace(arm_t, mean_variance=arm_t.mean_variance * scale).moments()
    adjusted = _lin_result(adj_c, adj_t, alpha, alternative, test, cov_type)
    raw = (welch_ttest if test == "t" else ztest)(control, treatment, alpha=alpha, alternative=alternative)
    return CupedResult(adjusted, raw, beta_c, _reduction(adjusted.standard_error, raw.standard_error), "lin", beta_t)


def sequential_cuped_test(
    control: CupedStats,
    treatment: CupedStats,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    method: Method | None = None,
    cov_type: CovType = "HC1",
    tuning_parameter: float = 5000.0,
    tau_squared: float | None = None,
    convention: Literal["abrec", "gbstats"] = "abrec",
) -> CupedResult:
    """Always-valid mSPRT on the CUPED-adjusted difference: safe to compute after every batch.

    The adjusted effect and its variance (from ``method``, with ``theta`` re-estimated from all
    data so far) go through :func:`~abrec.abtest.sequential.sequential_test`; ``raw`` is the mSPRT
    of the unadjusted metric. Smaller variance means a narrower always-valid interval, so CUPED
    stops experiments earlier at the same guarantee. For 'gbstats' the relative interval is
    gbstats' (on the unadjusted control mean) with the mSPRT's half-width in standard errors.

    Parameters
    ----------
    control, treatment : CupedStats
        Each arm's cumulative statistics so far.
    alpha, alternative, tuning_parameter, tau_squared
        As in :func:`~abrec.abtest.sequential.sequential_test`.
    method, cov_type
        As in :func:`cuped_test` (cov_type 'HC0' or 'HC1' for 'lin').
    convention : {'abrec', 'gbstats'}, default 'abrec'
        'gbstats': gbstats' estimator, its reading of the arms and its one-sided sequential p-values
        (:func:`~abrec.abtest.sequential.sequential_test` with ``convention='gbstats'``).

    Returns
    -------
    CupedResult
        ``test.method`` is 'cuped-msprt', 'cuped-gbstats-msprt' or 'cuped-lin-hc1-msprt' (etc.).

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> pre = rng.normal(10, 2, size=(2, 2000))
    >>> post = pre + rng.normal(0, 1, size=(2, 2000)) + np.array([[0.0], [0.15]])
    >>> c, t = CupedStats.from_values(post[0], pre[0]), CupedStats.from_values(post[1], pre[1])
    >>> r = sequential_cuped_test(c, t, tuning_parameter=4000)
    >>> r.test.method, r.test.p_value < 0.05 < r.raw.p_value
    ('cuped-msprt', True)
    """
    check_alpha("sequential_cuped_test", alpha)
    check_alternative("sequential_cuped_test", alternative)
    method = _method_for("sequential_cuped_test", method, convention, ("abrec", "gbstats"))
    validate_params(
        "sequential_cuped_test",
        _SEQUENTIAL,
        {"method": method, "cov_type": cov_type, "tuning_parameter": tuning_parameter, "tau_squared": tau_squared},
    )
    if alternative != "two-sided" and alpha >= 0.5:
        validate_params(
            "sequential_cuped_test", {"alpha": Interval("float", 0.0, 0.5, closed="neither")}, {"alpha": alpha}
        )
    check_summaries("sequential_cuped_test", control, treatment)

    def msprt(c: Summary, t: Summary) -> TestResult:
        return sequential_test(
            c,
            t,
            alpha=alpha,
            alternative=alternative,
            tuning_parameter=tuning_parameter,
            tau_squared=tau_squared,
            convention=convention,
        )

    raw = msprt(control, treatment)
    adj_c, adj_t, theta_c, theta_t, _ = _arms("sequential_cuped_test", control, treatment, method, cov_type)
    adjusted = msprt(adj_c, adj_t)
    prefix = {"pooled": "cuped", "gbstats": "cuped-gbstats", "lin": f"cuped-lin-{cov_type.lower()}"}[method]
    adjusted = replace(adjusted, method=f"{prefix}-msprt")
    if method == "gbstats":
        variance = adjusted.standard_error**2
        if tau_squared is not None:
            k = tau_squared / variance if variance > 0 else math.inf
        else:
            k = mixture_k(float(control.n + treatment.n), alpha, tuning_parameter, alternative)
        crit = msprt_half_width(k, alpha, alternative)

        def p_of(z: float) -> float:
            return msprt_p_value(z, k, alternative, convention)

        adjusted = _with_gbstats_relative(adjusted, control, treatment, theta_c, crit, p_of)
    reduction = _reduction(adjusted.standard_error, raw.standard_error)
    return CupedResult(adjusted, raw, theta_c, reduction, method, theta_t)
