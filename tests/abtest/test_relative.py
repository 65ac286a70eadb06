"""Inference on the relative lift ``mean_t / mean_c - 1``: the delta method against GrowthBook's formulas, the
undefined cases, A/A calibration of its test, coverage of its intervals (fixed-horizon, and always-valid under
continuous peeking), and the readout that shows it.

The simulations draw exact sufficient statistics (normal means and chi-square sums of squares, binomial counts)
for >= 4,000 runs at once and run the tests' own formulas (``relative_standard_error``, ``msprt_half_width``,
``msprt_p_value``) on the arrays; a few runs are checked against the public functions to be the same numbers.
Tolerances are the binomial 99% band (2.576 standard errors) around the nominal rate.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest
from scipy import special

from abrec.abtest import Moments, SampleStats, benjamini_hochberg, holm, proportions_ztest, sequential_test, welch_ttest
from abrec.abtest._common import relative_standard_error
from abrec.abtest.readout import analyze_log
from abrec.abtest.scorecard import analyze_metrics
from abrec.abtest.sequential import mixture_k, msprt_half_width, msprt_p_value
from abrec.data import InteractionLog
from abrec.report.experiment import readout_report, readout_table, relative_table

Z99 = 2.5758293035489004  # the binomial 99% band, in standard errors
Array = npt.NDArray[np.float64]


def band(p: float, n: int) -> float:
    return Z99 * math.sqrt(p * (1 - p) / n)


def normal_stats(rng: np.random.Generator, n: int, mean: float, sd: float, size: int) -> tuple[Array, Array]:
    """The sample mean and unbiased variance of ``size`` normal samples of ``n`` (exact sufficient statistics)."""
    return rng.normal(mean, sd / math.sqrt(n), size), sd**2 * rng.chisquare(n - 1, size) / (n - 1)


def gbstats_relative(mc: float, vc: float, nc: int, mt: float, vt: float, nt: int) -> tuple[float, float]:
    """gbstats utils.py ``frequentist_diff(relative=True)`` and ``frequentist_variance(relative=True)``, i.e.
    ``variance_of_ratios(mean_b, var_b / n_b, mean_a, var_a / n_a, 0)``: (estimate, standard error)."""
    var = vt / nt / mc**2 + vc / nc * mt**2 / mc**4
    return (mt - mc) / abs(mc), math.sqrt(var)


# ------------------------------------------------------------------------------------------------ values


@pytest.mark.parametrize(
    ("control", "treatment"),
    [
        (Moments(400, 2.0, 1.0), Moments(500, 2.3, 1.5)),
        (Moments(12, 10.0, 30.0), Moments(9, 8.0, 20.0)),  # small arms, a decrease
        (Moments(5000, 0.12, 0.1056), Moments(800, 0.135, 0.1168)),  # unequal arms, a rate
    ],
)
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_relative_test_is_gbstats_delta_method(control: Moments, treatment: Moments, alternative: str) -> None:
    r = welch_ttest(control, treatment, alpha=0.1, alternative=alternative)  # type: ignore[arg-type]
    est, se = gbstats_relative(
        control.mean, control.variance, control.n, treatment.mean, treatment.variance, treatment.n
    )
    assert r.relative_effect == pytest.approx(est, rel=1e-12) and r.relative_se == pytest.approx(se, rel=1e-12)
    # gbstats TwoSidedTTest / OneSidedTreatment{Greater,Lesser}TTest: t with the Welch df, on the relative scale
    z = est / se
    want = {
        "two-sided": 2 * special.stdtr(r.df, -abs(z)),
        "greater": special.stdtr(r.df, -z),
        "less": special.stdtr(r.df, z),
    }[alternative]
    assert r.relative_p_value == pytest.approx(want, rel=1e-10)
    half = special.stdtrit(r.df, 1 - (0.05 if alternative == "two-sided" else 0.1)) * se
    low = est - half if alternative != "less" else -math.inf
    high = est + half if alternative != "greater" else math.inf
    assert r.relative_ci == pytest.approx((low, high), rel=1e-10)
    # z test and proportions: the same delta method on the normal scale
    seq = sequential_test(control, treatment, alpha=0.1, alternative=alternative)  # type: ignore[arg-type]
    assert seq.relative_se == pytest.approx(se, rel=1e-12)
    k = mixture_k(float(control.n + treatment.n), 0.1, 5000.0, alternative)
    assert seq.relative_p_value == pytest.approx(msprt_p_value(est / se, k, alternative), rel=1e-12)
    crit = msprt_half_width(k, 0.1, alternative)
    assert seq.relative_ci.width == pytest.approx(2 * crit * se if alternative == "two-sided" else math.inf)


def test_proportions_relative_and_duality() -> None:
    c, t = SampleStats(2000, 200.0, 200.0), SampleStats(2100, 260.0, 260.0)
    r = proportions_ztest(c, t)
    est, se = gbstats_relative(0.1, 0.09, 2000, 260 / 2100, (260 / 2100) * (1 - 260 / 2100), 2100)
    assert (r.relative_effect, r.relative_se) == pytest.approx((est, se), rel=1e-12)
    assert r.relative_p_value == pytest.approx(2 * special.ndtr(-abs(est / se)), rel=1e-12)
    for alpha in (0.01, 0.05, 0.2):  # the interval excludes 0 exactly when the p-value is below alpha
        for result in (proportions_ztest(c, t, alpha=alpha), sequential_test(c, t, alpha=alpha)):
            assert (result.relative_p_value < alpha) == (not result.relative_ci.contains(0.0))


@pytest.mark.parametrize(
    ("control", "reason"),
    [
        (Moments(400, 0.0, 1.0), "is 0"),
        (Moments(400, -1.0, 1.0), "negative"),
        (Moments(400, 0.05, 1.0), "reaches 0"),
        (Moments(400, 1e-300, 1.0), "reaches 0"),
    ],
)
def test_undefined_relative_lift_is_nan_with_a_note(control: Moments, reason: str) -> None:
    t = Moments(500, 2.3, 1.5)
    for r in (welch_ttest(control, t), sequential_test(control, t)):
        assert math.isnan(r.relative_effect) and math.isnan(r.relative_se) and math.isnan(r.relative_p_value)
        assert all(math.isnan(x) for x in r.relative_ci) and reason in r.note and "absolute effect" in r.note
        assert math.isfinite(r.p_value) and math.isfinite(r.ci.low)  # the absolute readout stands
    constant = welch_ttest(Moments(10, 1.0, 0.0), Moments(10, 1.0, 0.0))
    assert math.isnan(constant.relative_p_value) and constant.relative_effect == 0.0


# ------------------------------------------------------------------------------------------------ calibration

SIMS = 4000


def _fixed_horizon(
    rng: np.random.Generator, lift: float, *, alpha: float, control_term: bool = True
) -> tuple[float, float]:
    """A/A false-positive rate of the relative test at ``alpha`` and coverage of its interval of a true ``lift``.

    Normal arms of unequal size (200 and 300) and spread; the test's own formula on the arrays, checked against
    ``welch_ttest`` on a few runs.
    """
    nc, nt, mean_c = 200, 300, 2.0
    mc, vc = normal_stats(rng, nc, mean_c, 1.0, SIMS)
    mt, vt = normal_stats(rng, nt, mean_c * (1 + lift), 2.0, SIMS)
    se = relative_standard_error(mc, vc / nc, mt, vt / nt, control_uncertainty=control_term)
    rel = mt / mc - 1
    a, b = vc / nc, vt / nt
    df = (a + b) ** 2 / (a * a / (nc - 1) + b * b / (nt - 1))
    p = 2 * special.stdtr(df, -np.abs(rel / se))
    half = special.stdtrit(df, 1 - alpha / 2) * se
    for i in range(3):
        r = welch_ttest(Moments(nc, mc[i], vc[i]), Moments(nt, mt[i], vt[i]), alpha=alpha)
        if control_term:
            assert r.relative_p_value == pytest.approx(p[i], rel=1e-9)
            assert r.relative_ci == pytest.approx((rel[i] - half[i], rel[i] + half[i]), rel=1e-9)
    return float(np.mean(p < alpha)), float(np.mean(np.abs(rel - lift) <= half))


def test_aa_false_positive_rate_and_coverage_of_the_relative_test() -> None:
    rng = np.random.default_rng(15)
    fpr, _ = _fixed_horizon(rng, 0.0, alpha=0.05)
    _, coverage = _fixed_horizon(rng, 0.25, alpha=0.1)
    print(f"relative lift, {SIMS} runs: A/A false-positive rate {fpr:.4f} at 0.05; coverage {coverage:.4f} at 0.90")
    assert abs(fpr - 0.05) <= band(0.05, SIMS), fpr
    assert abs(coverage - 0.9) <= band(0.9, SIMS), coverage


def test_aa_proportions_relative_test() -> None:
    rng = np.random.default_rng(16)
    nc, nt, p0 = 1500, 2500, 0.1
    kc, kt = rng.binomial(nc, p0, SIMS), rng.binomial(nt, p0, SIMS)
    p = np.array(
        [
            proportions_ztest(SampleStats(nc, a, a), SampleStats(nt, b, b)).relative_p_value
            for a, b in zip(kc, kt, strict=True)
        ]
    )
    rate = float(np.mean(p < 0.05))
    assert abs(rate - 0.05) <= band(0.05, SIMS), rate


def _peeking(
    rng: np.random.Generator, lift: float, *, alpha: float, looks: int = 20, batch: int = 100, fixed: bool = False
) -> tuple[float, float]:
    """Runs whose always-valid relative interval misses the true ``lift`` at some look, and whose relative p-value
    dips below ``alpha`` at some look: continuous peeking at every batch of ``batch`` units per arm."""
    n = batch * np.arange(1, looks + 1)
    arms = []
    for mean in (1.0, 1.0 + lift):
        means, sumsq = rng.normal(mean, 1 / math.sqrt(batch), (SIMS, looks)), rng.chisquare(batch - 1, (SIMS, looks))
        total = (means * batch).cumsum(1)
        # within-batch squares plus the between-batch spread: the exact cumulative sum of squared deviations
        ss = (sumsq + batch * means**2).cumsum(1) - total**2 / n
        arms.append((total / n, ss / (n - 1)))
    (mc, vc), (mt, vt) = arms
    rel = mt / mc - 1
    se = relative_standard_error(mc, vc / n, mt, vt / n)
    k = mixture_k(2.0 * n, alpha, float(2 * n[-1]))
    half = (1.96 if fixed else msprt_half_width(k, alpha, "two-sided")) * se
    p = msprt_p_value(rel / se, k, "two-sided")
    run, look = 7, 3  # the arrays are sequential_test's numbers
    r = sequential_test(
        Moments(int(n[look]), mc[run, look], vc[run, look]),
        Moments(int(n[look]), mt[run, look], vt[run, look]),
        alpha=alpha,
        tuning_parameter=float(2 * n[-1]),
    )
    if not fixed:
        low, high = rel[run, look] - half[run, look], rel[run, look] + half[run, look]
        assert r.relative_ci == pytest.approx((low, high), rel=1e-9)
        assert r.relative_p_value == pytest.approx(p[run, look], rel=1e-9)
    missed = np.any(np.abs(rel - lift) > half, axis=1)
    rejected = np.any(p < alpha, axis=1)
    return float(missed.mean()), float(rejected.mean())


def test_always_valid_relative_interval_under_continuous_peeking() -> None:
    rng = np.random.default_rng(17)
    alpha = 0.05
    miss, _ = _peeking(rng, 0.1, alpha=alpha)
    _, aa = _peeking(rng, 0.0, alpha=alpha)
    naive, _ = _peeking(rng, 0.1, alpha=alpha, fixed=True)
    print(
        f"relative lift, {SIMS} runs x 20 looks: always-valid interval misses {miss:.4f}, A/A rejects {aa:.4f} "
        f"(alpha {alpha}); the fixed-horizon interval watched the same way misses {naive:.4f}"
    )
    assert miss <= alpha + band(alpha, SIMS), miss  # coverage at or above 95% however often one looks
    assert aa <= alpha + band(alpha, SIMS), aa
    assert naive > alpha + 10 * band(alpha, SIMS), naive  # what peeking costs a fixed-horizon interval


# ------------------------------------------------------------------------------------------------ the readout


def _log(control_sign: float = 1.0, seed: int = 0, n: int = 6000) -> InteractionLog:
    rng = np.random.default_rng(seed)
    variant = np.array(["A", "B", "C"])[rng.integers(0, 3, n)]
    base = np.where(variant == "A", control_sign, 1.0)
    reward = base * rng.exponential(1.0, n) * np.where(variant == "C", 1.15, 1.0)
    purchase = (rng.random(n) < np.where(variant == "C", 0.12, 0.1)).astype(float)
    return InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(n)],
        item=0,
        timestamp=np.arange(n),
        reward=reward,
        variant=variant,
        extra_rewards={"purchase": purchase, "revenue": purchase * 30.0},
    )


def test_readout_carries_the_relative_test_with_its_correction() -> None:
    readout = analyze_log(_log(), control="A", alpha=0.1)
    stats = {v.variant: v for v in readout.variants}
    treatments = readout.variants[1:]
    raw = np.array([v.relative_p_value for v in treatments])
    assert np.allclose([v.relative_p_adjusted for v in treatments], holm(raw), rtol=1e-12)
    from abrec.abtest import aggregate_units

    summaries = aggregate_units(_log())
    for v in treatments:
        direct = welch_ttest(summaries["A"], summaries[v.variant], alpha=0.1)
        seq = sequential_test(
            summaries["A"], summaries[v.variant], alpha=0.1, tuning_parameter=readout.tuning_parameter
        )
        assert v.relative_p_value == pytest.approx(direct.relative_p_value, rel=1e-12)
        assert v.relative_ci == pytest.approx(direct.relative_ci, rel=1e-12)
        assert v.relative_sequential_ci == pytest.approx(seq.relative_ci, rel=1e-12)
        assert v.relative_sequential_p == pytest.approx(seq.relative_p_value, rel=1e-12)
    assert stats["C"].relative_p_adjusted < 0.1 and stats["C"].relative > 0
    row = readout.rows()[2]
    assert {"relative_p_value", "relative_p_adjusted", "relative_sequential_low", "relative_sequential_p"} <= set(row)
    assert list(readout.to_frame().columns) == list(row)
    columns, rows = readout_table(readout)
    cell = rows[2][columns.index("rel. lift")]
    assert cell.startswith(f"{stats['C'].relative:+.1%} [") and cell.endswith("*")
    columns, rows = relative_table(readout)
    assert len(rows) == 2 and rows[1][columns.index("always-valid rel. p")] == f"{stats['C'].relative_sequential_p:.3g}"
    html = readout_report(readout).render()
    assert "always-valid rel. CI" in html and "relative lift (treatment mean / control mean - 1)" in html


def test_secondary_metrics_adjust_the_relative_p_values_together() -> None:
    metrics = analyze_metrics(_log(), control="A")
    secondary = [v for r in metrics.secondary for v in r.variants if v.variant != r.control]
    raw = np.array([v.relative_p_value for v in secondary])
    finite = np.isfinite(raw)
    assert finite.sum() >= 4
    adjusted = np.array([v.relative_p_adjusted for v in secondary])
    assert np.allclose(adjusted[finite], benjamini_hochberg(raw[finite]), rtol=1e-12)


def test_negative_control_mean_gives_an_absolute_readout_and_a_note() -> None:
    readout = analyze_log(_log(control_sign=-1.0), control="A")
    for v in readout.variants[1:]:
        assert math.isfinite(v.effect) and math.isfinite(v.p_value) and math.isfinite(v.sequential_ci.low)
        assert math.isnan(v.relative) and math.isnan(v.relative_p_value) and math.isnan(v.relative_p_adjusted)
        assert math.isnan(v.relative_sequential_p) and math.isnan(v.relative_sequential_ci.low)
        assert "control mean is negative" in v.note
    columns, rows = readout_table(readout)
    assert rows[1][columns.index("rel. lift")] == "n/a (control mean <= 0)"
    html = readout_report(readout).render()
    assert "control mean is negative" in html and "n/a (control mean &lt;= 0)" in html


def test_leaving_the_control_out_of_the_relative_interval_undercovers_large_lifts() -> None:
    """Spotify's relative interval (the absolute one over the control mean) against the delta method: +50%."""
    rng = np.random.default_rng(18)
    n, lift = 500, 0.5
    mc, vc = normal_stats(rng, n, 1.0, 1.0, SIMS)
    mt, vt = normal_stats(rng, n, 1.0 + lift, 1.0, SIMS)
    rel = mt / mc - 1
    coverage = {}
    for name, with_control in (("abrec", True), ("spotify", False)):
        se = relative_standard_error(mc, vc / n, mt, vt / n, control_uncertainty=with_control)
        coverage[name] = float(np.mean(np.abs(rel - lift) <= 1.959963984540054 * se))
    print(
        f"95% relative interval at +50%, {SIMS} runs: delta method {coverage['abrec']:.4f}, control as known "
        f"{coverage['spotify']:.4f}"
    )
    assert abs(coverage["abrec"] - 0.95) <= band(0.95, SIMS), coverage
    assert coverage["spotify"] < 0.95 - 3 * band(0.95, SIMS), coverage


def test_with_relative_keeps_the_three_relative_fields_together() -> None:
    from abrec.abtest.frequentist import with_relative

    r = welch_ttest(Moments(400, 2.0, 1.0), Moments(500, 2.3, 1.5))
    same = with_relative(r, r.relative_effect, r.relative_se, crit=special.stdtrit(r.df, 0.975))
    assert same.relative_ci == pytest.approx(r.relative_ci, rel=1e-12)
    assert same.relative_p_value == pytest.approx(r.relative_p_value, rel=1e-12)
    other = with_relative(r, 0.1, 0.04, crit=2.0)
    assert other.relative_ci == pytest.approx((0.02, 0.18)) and other.relative_p_value == pytest.approx(
        2 * special.stdtr(r.df, -2.5)
    )
    undefined = with_relative(r, math.nan, math.nan, crit=2.0)
    assert math.isnan(undefined.relative_p_value) and math.isnan(undefined.relative_ci.low)
