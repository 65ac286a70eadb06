"""The per-variant readout of an experiment: every treatment against the control, with all the statistics.

For each treatment: absolute and relative lift with confidence intervals (Welch t, or a z test on
period-weighted means when the allocation changed over time), Holm-adjusted p-values across the
treatments, the always-valid (mSPRT) interval and p-value, the relative lift's own p-value (adjusted
by the same correction) and always-valid interval and p-value, and the Bayesian chance to beat control and
expected loss; for the whole experiment a sample ratio mismatch test against the weights that were in
force. :func:`analyze_log` reads an :class:`~abrec.data.InteractionLog` (one value per unit: never the
per-impression test); :func:`analyze_periods` reads per-period statistics (what
:func:`log_periods` derives from a log's ``period`` and ``assignment_p`` columns), and
:func:`sequential_path` gives the always-valid interval after every period (for the plot of the interval
narrowing over time). A log that records the assignment probabilities (what simulations and the service
write) is read out period by period (a ratio metric such as CTR by a period-weighted delta method), so
``abrec analyze`` on an exported log gives exactly the in-process readout of the same run.
:func:`analyze_metrics` reads a log out on a primary metric and secondary / guardrail metrics together
(:data:`~abrec.abtest.metrics.DEFAULT_METRICS`: clicks per user, CTR, conversion, revenue per user), Holm
across treatments on the primary and Benjamini-Hochberg across the secondaries, as a :class:`MetricsReadout`.

A quantile metric (``p50``, ``p90``, ``p99`` of the units' totals) is read out by
:func:`~abrec.abtest.quantiles.quantile_test` (gbstats' order-statistic standard error): the variant's
quantile with its interval, the absolute and relative difference with theirs, the p-value and the same
correction across treatments, and the same sample ratio check; there is no always-valid or Bayesian readout
of a quantile (those fields are NaN, and the note says so). Quantiles are not period-weighted: on a log with
assignment probabilities the units of all periods are pooled, and the method and notes say so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from .._interval import ConfidenceInterval
from .._params import Interval, StrOptions, validate_params
from ..data.interactions import InteractionLog
from ..errors import InputError, UnknownNameError
from .allocation import PeriodStats
from .bayesian import gaussian_test
from .frequentist import TestResult, welch_ttest, ztest
from .metrics import METRICS, QUANTILES, aggregate_units, quantile_samples
from .multiple import CORRECTION_METHODS, adjust
from .quantiles import QuantileSample, min_units, quantile_test
from .sequential import sequential_test
from .srm import SRMResult, srm_test
from .stats import Moments

__all__ = [
    "Readout",
    "VariantReadout",
    "analyze_log",
    "analyze_periods",
    "log_periods",
    "sequential_path",
]

FloatArray = npt.NDArray[np.float64]
CORRECTIONS = (*CORRECTION_METHODS, "none")
_CHECKS = {"alpha": Interval("float", 0.0, 1.0, closed="neither"), "correction": StrOptions(CORRECTIONS)}
_PERIOD_METRIC = {"metric": StrOptions(("mean", "proportion"))}
_METRIC = {"metric": StrOptions(METRICS)}
PERIOD_RATIO = "period-weighted z (delta-method ratio)"
QUANTILE_NOTE = "no always-valid or Bayesian readout for quantiles"
POOLED = "units pooled across periods, not period-weighted"
POOLED_NOTE = "quantiles are not period-weighted: the units of all periods are pooled"
_UNDEFINED = ConfidenceInterval.undefined(0.95)


@dataclass(frozen=True)
class VariantReadout:
    """One variant's numbers; the lift fields are NaN for the control.

    Attributes
    ----------
    variant : str
    units : int
    mean, ci : the variant's mean per unit and its ``1 - alpha`` interval (for a quantile metric: the variant's
        quantile of the units' totals and its interval)
    effect, effect_ci : absolute lift over control and its interval
    relative, relative_ci : relative lift ``mean / control mean - 1`` and its interval (delta method; NaN with
        ``note`` when the control mean is not clearly positive: the readout is then the absolute lift)
    p_value, p_adjusted : the test's p-value and after the multiple-comparison correction
    significant : ``p_adjusted < alpha``
    sequential_ci, sequential_p : always-valid interval and p-value of the lift (mSPRT)
    relative_p_value, relative_p_adjusted : the relative lift's own p-value (``H0: relative lift = 0``, from its
        delta-method standard error) and after the same correction as ``p_adjusted``
    relative_sequential_ci, relative_sequential_p : always-valid interval and p-value of the relative lift
    chance_to_win, expected_loss : Bayesian (flat prior): ``P(lift > 0)`` and ``E[max(-lift, 0)]``
    note : str
    """

    variant: str
    units: int
    mean: float
    ci: ConfidenceInterval
    effect: float = math.nan
    effect_ci: ConfidenceInterval = _UNDEFINED
    relative: float = math.nan
    relative_ci: ConfidenceInterval = _UNDEFINED
    p_value: float = math.nan
    p_adjusted: float = math.nan
    significant: bool = False
    sequential_ci: ConfidenceInterval = _UNDEFINED
    sequential_p: float = math.nan
    chance_to_win: float = math.nan
    expected_loss: float = math.nan
    note: str = ""
    relative_p_value: float = math.nan
    relative_p_adjusted: float = math.nan
    relative_sequential_ci: ConfidenceInterval = _UNDEFINED
    relative_sequential_p: float = math.nan


@dataclass(frozen=True)
class Readout:
    """Every variant against the control.

    Attributes
    ----------
    control : str
    metric : str
        What was measured, e.g. ``"reward per unit (mean)"``.
    method : str
        The fixed-horizon test: ``"welch-t"``, ``"period-weighted z"``, ``"period-weighted z (delta-method
        ratio)"`` or, for a quantile metric, e.g. ``"quantile p90, order-statistic"`` (with
        ``"(units pooled across periods, not period-weighted)"`` on a log with assignment probabilities).
    alpha : float
    correction : str
        One of :data:`abrec.abtest.multiple.CORRECTION_METHODS` (``"holm"``, ``"holm-sidak"``,
        ``"bonferroni"``, ``"sidak"``, ``"bh"`` Benjamini-Hochberg, ``"by"`` Benjamini-Yekutieli) or ``"none"``.
    variants : tuple of VariantReadout
        Control first.
    srm : SRMResult
    tuning_parameter : float
        The mSPRT's ``n*``.
    srm_per_period : bool
        Whether the sample ratio check compared each period's counts with the weights in force then (a log
        with assignment probabilities), rather than the whole experiment's counts with one split.
    """

    control: str
    metric: str
    method: str
    alpha: float
    correction: str
    variants: tuple[VariantReadout, ...]
    srm: SRMResult
    tuning_parameter: float
    srm_per_period: bool = False

    def rows(self) -> list[dict[str, Any]]:
        """One flat dict per variant (for tables and JSON)."""
        out = []
        for v in self.variants:
            out.append(
                {
                    "variant": v.variant,
                    "units": v.units,
                    "mean": v.mean,
                    "ci_low": v.ci[0],
                    "ci_high": v.ci[1],
                    "lift": v.effect,
                    "lift_low": v.effect_ci[0],
                    "lift_high": v.effect_ci[1],
                    "relative_lift": v.relative,
                    "relative_low": v.relative_ci[0],
                    "relative_high": v.relative_ci[1],
                    "p_value": v.p_value,
                    "p_adjusted": v.p_adjusted,
                    "significant": v.significant,
                    "relative_p_value": v.relative_p_value,
                    "relative_p_adjusted": v.relative_p_adjusted,
                    "sequential_low": v.sequential_ci[0],
                    "sequential_high": v.sequential_ci[1],
                    "sequential_p": v.sequential_p,
                    "relative_sequential_low": v.relative_sequential_ci[0],
                    "relative_sequential_high": v.relative_sequential_ci[1],
                    "relative_sequential_p": v.relative_sequential_p,
                    "chance_to_win": v.chance_to_win,
                    "expected_loss": v.expected_loss,
                    "note": v.note,
                }
            )
        return out

    def to_frame(self) -> pd.DataFrame:
        """The rows as a DataFrame."""
        return pd.DataFrame(self.rows())


def _z(alpha: float) -> float:
    from scipy import special

    return float(special.ndtri(1 - alpha / 2))


def _adjust(p: FloatArray, correction: str) -> FloatArray:
    if correction == "none" or p.size == 0:
        return p
    finite = np.isfinite(p)
    out = p.copy()
    if finite.any():
        out[finite] = adjust(p[finite], correction)
    return out


def _compare(
    summaries: Mapping[str, Any],
    control: str,
    tests: Mapping[str, TestResult],
    *,
    alpha: float,
    correction: str,
    tuning_parameter: float,
) -> list[VariantReadout]:
    z = _z(alpha)
    treatments = [v for v in summaries if v != control]
    p = np.array([tests[v].p_value for v in treatments], dtype=np.float64)
    adjusted = _adjust(p, correction)
    relative_adjusted = _adjust(np.array([tests[v].relative_p_value for v in treatments], dtype=np.float64), correction)
    rows = []
    for name in [control, *treatments]:
        s = summaries[name]
        se = math.sqrt(s.variance / s.n) if s.n > 0 else math.nan
        mean = float(s.mean)
        ci = ConfidenceInterval(mean - z * se, mean + z * se, 1.0 - alpha)
        units = int(np.rint(s.n))
        if name == control:
            none = ConfidenceInterval.undefined(1.0 - alpha)
            rows.append(
                VariantReadout(
                    name,
                    units,
                    mean,
                    ci,
                    effect_ci=none,
                    relative_ci=none,
                    sequential_ci=none,
                    relative_sequential_ci=none,
                )
            )
            continue
        t = tests[name]
        j = treatments.index(name)
        c = summaries[control]
        notes = [t.note] if t.note else []
        try:
            seq = sequential_test(c, s, alpha=alpha, tuning_parameter=tuning_parameter)
            seq_ci, seq_p, rel_seq_ci, rel_seq_p = seq.ci, seq.p_value, seq.relative_ci, seq.relative_p_value
        except InputError as exc:
            seq_ci = rel_seq_ci = ConfidenceInterval.undefined(1.0 - alpha)
            seq_p = rel_seq_p = math.nan
            notes.append(f"sequential: {exc}")
        try:
            bayes = gaussian_test(c, s)
            win, loss = bayes.chance_to_win, bayes.expected_loss_treatment
        except InputError as exc:
            win, loss = math.nan, math.nan
            notes.append(f"bayesian: {exc}")
        rows.append(
            VariantReadout(
                name,
                units,
                mean,
                ci,
                effect=t.effect,
                effect_ci=t.ci,
                relative=t.relative_effect,
                relative_ci=t.relative_ci,
                p_value=t.p_value,
                p_adjusted=float(adjusted[j]),
                significant=bool(adjusted[j] < alpha),
                sequential_ci=seq_ci,
                sequential_p=seq_p,
                chance_to_win=win,
                expected_loss=loss,
                note="; ".join(notes),
                relative_p_value=t.relative_p_value,
                relative_p_adjusted=float(relative_adjusted[j]),
                relative_sequential_ci=rel_seq_ci,
                relative_sequential_p=rel_seq_p,
            )
        )
    return rows


def _check(alpha: float, correction: str) -> None:
    validate_params("the readout", _CHECKS, {"alpha": alpha, "correction": correction})


def _moments(pw: Any) -> dict[str, Moments]:
    out = {}
    for i, name in enumerate(pw.variants):
        n = int(pw.counts[:, i].sum())
        se = float(pw.standard_errors[i])
        out[name] = Moments(n=n, mean=float(pw.means[i]), variance=se * se * n)
    return out


def analyze_periods(
    periods: PeriodStats,
    weights: npt.ArrayLike,
    *,
    control: str,
    alpha: float = 0.05,
    correction: str = "holm",
    tuning_parameter: float | None = None,
    metric: str = "reward per unit",
) -> Readout:
    """Readout from per-period statistics under an allocation that changed between periods.

    Each variant's mean is its period-weighted mean (the periods' shares of all units as weights,
    common to all variants), compared with a z test; the SRM test uses the weights in force in each
    period. ``weights`` is ``(n_periods, n_variants)``.
    """
    _check(alpha, correction)
    if control not in periods.variants:
        raise UnknownNameError("variant", control, periods.variants)
    summaries = _moments(periods.period_weighted())
    return _period_readout(
        summaries,
        periods.n,
        weights,
        control=control,
        alpha=alpha,
        correction=correction,
        tuning_parameter=tuning_parameter,
        metric=metric,
        method="period-weighted z",
    )


def _period_readout(
    summaries: Mapping[str, Moments],
    counts: FloatArray,
    weights: npt.ArrayLike,
    *,
    control: str,
    alpha: float,
    correction: str,
    tuning_parameter: float | None,
    metric: str,
    method: str,
) -> Readout:
    """z tests of period-weighted summaries (one per variant, in the periods' order), SRM against ``weights``."""
    names = list(summaries)
    if control not in summaries:
        raise UnknownNameError("variant", control, names)
    tests = {v: ztest(summaries[control], summaries[v], alpha=alpha) for v in names if v != control}
    n_star = float(counts.sum()) if tuning_parameter is None else float(tuning_parameter)
    rows = _compare(summaries, control, tests, alpha=alpha, correction=correction, tuning_parameter=n_star)
    order = [control] + [v for v in names if v != control]
    rows.sort(key=lambda r: order.index(r.variant))
    srm = srm_test(np.rint(counts).astype(np.int64), np.asarray(weights, dtype=np.float64))
    return Readout(control, metric, method, alpha, correction, tuple(rows), srm, n_star, srm_per_period=True)


def _unit_table(
    log: InteractionLog, column: str, experiment: str | None, variants: Sequence[str] | None
) -> tuple[pd.DataFrame, list[str], FloatArray]:
    """One row per unit (variant code, first period, total/max of ``column``, rows) and the weights in force."""
    frame = log.frame
    if experiment is not None:
        frame = frame[frame["experiment"] == experiment]
    if len(frame) == 0:
        raise InputError("The log has no rows (check the experiment name).")
    if column not in frame.columns:
        raise InputError(f"The log has no column {column!r}; its columns are {list(frame.columns)}.")
    names = sorted(set(frame["variant"])) if variants is None else list(variants)
    code = pd.Categorical(frame["variant"], categories=names).codes
    if (code < 0).any():
        raise InputError(f"The log has variants outside {names}.")
    rows = pd.DataFrame(
        {
            "unit": frame["unit"].to_numpy(),
            "v": code,
            "period": frame["period"].to_numpy(),
            "y": frame[column].to_numpy(dtype=np.float64),
        }
    )
    per_unit = rows.groupby("unit", sort=False).agg(
        v=("v", "first"),
        v_max=("v", "max"),
        v_min=("v", "min"),
        period=("period", "min"),
        y=("y", "sum"),
        y_max=("y", "max"),
        rows=("y", "size"),
    )
    leaked = per_unit["v_max"] != per_unit["v_min"]
    if leaked.any():
        raise InputError(
            f"{int(leaked.sum())} unit(s) appear in more than one variant (e.g. {list(per_unit.index[leaked][:3])}); "
            "units must stay in one variant."
        )
    n_periods = int(frame["period"].max()) + 1
    cells = pd.DataFrame({"period": frame["period"].to_numpy(), "v": code, "p": frame["assignment_p"].to_numpy()})
    spread = cells.groupby(["period", "v"])["p"].agg(["min", "max"])
    low, high = (np.full((n_periods, len(names)), np.nan) for _ in range(2))
    at = (spread.index.get_level_values(0), spread.index.get_level_values(1))
    low[at], high[at] = spread["min"].to_numpy(), spread["max"].to_numpy()
    return per_unit, names, _weights_in_force(low, high)


def _weights_in_force(low: FloatArray, high: FloatArray) -> FloatArray:
    """The ``(n_periods, n_variants)`` weights in force from the smallest and largest logged ``assignment_p`` of
    each period and variant (NaN where it has no rows: an equal share of what the others leave)."""
    if (high - low > 1e-9).any():
        raise InputError("assignment_p varies within a period and variant; weights may change only between periods.")
    weights = low.copy()
    missing = np.isnan(weights)
    if missing.any():
        left = np.clip(1.0 - np.nansum(weights, axis=1, keepdims=True), 0.0, None)
        share = left / np.maximum(missing.sum(axis=1, keepdims=True), 1)
        weights = np.where(missing, share, weights)
    return weights


def log_periods(
    log: InteractionLog,
    *,
    column: str = "reward",
    metric: str = "mean",
    experiment: str | None = None,
    variants: Sequence[str] | None = None,
) -> tuple[PeriodStats, FloatArray]:
    """Per-period sufficient statistics of one value per unit, and the weights in force, from a log.

    Each unit's value is its total ``column`` over its rows (``metric="mean"``) or whether any is
    positive (``"proportion"``); it counts in the period of its first row. The weights of a period are
    the logged ``assignment_p`` of each variant's rows; a variant with no units in a period gets an
    equal share of what the others leave. Returns ``(periods, weights)``, weights ``(n_periods, n_variants)``.
    """
    validate_params("log_periods", _PERIOD_METRIC, {"metric": metric})
    per_unit, names, weights = _unit_table(log, column, experiment, variants)
    y = per_unit["y"].to_numpy() if metric == "mean" else (per_unit["y_max"].to_numpy() > 0).astype(np.float64)
    periods = PeriodStats.from_observations(
        per_unit["period"].to_numpy(), per_unit["v"].to_numpy(), y, n_periods=weights.shape[0], names=names
    )
    return periods, weights


def _period_weighted_ratios(
    per_unit: pd.DataFrame, names: Sequence[str], n_periods: int
) -> tuple[dict[str, Moments], FloatArray]:
    """Each variant's period-weighted ratio ``sum_t w_t ybar_tv / sum_t w_t xbar_tv`` and its delta-method variance.

    ``per_unit`` has one row per unit: its variant index ``v``, ``period``, numerator ``y`` (e.g. clicks)
    and denominator ``rows`` (e.g. shown items). The period weights ``w_t`` are the periods' shares of all
    units, common to every variant (as for the period-weighted means); within a period and variant the
    numerator and denominator means, variances and their covariance are the sample ones over units (ddof 1),
    so the variance of the weighted numerator ``A`` is ``sum_t w_t**2 s_yy / n_tv`` (likewise the
    denominator ``B`` and their covariance) and, by the delta method, ``Var(A / B) = (Var A - 2 R Cov(A, B)
    + R**2 Var B) / B**2``. With one period this is the delta-method variance of
    :class:`~abrec.abtest.RatioStats`. Returns per variant a :class:`Moments` (``n`` units, ``mean`` the
    ratio, ``variance`` the variance times ``n``, so that ``variance / n`` is the squared standard error),
    and the ``(n_periods, n_variants)`` unit counts.
    """
    k = len(names)
    cell = per_unit["period"].to_numpy(dtype=np.int64) * k + per_unit["v"].to_numpy(dtype=np.int64)
    y = per_unit["y"].to_numpy(dtype=np.float64)
    x = per_unit["rows"].to_numpy(dtype=np.float64)

    def total(values: FloatArray | None) -> FloatArray:
        out: FloatArray = np.bincount(cell, weights=values, minlength=n_periods * k).astype(np.float64)
        return out.reshape(n_periods, k)

    n = total(None)
    return _ratio_moments(n, total(y), total(x), total(y * y), total(x * x), total(x * y), names), n


def _ratio_moments(
    n: FloatArray,
    sy: FloatArray,
    sx: FloatArray,
    syy: FloatArray,
    sxx: FloatArray,
    sxy: FloatArray,
    names: Sequence[str],
) -> dict[str, Moments]:
    """:func:`_period_weighted_ratios` from the ``(n_periods, n_variants)`` unit counts and sums of ``y``, ``x``,
    ``y**2``, ``x**2`` and ``x * y`` (sufficient statistics kept elsewhere, e.g. by the event store)."""
    w = n.sum(axis=1)
    w = w / w.sum()
    used = w > 0
    small = used[:, None] & (n < 2)
    if small.any():
        t, v = np.argwhere(small)[0]
        raise InputError(
            f"Period {t} has {n[t, v]:g} unit(s) in variant {names[v]!r}; a period-weighted ratio needs at least 2 "
            "in every variant of every period with units."
        )
    safe = np.where(n > 0, n, 1.0)
    dof = np.where(n > 1, n - 1.0, 1.0)
    a, b = sy / safe, sx / safe
    s_aa = np.where(used[:, None], (syy - sy * a) / dof, 0.0)
    s_bb = np.where(used[:, None], (sxx - sx * b) / dof, 0.0)
    s_ab = np.where(used[:, None], (sxy - sx * a) / dof, 0.0)
    w2n = (w * w)[:, None] / safe
    num, den = w @ a, w @ b
    var_a, var_b, cov = (w2n * s_aa).sum(axis=0), (w2n * s_bb).sum(axis=0), (w2n * s_ab).sum(axis=0)
    out = {}
    for i, name in enumerate(names):
        if den[i] <= 0:
            raise InputError(f"Variant {name!r} has no rows to divide by; a ratio metric needs a positive denominator.")
        r = num[i] / den[i]
        var_r = max((var_a[i] - 2.0 * r * cov[i] + r * r * var_b[i]) / den[i] ** 2, 0.0)
        units = int(n[:, i].sum())
        out[name] = Moments(n=units, mean=float(r), variance=float(var_r * units))
    return out


def sequential_path(
    periods: PeriodStats, *, control: str, treatment: str, alpha: float = 0.05, tuning_parameter: float | None = None
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """The period-weighted lift and its always-valid interval after each period: ``(effect, low, high)``.

    Periods where an arm has fewer than two units give NaN.
    """
    n_star = float(periods.n.sum()) if tuning_parameter is None else float(tuning_parameter)
    t_count = periods.n_periods
    effect, low, high = (np.full(t_count, np.nan) for _ in range(3))
    for t in range(t_count):
        head = PeriodStats(periods.n[: t + 1], periods.sum[: t + 1], periods.sum_sq[: t + 1], periods.variants)
        if (head.n < 2).any():
            continue
        summaries = _moments(head.period_weighted())
        res = sequential_test(summaries[control], summaries[treatment], alpha=alpha, tuning_parameter=n_star)
        effect[t], (low[t], high[t]) = res.effect, res.ci
    return effect, low, high


def _named_control(control: str | None, variants: Sequence[str]) -> str:
    if control is None:
        raise InputError(
            f"Name the control variant (control=..., abrec analyze --control); the variants are {list(variants)}."
        )
    return control


def analyze_log(
    log: InteractionLog | pd.DataFrame,
    *,
    control: str | None = None,
    metric: str = "mean",
    column: str = "reward",
    alpha: float = 0.05,
    experiment: str | None = None,
    weights: Mapping[str, float] | Sequence[float] | None = None,
    correction: str = "holm",
    tuning_parameter: float | None = None,
) -> Readout:
    """Readout of a logged experiment: one value per unit (``metric`` over its rows), per variant.

    Parameters
    ----------
    log : InteractionLog or DataFrame
        With ``unit``, ``variant`` and ``column``.
    control : str, optional
        The control variant; default the first in sorted order (say it explicitly; required when the
        log records assignment probabilities).
    metric : {"mean", "proportion", "ratio", "p50", "p90", "p99"}
        Per unit: its total ``column`` (``mean``: the mean over units of that total), whether any row
        has a positive ``column`` (``proportion``), or its total over its rows (``ratio``: e.g. CTR,
        with a delta-method variance; period-weighted on a log with assignment probabilities,
        ``method`` ``"period-weighted z (delta-method ratio)"``). ``p50``, ``p90``, ``p99``: that quantile
        of the units' totals of ``column``, compared by :func:`~abrec.abtest.quantiles.quantile_test`
        (order-statistic standard error; no always-valid or Bayesian fields; never period-weighted: on a log
        with assignment probabilities the periods' units are pooled and ``method`` says so). Below
        :func:`~abrec.abtest.quantiles.min_units` units in an arm the test's numbers are NaN with a ``note``.
    weights : mapping or sequence, optional
        Intended traffic split for the SRM test; default equal. When it is not given and every row
        records its ``assignment_p`` (logs of abrec simulations and of the decision service), the
        readout is period by period (:func:`log_periods`, :func:`analyze_periods`: period-weighted
        means, z test, SRM against the weights in force in each period), ``method`` says so.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> n = 4000
    >>> variant = np.where(rng.random(n) < 0.5, "A", "B")
    >>> reward = (rng.random(n) < np.where(variant == "B", 0.12, 0.10)).astype(float)
    >>> log = InteractionLog.from_arrays(unit=[f"u{i}" for i in range(n)], item=0, timestamp=0,
    ...                                  reward=reward, variant=variant)
    >>> r = analyze_log(log, control="A")
    >>> [v.variant for v in r.variants], r.method, bool(r.variants[1].effect > 0)
    (['A', 'B'], 'welch-t', True)
    """
    _check(alpha, correction)
    if isinstance(log, pd.DataFrame):
        log = InteractionLog(log)
    scope = log if experiment is None else log.for_experiment(experiment)
    validate_params("analyze_log", _METRIC, {"metric": metric})
    if metric in QUANTILES:
        return _quantile_readout(
            scope,
            kind=metric,
            column=column,
            control=control,
            alpha=alpha,
            weights=weights,
            correction=correction,
            tuning_parameter=tuning_parameter,
        )
    if weights is None and scope.assigned:
        if metric == "ratio":
            units, names, in_force = _unit_table(scope, column, None, None)
            summaries, counts = _period_weighted_ratios(units, names, in_force.shape[0])
            return _period_readout(
                summaries,
                counts,
                in_force,
                control=_named_control(control, names),
                alpha=alpha,
                correction=correction,
                tuning_parameter=tuning_parameter,
                metric=f"{column} per row (ratio)",
                method=PERIOD_RATIO,
            )
        periods, in_force = log_periods(scope, column=column, metric=metric)
        control = _named_control(control, periods.variants)
        per_unit = "per unit (mean)" if metric == "mean" else "units with any (proportion)"
        return analyze_periods(
            periods,
            in_force,
            control=control,
            alpha=alpha,
            correction=correction,
            tuning_parameter=tuning_parameter,
            metric=f"{column} {per_unit}",
        )
    stats = aggregate_units(log, metric, column=column, experiment=experiment)  # type: ignore[arg-type]
    names = list(stats)
    if len(names) < 2:
        raise InputError(f"An experiment readout needs at least two variants in the log; found {names}.")
    control = names[0] if control is None else control
    if control not in stats:
        raise UnknownNameError("variant", control, names)
    tests = {v: welch_ttest(stats[control], stats[v], alpha=alpha) for v in names if v != control}
    n_total = float(sum(s.n for s in stats.values()))
    n_star = n_total if tuning_parameter is None else float(tuning_parameter)
    rows = _compare(stats, control, tests, alpha=alpha, correction=correction, tuning_parameter=n_star)
    srm = srm_test(np.array([int(stats[v].n) for v in names]), _split(weights, names))
    label = {"mean": "per unit (mean)", "proportion": "units with any (proportion)", "ratio": "per row (ratio)"}
    return Readout(
        control, f"{column} {label.get(metric, metric)}", "welch-t", alpha, correction, tuple(rows), srm, n_star
    )


def _quantile_readout(
    log: InteractionLog,
    *,
    kind: str,
    column: str,
    control: str | None,
    alpha: float,
    weights: Mapping[str, float] | Sequence[float] | None,
    correction: str,
    tuning_parameter: float | None,
) -> Readout:
    """The readout of the ``kind`` quantile (p50/p90/p99) of the units' totals: :func:`quantile_test` per treatment.

    On a log with assignment probabilities (and no ``weights``) the units of every period are pooled (a
    quantile is not period-weighted; the method and the treatments' notes say so) and the sample ratio check
    is against the weights in force in each period, as for the other metrics.
    """
    probability = QUANTILES[kind]
    samples = quantile_samples(log, column=column)
    names = list(samples)
    if len(names) < 2:
        raise InputError(f"An experiment readout needs at least two variants in the log; found {names}.")
    pooled = weights is None and log.assigned
    control = _named_control(control, names) if pooled else (names[0] if control is None else control)
    if control not in samples:
        raise UnknownNameError("variant", control, names)
    treatments = [v for v in names if v != control]
    tests = {v: quantile_test(samples[control], samples[v], probability=probability, alpha=alpha) for v in treatments}
    adjusted = _adjust(np.array([tests[v].p_value for v in treatments], dtype=np.float64), correction)
    relative_adjusted = _adjust(np.array([tests[v].relative_p_value for v in treatments], dtype=np.float64), correction)
    z = _z(alpha)
    level = 1.0 - alpha
    none = ConfidenceInterval.undefined(level)
    shared = [QUANTILE_NOTE] + ([POOLED_NOTE] if pooled else [])
    quantile, ci, small = _own_quantile(samples[control], kind, probability, z, level)
    rows = [
        VariantReadout(
            control,
            samples[control].n,
            quantile,
            ci,
            effect_ci=none,
            relative_ci=none,
            sequential_ci=none,
            relative_sequential_ci=none,
            note=small,
        )
    ]
    for j, name in enumerate(treatments):
        quantile, ci, _ = _own_quantile(samples[name], kind, probability, z, level)
        t = tests[name]
        rows.append(
            VariantReadout(
                name,
                samples[name].n,
                quantile,
                ci,
                effect=t.effect,
                effect_ci=t.ci,
                relative=t.relative_effect,
                relative_ci=t.relative_ci,
                p_value=t.p_value,
                p_adjusted=float(adjusted[j]),
                significant=bool(adjusted[j] < alpha),
                sequential_ci=none,
                relative_sequential_ci=none,
                note="; ".join(([t.note] if t.note else []) + shared),
                relative_p_value=t.relative_p_value,
                relative_p_adjusted=float(relative_adjusted[j]),
            )
        )
    if pooled:
        per_unit, _, in_force = _unit_table(log, column, None, names)
        counts = np.zeros(in_force.shape, dtype=np.int64)
        np.add.at(counts, (per_unit["period"].to_numpy(dtype=np.int64), per_unit["v"].to_numpy(dtype=np.int64)), 1)
        srm = srm_test(counts, in_force)
    else:
        srm = srm_test(np.array([samples[v].n for v in names]), _split(weights, names))
    n_total = float(sum(s.n for s in samples.values()))
    n_star = n_total if tuning_parameter is None else float(tuning_parameter)
    method = f"quantile {kind}, order-statistic" + (f" ({POOLED})" if pooled else "")
    return Readout(
        control,
        f"{column} per unit ({kind})",
        method,
        alpha,
        correction,
        tuple(rows),
        srm,
        n_star,
        srm_per_period=pooled,
    )


def _own_quantile(
    sample: QuantileSample, kind: str, probability: float, z: float, level: float
) -> tuple[float, ConfidenceInterval, str]:
    """A variant's quantile, its own two-sided Wald interval (order-statistic standard error), or why it has none."""
    needed = min_units(probability)
    if sample.n < needed:
        note = f"interval undefined: the {kind} needs at least {needed} units ({sample.n} here)"
        return sample.quantile(probability), ConfidenceInterval.undefined(level), note
    quantile = sample.quantile(probability)
    se = sample.quantile_standard_error(probability, "order-statistic")
    return quantile, ConfidenceInterval(quantile - z * se, quantile + z * se, level), ""


def _split(weights: Mapping[str, float] | Sequence[float] | None, names: Sequence[str]) -> FloatArray:
    """The intended traffic split of ``names`` for the SRM test: equal, or ``weights`` by name or position."""
    if weights is None:
        return np.full(len(names), 1.0 / len(names))
    if isinstance(weights, Mapping):
        missing = set(names) - set(weights)
        if missing:
            raise InputError(f"weights must give every variant a weight; missing {sorted(missing)}.")
        return np.array([float(weights[v]) for v in names])
    return np.asarray(weights, dtype=np.float64)
