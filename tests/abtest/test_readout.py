"""The per-variant readout: it must equal the underlying tests computed directly on the same statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from abrec.abtest import Moments, PeriodStats, aggregate_units, benjamini_hochberg, holm, welch_ttest, ztest
from abrec.abtest.readout import Readout, analyze_log, analyze_periods, sequential_path
from abrec.abtest.sequential import sequential_test
from abrec.data import InteractionLog
from abrec.errors import InputError, ParameterError, UnknownNameError

RATES = {"A": 0.10, "B": 0.13, "C": 0.10, "D": 0.16}


def make_log(seed: int = 0, n_units: int = 3000, rows_per_unit: int = 3) -> InteractionLog:
    """Units split evenly between four variants, a few rows each, 0/1 rewards at the variant's rate."""
    rng = np.random.default_rng(seed)
    names = np.array(sorted(RATES))
    variant = names[rng.integers(0, len(names), n_units)]
    rate = np.array([RATES[v] for v in variant])
    unit = np.repeat([f"u{i}" for i in range(n_units)], rows_per_unit)
    reward = (rng.random(n_units * rows_per_unit) < np.repeat(rate, rows_per_unit)).astype(np.float64)
    return InteractionLog.from_arrays(
        unit=unit,
        item=rng.integers(0, 50, unit.size),
        timestamp=np.arange(unit.size),
        reward=reward,
        variant=np.repeat(variant, rows_per_unit),
    )


@pytest.fixture(scope="module")
def log() -> InteractionLog:
    return make_log()


def z_of(alpha: float) -> float:
    return float(special.ndtri(1 - alpha / 2))


# ------------------------------------------------------------------------------------------ analyze_log


@pytest.mark.parametrize("metric", ["mean", "proportion", "ratio"])
@pytest.mark.parametrize("control", ["A", "C"])
def test_analyze_log_equals_welch_on_aggregated_units(log: InteractionLog, metric: str, control: str) -> None:
    readout = analyze_log(log, control=control, metric=metric, alpha=0.1)
    stats = aggregate_units(log, metric)  # type: ignore[arg-type]
    assert isinstance(readout, Readout) and readout.method == "welch-t" and readout.alpha == 0.1
    assert readout.control == control
    names = [v.variant for v in readout.variants]
    assert names == [control] + [v for v in sorted(RATES) if v != control]  # control first
    z = z_of(0.1)
    for row in readout.variants:
        s = stats[row.variant]
        assert row.units == int(s.n)
        assert row.mean == pytest.approx(s.mean, rel=1e-12)
        half = z * math.sqrt(s.variance / s.n)
        assert row.ci == pytest.approx((s.mean - half, s.mean + half), rel=1e-9)
        if row.variant == control:
            assert math.isnan(row.effect) and math.isnan(row.p_value) and not row.significant
            continue
        direct = welch_ttest(stats[control], s, alpha=0.1)
        assert row.effect == pytest.approx(direct.effect, rel=1e-12, abs=1e-15)
        assert row.effect_ci == pytest.approx(direct.ci, rel=1e-12)
        assert row.p_value == pytest.approx(direct.p_value, rel=1e-12)
        assert row.relative == pytest.approx(direct.relative_effect, rel=1e-12)
        seq = sequential_test(stats[control], s, alpha=0.1, tuning_parameter=readout.tuning_parameter)
        assert row.sequential_ci == pytest.approx(seq.ci, rel=1e-12)
        assert row.sequential_p == pytest.approx(seq.p_value, rel=1e-12)
        assert 0 <= row.chance_to_win <= 1 and row.expected_loss >= 0
    assert readout.tuning_parameter == sum(s.n for s in stats.values())


def test_holm_adjusts_the_raw_p_values(log: InteractionLog) -> None:
    for correction, adjust in [("holm", holm), ("bh", benjamini_hochberg)]:
        readout = analyze_log(log, control="A", correction=correction)
        treatments = readout.variants[1:]
        raw = np.array([v.p_value for v in treatments])
        assert np.allclose([v.p_adjusted for v in treatments], adjust(raw), rtol=1e-12)
        assert [v.significant for v in treatments] == [v.p_adjusted < readout.alpha for v in treatments]
    none = analyze_log(log, control="A", correction="none")
    assert [v.p_adjusted for v in none.variants[1:]] == [v.p_value for v in none.variants[1:]]


def test_big_lifts_are_found_and_a_null_is_not(log: InteractionLog) -> None:
    rows = {v.variant: v for v in analyze_log(log, control="A").variants}
    assert rows["D"].significant and rows["D"].effect > 0 and rows["D"].chance_to_win > 0.99
    assert rows["D"].effect_ci[0] < 3 * (RATES["D"] - RATES["A"]) < rows["D"].effect_ci[1]  # 3 rows per unit


def test_always_valid_interval_contains_the_fixed_one(log: InteractionLog) -> None:
    for row in analyze_log(log, control="A").variants[1:]:
        assert row.sequential_ci[0] <= row.effect_ci[0] and row.effect_ci[1] <= row.sequential_ci[1]


def test_analyze_log_srm_and_weights(log: InteractionLog) -> None:
    stats = aggregate_units(log)
    readout = analyze_log(log, control="A")
    assert list(readout.srm.observed) == [int(stats[v].n) for v in sorted(RATES)]
    assert not readout.srm.mismatch()
    skewed = analyze_log(log, control="A", weights={"A": 0.7, "B": 0.1, "C": 0.1, "D": 0.1})
    assert skewed.srm.mismatch()
    as_list = analyze_log(log, control="A", weights=[0.7, 0.1, 0.1, 0.1])
    assert as_list.srm.p_value == skewed.srm.p_value
    with pytest.raises(InputError, match="missing"):
        analyze_log(log, control="A", weights={"A": 1.0})


def test_analyze_log_defaults_and_errors(log: InteractionLog) -> None:
    assert analyze_log(log).control == "A"  # first in sorted order
    with pytest.raises(UnknownNameError):
        analyze_log(log, control="Z")
    with pytest.raises(ParameterError, match="alpha"):
        analyze_log(log, control="A", alpha=1.5)
    with pytest.raises(ParameterError, match="correction"):
        analyze_log(log, control="A", correction="tukey")
    one = log.frame[log.frame["variant"] == "A"]
    with pytest.raises(InputError, match="at least two variants"):
        analyze_log(one, control="A")


def test_rows_and_frame(log: InteractionLog) -> None:
    readout = analyze_log(log, control="B")
    frame = readout.to_frame()
    assert list(frame["variant"]) == ["B", "A", "C", "D"]
    assert {"lift", "lift_low", "lift_high", "p_adjusted", "sequential_low", "chance_to_win"} <= set(frame.columns)
    assert readout.rows()[1]["lift"] == readout.variants[1].effect


# ------------------------------------------------------------------------------------------ analyze_periods


def drifting_periods(seed: int = 1) -> tuple[PeriodStats, np.ndarray]:
    """Three variants over five periods: the baseline drifts up and the allocation moves toward 'b'."""
    rng = np.random.default_rng(seed)
    weights = np.array([[1 / 3, 1 / 3, 1 / 3], [0.3, 0.4, 0.3], [0.2, 0.6, 0.2], [0.1, 0.8, 0.1], [0.1, 0.8, 0.1]])
    base = np.linspace(0.5, 1.5, 5)[:, None] + np.array([0.0, 0.2, 0.0])
    n = np.array([rng.multinomial(800, w) for w in weights]).astype(np.float64)
    sums, sq = np.zeros_like(n), np.zeros_like(n)
    for t in range(5):
        for v in range(3):
            x = rng.poisson(base[t, v], int(n[t, v])).astype(np.float64)
            sums[t, v], sq[t, v] = x.sum(), (x**2).sum()
    return PeriodStats(n, sums, sq, ("a", "b", "c")), weights


def test_analyze_periods_equals_ztest_on_period_weighted_moments() -> None:
    periods, weights = drifting_periods()
    readout = analyze_periods(periods, weights, control="b", alpha=0.1)
    assert readout.method == "period-weighted z" and readout.control == "b"
    assert [v.variant for v in readout.variants] == ["b", "a", "c"]
    # period weights computed by hand: each period's share of all units, common to all variants
    w = periods.n.sum(axis=1) / periods.n.sum()
    cell_mean = periods.sum / periods.n
    means = (w[:, None] * cell_mean).sum(axis=0)
    cell_var = (periods.sum_sq - periods.sum**2 / periods.n) / (periods.n - 1)
    se = np.sqrt((w[:, None] ** 2 * cell_var / periods.n).sum(axis=0))
    moments = {
        name: Moments(
            n=int(periods.n[:, i].sum()), mean=float(means[i]), variance=float(se[i] ** 2 * periods.n[:, i].sum())
        )
        for i, name in enumerate(periods.variants)
    }
    pw = periods.period_weighted()
    for row in readout.variants:
        i = periods.variants.index(row.variant)
        assert row.mean == pytest.approx(means[i], rel=1e-10)
        assert row.units == int(periods.n[:, i].sum())
        if row.variant == "b":
            continue
        direct = ztest(moments["b"], moments[row.variant], alpha=0.1)
        assert row.effect == pytest.approx(direct.effect, rel=1e-10)
        assert row.effect_ci == pytest.approx(direct.ci, rel=1e-9)
        assert row.p_value == pytest.approx(direct.p_value, rel=1e-8)
        diff = pw.difference(row.variant, "b", alpha=0.1)
        assert row.effect == pytest.approx(diff.estimate, rel=1e-10)
        assert row.p_value == pytest.approx(diff.p_value, rel=1e-8)
    raw = np.array([v.p_value for v in readout.variants[1:]])
    assert np.allclose([v.p_adjusted for v in readout.variants[1:]], holm(raw))
    # the drift does not fool it: 'b' beats both others
    rows = {v.variant: v for v in readout.variants}
    assert rows["a"].effect < 0 and rows["c"].effect < 0 and rows["a"].significant
    assert readout.srm.df == 2 and not readout.srm.mismatch()


def test_analyze_periods_errors() -> None:
    periods, weights = drifting_periods()
    with pytest.raises(UnknownNameError):
        analyze_periods(periods, weights, control="z")
    with pytest.raises(ParameterError):
        analyze_periods(periods, weights, control="a", correction="tukey")


def test_sequential_path_shapes_and_last_period() -> None:
    periods, weights = drifting_periods()
    effect, low, high = sequential_path(periods, control="b", treatment="a", alpha=0.1)
    assert effect.shape == low.shape == high.shape == (periods.n_periods,)
    assert np.isfinite(effect).all() and (low <= effect).all() and (effect <= high).all()
    readout = analyze_periods(periods, weights, control="b", alpha=0.1)
    last = readout.variants[1]
    assert last.variant == "a"
    assert effect[-1] == pytest.approx(last.effect, rel=1e-10)
    assert (low[-1], high[-1]) == pytest.approx(last.sequential_ci, rel=1e-10)
    # the always-valid interval at the last period contains the fixed-horizon one
    assert low[-1] <= last.effect_ci[0] and last.effect_ci[1] <= high[-1]


def test_sequential_path_is_nan_once_a_period_has_too_few_units() -> None:
    # A period-weighted mean needs two units of every arm in every period so far: from the small period on,
    # the path is undefined (NaN), as analyze_periods refuses such statistics.
    n = np.array([[10.0, 10.0], [10.0, 10.0], [1.0, 5.0], [10.0, 10.0]])
    sums = np.array([[3.0, 6.0], [4.0, 7.0], [1.0, 2.0], [2.0, 5.0]])
    periods = PeriodStats.from_counts(n, sums, variants=["a", "b"])
    effect, low, high = sequential_path(periods, control="a", treatment="b")
    assert np.isfinite(effect[:2]).all() and np.isfinite(low[:2]).all() and np.isfinite(high[:2]).all()
    assert np.isnan(effect[2:]).all() and np.isnan(low[2:]).all() and np.isnan(high[2:]).all()
    with pytest.raises(InputError, match="at least 2"):
        analyze_periods(periods, [[0.5, 0.5]] * 4, control="a")


@pytest.mark.parametrize("correction", ["bonferroni", "sidak", "holm", "holm-sidak", "bh", "by"])
def test_every_correction_reaches_the_readout(correction: str) -> None:
    from abrec.abtest.multiple import adjust

    rng = np.random.default_rng(3)
    n = 3000
    variant = rng.choice(["A", "B", "C", "D"], size=n)
    reward = (rng.random(n) < np.select([variant == "B", variant == "C"], [0.13, 0.115], 0.10)).astype(float)
    log = InteractionLog.from_arrays(unit=[f"u{i}" for i in range(n)], item=0, timestamp=0, reward=reward,
                                     variant=variant)  # fmt: skip
    readout = analyze_log(log, control="A", correction=correction)
    treatments = readout.variants[1:]
    raw = np.array([v.p_value for v in treatments])
    assert np.allclose([v.p_adjusted for v in treatments], adjust(raw, correction), rtol=0, atol=1e-15)
    assert readout.correction == correction
