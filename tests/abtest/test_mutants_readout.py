"""Edges of abrec.abtest.readout that the readout tests leave open (mutation testing, issue 20).

References: the readout's own records (``rows()`` must carry every field), numpy transcriptions of the per-unit
aggregation and of the period-weighted moments, and :func:`~abrec.abtest.sequential.sequential_test` called on
moments computed here.
"""

from __future__ import annotations

import math
import re

import numpy as np
import pandas as pd
import pytest
from scipy.special import ndtri

from abrec.abtest import Moments, PeriodStats, holm, welch_ttest
from abrec.abtest.readout import analyze_log, analyze_periods, log_periods, sequential_path
from abrec.abtest.sequential import sequential_test
from abrec.data import InteractionLog
from abrec.errors import InputError, ParameterError

FIELDS = {  # rows() key -> (VariantReadout attribute, index into it or None)
    "variant": ("variant", None),
    "units": ("units", None),
    "mean": ("mean", None),
    "ci_low": ("ci", 0),
    "ci_high": ("ci", 1),
    "lift": ("effect", None),
    "lift_low": ("effect_ci", 0),
    "lift_high": ("effect_ci", 1),
    "relative_lift": ("relative", None),
    "relative_low": ("relative_ci", 0),
    "relative_high": ("relative_ci", 1),
    "p_value": ("p_value", None),
    "p_adjusted": ("p_adjusted", None),
    "significant": ("significant", None),
    "relative_p_value": ("relative_p_value", None),
    "relative_p_adjusted": ("relative_p_adjusted", None),
    "sequential_low": ("sequential_ci", 0),
    "sequential_high": ("sequential_ci", 1),
    "sequential_p": ("sequential_p", None),
    "relative_sequential_low": ("relative_sequential_ci", 0),
    "relative_sequential_high": ("relative_sequential_ci", 1),
    "relative_sequential_p": ("relative_sequential_p", None),
    "chance_to_win": ("chance_to_win", None),
    "expected_loss": ("expected_loss", None),
    "note": ("note", None),
}


def periodic_log(seed: int = 0) -> InteractionLog:
    """Two variants over three periods with changing weights; some units have rows in a later period too."""
    rng = np.random.default_rng(seed)
    weights = np.array([[0.5, 0.5], [0.3, 0.7], [0.2, 0.8]])
    units, variants, periods, p, rewards = [], [], [], [], []
    for t in range(2):  # units arrive in periods 0 and 1 only
        for i in range(300):
            v = int(rng.random() < weights[t, 1])
            for extra in range(2):  # each unit has a row in its own period and one in period 2
                units.append(f"u{t}_{i}")
                variants.append("AB"[v])
                period = t if extra == 0 else 2
                periods.append(period)
                p.append(weights[period, v])
                rewards.append(float(rng.poisson(1.0 + 0.2 * v)))
    return InteractionLog.from_arrays(
        unit=units,
        item=0,
        timestamp=np.arange(len(units)),
        reward=rewards,
        variant=variants,
        period=periods,
        assignment_p=p,
    )


def test_rows_carry_every_field_of_every_variant() -> None:
    rng = np.random.default_rng(3)
    n = 600
    variant = np.array(["A", "B", "C"])[rng.integers(0, 3, n)]
    reward = rng.poisson(np.where(variant == "B", 1.3, 1.0)).astype(float)
    log = InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(n)], item=0, timestamp=0, reward=reward, variant=variant
    )
    readout = analyze_log(log, control="A")
    rows = readout.rows()
    assert len(rows) == 3
    for row, v in zip(rows, readout.variants, strict=True):
        assert list(row) == list(FIELDS)
        for key, (attr, index) in FIELDS.items():
            value = getattr(v, attr) if index is None else getattr(v, attr)[index]
            if isinstance(value, float) and math.isnan(value):
                assert math.isnan(row[key]), key
            else:
                assert row[key] == value, key
    treated = rows[1]
    assert all(math.isfinite(treated[k]) for k in FIELDS if k not in ("variant", "note", "significant"))
    frame = readout.to_frame()
    assert list(frame.columns) == list(FIELDS)


def test_log_periods_aggregates_units_like_a_numpy_transcription() -> None:
    log = periodic_log()
    frame = log.frame
    periods, weights = log_periods(log)  # default column: reward
    same, _ = log_periods(log, column="reward")
    np.testing.assert_array_equal(periods.sum, same.sum)
    # the log has rows in period 2, but every unit arrived in period 0 or 1: three periods all the same
    assert periods.n_periods == 3 and weights.shape == (3, 2)
    assert periods.n[2].tolist() == [0.0, 0.0]
    np.testing.assert_allclose(weights[:2], [[0.5, 0.5], [0.3, 0.7]])
    first = frame.groupby("unit").agg(period=("period", "min"), variant=("variant", "first"), y=("reward", "sum"))
    anyp = frame.groupby("unit")["reward"].max() > 0
    for t in range(2):
        for j, name in enumerate("AB"):
            cell = first[(first["period"] == t) & (first["variant"] == name)]
            assert periods.n[t, j] == len(cell)
            assert periods.sum[t, j] == pytest.approx(cell["y"].sum(), rel=1e-12)
    prop, _ = log_periods(log, metric="proportion")
    for t in range(2):
        for j, name in enumerate("AB"):
            cell = first[(first["period"] == t) & (first["variant"] == name)]
            assert prop.sum[t, j] == float(anyp[cell.index].sum())
    # the variants' order as given, not sorted
    swapped, _ = log_periods(log, variants=["B", "A"])
    assert swapped.variants == ("B", "A") and swapped.n[0, 0] == periods.n[0, 1]


def test_log_periods_reads_only_the_named_experiment() -> None:
    log = periodic_log()
    other = periodic_log(seed=5).frame.assign(experiment="other", unit=lambda f: "x" + f["unit"])
    both = InteractionLog(pd.concat([log.frame.assign(experiment="main"), other], ignore_index=True))
    main, _ = log_periods(both, experiment="main")
    alone, _ = log_periods(log)
    np.testing.assert_array_equal(main.n, alone.n)
    np.testing.assert_array_equal(main.sum, alone.sum)
    with pytest.raises(ParameterError, match=re.escape("parameter of log_periods")):
        log_periods(log, metric="median")


def _periods() -> PeriodStats:
    n = np.array([[2.0, 2.0], [40.0, 60.0], [50.0, 50.0]])  # exactly two units per arm in the first period
    sums = np.array([[1.0, 3.0], [30.0, 55.0], [40.0, 52.0]])
    sq = np.array([[1.0, 5.0], [50.0, 90.0], [60.0, 80.0]])
    return PeriodStats(n, sums, sq, ("a", "b"))


def test_sequential_path_from_two_units_per_arm_and_with_a_tuning_parameter() -> None:
    periods = _periods()
    effect, low, high = sequential_path(periods, control="a", treatment="b", tuning_parameter=40.0)
    # the first period alone: plain means and variances of two units (ddof 1), the mSPRT at n* = 40
    mean = periods.sum[0] / 2.0
    var = (periods.sum_sq[0] - periods.sum[0] ** 2 / 2.0) / 1.0
    ref = sequential_test(Moments(2, mean[0], var[0]), Moments(2, mean[1], var[1]), tuning_parameter=40.0)
    assert effect[0] == pytest.approx(mean[1] - mean[0], rel=1e-12)
    assert (low[0], high[0]) == pytest.approx(tuple(ref.ci), rel=1e-12)
    default = sequential_path(periods, control="a", treatment="b")  # n* defaults to all units, 204
    ref_default = sequential_test(Moments(2, mean[0], var[0]), Moments(2, mean[1], var[1]), tuning_parameter=204.0)
    assert (default[1][0], default[2][0]) == pytest.approx(tuple(ref_default.ci), rel=1e-12)
    assert default[1][0] != low[0]


def test_analyze_periods_defaults_and_tuning_parameter() -> None:
    periods = _periods()
    weights = [[0.5, 0.5], [0.4, 0.6], [0.5, 0.5]]
    r = analyze_periods(periods, weights, control="a")
    assert r.metric == "reward per unit" and r.tuning_parameter == float(periods.n.sum())
    tuned = analyze_periods(periods, weights, control="a", tuning_parameter=40.0, metric="clicks")
    assert tuned.metric == "clicks" and tuned.tuning_parameter == 40.0
    # the treatment's always-valid interval is the mSPRT at n* = 40 on the period-weighted moments
    w = periods.n.sum(axis=1) / periods.n.sum()
    means = (w[:, None] * periods.sum / periods.n).sum(axis=0)
    cell_var = (periods.sum_sq - periods.sum**2 / periods.n) / (periods.n - 1)
    se2 = (w[:, None] ** 2 * cell_var / periods.n).sum(axis=0)
    units = periods.n.sum(axis=0)
    a, b = (Moments(int(units[i]), float(means[i]), float(se2[i] * units[i])) for i in range(2))
    ref = sequential_test(a, b, tuning_parameter=40.0)
    assert tuned.variants[1].sequential_ci == pytest.approx(tuple(ref.ci), rel=1e-9)
    assert tuned.variants[1].sequential_p == pytest.approx(ref.p_value, rel=1e-9)
    untuned = sequential_test(a, b, tuning_parameter=float(periods.n.sum()))
    assert r.variants[1].sequential_ci == pytest.approx(tuple(untuned.ci), rel=1e-9)


def _rows(spec: list[tuple[str, int, float]]) -> InteractionLog:
    """A log with one row per unit: (variant, period, assignment_p) per row, reward 1."""
    return InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(len(spec))],
        item=0,
        timestamp=np.arange(len(spec)),
        reward=1.0,
        variant=[s[0] for s in spec],
        period=[s[1] for s in spec],
        assignment_p=[s[2] for s in spec],
    )


def test_weights_in_force_fill_a_variant_without_rows_with_an_equal_share_of_what_is_left() -> None:
    spec = [("A", 0, 0.2), ("B", 0, 0.3), ("C", 0, 0.5)] * 2
    spec += [("A", 1, 0.4)] * 2  # period 1: only A, at 0.4: B and C share the 0.6 left
    spec += [("A", 2, 0.7), ("B", 2, 0.5)]  # period 2: the logged weights already exceed 1: C gets nothing
    _, weights = log_periods(_rows(spec))
    np.testing.assert_allclose(weights, [[0.2, 0.3, 0.5], [0.4, 0.3, 0.3], [0.7, 0.5, 0.0]], rtol=1e-12)


def test_assignment_p_must_not_vary_within_a_period_and_variant() -> None:
    with pytest.raises(InputError, match="assignment_p varies within a period and variant"):
        log_periods(_rows([("A", 0, 0.5), ("A", 0, 0.6), ("B", 0, 0.5)]))
    log_periods(_rows([("A", 0, 0.5), ("A", 0, 0.5 + 5e-10), ("B", 0, 0.5)]))  # rounding noise is accepted


def test_an_experiment_with_no_rows_is_an_error() -> None:
    with pytest.raises(InputError, match="no rows"):
        log_periods(periodic_log(), experiment="nope")
    one = _rows([("A", 0, 0.5)]).frame.assign(experiment="x")
    periods, _ = log_periods(InteractionLog(one), experiment="x")  # one row is a log, not an empty one
    assert periods.n.sum() == 1.0


def test_one_missing_variant_takes_all_that_is_left() -> None:
    spec = [("A", 0, 0.5), ("B", 0, 0.2), ("C", 0, 0.3), ("A", 1, 0.5), ("B", 1, 0.2)]
    _, weights = log_periods(_rows(spec))
    np.testing.assert_allclose(weights, [[0.5, 0.2, 0.3], [0.5, 0.2, 0.3]], rtol=1e-12)


def test_treatment_rows_carry_the_fixed_horizon_sequential_and_bayesian_numbers() -> None:
    rng = np.random.default_rng(4)
    n = 900
    variant = np.array(["A", "B", "C"])[rng.integers(0, 3, n)]
    reward = rng.poisson(np.where(variant == "C", 1.25, 1.0)).astype(float)
    log = InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(n)], item=0, timestamp=0, reward=reward, variant=variant
    )
    r = analyze_log(log, control="A", alpha=0.1)
    stats = {name: reward[variant == name] for name in "ABC"}
    summaries = {k: Moments(len(v), float(v.mean()), float(v.var(ddof=1))) for k, v in stats.items()}
    control = r.variants[0]
    assert control.variant == "A"
    for attr in ("effect_ci", "relative_ci", "sequential_ci", "relative_sequential_ci"):
        assert getattr(control, attr).level == pytest.approx(0.9) and math.isnan(getattr(control, attr).low)
    rel_p = []
    for row in r.variants[1:]:
        t = welch_ttest(summaries["A"], summaries[row.variant], alpha=0.1)
        seq = sequential_test(summaries["A"], summaries[row.variant], alpha=0.1, tuning_parameter=float(n))
        assert row.relative_ci == pytest.approx(tuple(t.relative_ci), rel=1e-9) and row.relative_ci.level == 0.9
        assert row.relative_p_value == pytest.approx(t.relative_p_value, rel=1e-9)
        assert row.relative_sequential_ci == pytest.approx(tuple(seq.relative_ci), rel=1e-9)
        assert row.relative_sequential_p == pytest.approx(seq.relative_p_value, rel=1e-9)
        assert row.note == t.note == ""
        rel_p.append(t.relative_p_value)
    np.testing.assert_allclose([v.relative_p_adjusted for v in r.variants[1:]], holm(np.array(rel_p)), rtol=1e-12)


def test_notes_of_the_tests_reach_the_row() -> None:
    # Control all zeros: the relative lift is undefined (the Welch test's note). Both arms constant: the Bayesian
    # test refuses them (NaN chance to win, with its message in the note).
    n = 40
    zero = InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(n)],
        item=0,
        timestamp=0,
        reward=np.r_[np.zeros(n // 2), np.arange(n // 2) % 3],
        variant=["A"] * (n // 2) + ["B"] * (n // 2),
    )
    row = analyze_log(zero, control="A").variants[1]
    t = welch_ttest(
        Moments(20, 0.0, 0.0), Moments(20, float(np.mean(np.arange(20) % 3)), float(np.var(np.arange(20) % 3, ddof=1)))
    )
    assert t.note and row.note.startswith(t.note)
    flat = InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(n)], item=0, timestamp=0, reward=np.r_[np.zeros(20), np.ones(20)],
        variant=["A"] * 20 + ["B"] * 20,
    )  # fmt: skip
    row = analyze_log(flat, control="A").variants[1]
    assert math.isnan(row.chance_to_win) and math.isnan(row.expected_loss)
    # two notes, joined by "; ": the Welch test's (standard error 0) and the Bayesian refusal
    assert "; bayesian: gaussian_test needs a positive standard error" in row.note
    assert row.note.startswith("p-value undefined")


def test_analyze_log_reads_only_the_named_experiment_and_names_itself_in_errors() -> None:
    rng = np.random.default_rng(6)
    n = 400
    variant = np.array(["A", "B"])[rng.integers(0, 2, n)]
    frame = InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(n)], item=0, timestamp=0, reward=rng.poisson(1.0, n).astype(float), variant=variant
    ).frame
    other = frame.assign(unit="x" + frame["unit"], reward=frame["reward"] + 5.0, experiment="other")
    both = InteractionLog(pd.concat([frame.assign(experiment="main"), other], ignore_index=True))
    main = analyze_log(both, control="A", experiment="main")
    alone = analyze_log(InteractionLog(frame), control="A")
    assert [v.mean for v in main.variants] == pytest.approx([v.mean for v in alone.variants], rel=1e-12)
    assert [v.units for v in main.variants] == [v.units for v in alone.variants]
    with pytest.raises(ParameterError, match=r"(?<![A-Za-z])analyze_log(?![A-Za-z])"):
        analyze_log(both, control="A", metric="median")


def _ratio_log(units_per_cell: list[list[int]], seed: int = 2) -> InteractionLog:
    """Units with 1 to 4 rows (clicks 0/1) in periods 0..T-1, variants A and B; a unit's rows stay in its period."""
    rng = np.random.default_rng(seed)
    unit, variant, period, p, reward = [], [], [], [], []
    for t, cells in enumerate(units_per_cell):
        for j, count in enumerate(cells):
            for i in range(count):
                rows = int(rng.integers(1, 5))
                for _ in range(rows):
                    unit.append(f"{t}-{j}-{i}")
                    variant.append("AB"[j])
                    period.append(t)
                    p.append(0.5)
                    reward.append(float(rng.random() < 0.2 + 0.1 * j))
    return InteractionLog.from_arrays(
        unit=unit, item=0, timestamp=np.arange(len(unit)), reward=reward, variant=variant, period=period, assignment_p=p
    )


def _ratio_reference(log: InteractionLog) -> tuple[np.ndarray, np.ndarray]:
    """Period-weighted ratio and its delta-method variance per variant (A, B), transcribed with numpy."""
    f = log.frame
    per = f.groupby("unit").agg(
        v=("variant", "first"), t=("period", "first"), y=("reward", "sum"), x=("reward", "size")
    )
    periods = sorted(per["t"].unique())
    total = len(per)
    ratio, var = np.zeros(2), np.zeros(2)
    for j, name in enumerate("AB"):
        num = den = va = vb = cab = 0.0
        for t in periods:
            cell = per[(per["t"] == t) & (per["v"] == name)]
            w = (per["t"] == t).sum() / total
            y, x = cell["y"].to_numpy(float), cell["x"].to_numpy(float)
            num, den = num + w * y.mean(), den + w * x.mean()
            va += w * w * y.var(ddof=1) / len(y)
            vb += w * w * x.var(ddof=1) / len(x)
            cab += w * w * np.cov(x, y, ddof=1)[0, 1] / len(y)
        ratio[j] = num / den
        var[j] = (va - 2 * ratio[j] * cab + ratio[j] ** 2 * vb) / den**2
    return ratio, var


@pytest.mark.parametrize("cells", [[[30, 40], [2, 25], [20, 2]], [[50, 60]]])
def test_period_weighted_ratio_against_a_numpy_transcription(cells: list[list[int]]) -> None:
    # Cells of exactly 2 units are enough (ddof 1); one period only is the plain delta method.
    log = _ratio_log(cells)
    r = analyze_log(log, control="A", metric="ratio")
    ratio, var = _ratio_reference(log)
    assert [v.mean for v in r.variants] == pytest.approx(ratio, rel=1e-10)
    b = r.variants[1]
    z = float(-ndtri(0.025))
    assert (b.effect_ci.high - b.effect_ci.low) / 2 == pytest.approx(z * math.sqrt(var.sum()), rel=1e-9)


def test_ratio_with_one_row_per_unit_and_an_empty_trailing_period() -> None:
    one = _ratio_log([[30, 30]]).frame.groupby("unit", as_index=False).first()  # one row per unit: ratio = mean
    r = analyze_log(InteractionLog(one), control="A", metric="ratio")
    assert r.variants[1].mean == pytest.approx(one.loc[one["variant"] == "B", "reward"].mean(), rel=1e-12)
    # the last period has rows of units that arrived earlier only (no unit starts there): a period with no units
    frame = _ratio_log([[30, 40], [25, 25]]).frame
    late = frame.iloc[:5].assign(period=2)
    r2 = analyze_log(InteractionLog(pd.concat([frame, late], ignore_index=True)), control="A", metric="ratio")
    assert all(math.isfinite(v.mean) for v in r2.variants)


def test_ratio_statistics_with_no_denominator_are_refused() -> None:
    # Sufficient statistics from elsewhere (the event store) with a variant whose denominator total is 0.
    from abrec.abtest.readout import _ratio_moments

    n = np.array([[5.0, 5.0]])
    zeros = np.zeros((1, 2))
    sy, sx = np.array([[2.0, 3.0]]), np.array([[5.0, 0.0]])
    with pytest.raises(InputError, match="Variant 'B' has no rows to divide by"):
        _ratio_moments(n, sy, sx, sy, sx, zeros, ["A", "B"])


def test_metric_labels_tuning_parameter_and_column_reach_every_path() -> None:
    rng = np.random.default_rng(8)
    n = 300
    variant = np.array(["A", "B"])[rng.integers(0, 2, n)]
    plain = InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(n)], item=0, timestamp=0, reward=rng.poisson(1.0, n).astype(float), variant=variant
    )
    labels = {"mean": "per unit (mean)", "proportion": "units with any (proportion)", "ratio": "per row (ratio)"}
    for metric, label in labels.items():
        r = analyze_log(plain, control="A", metric=metric, tuning_parameter=77.0)
        assert r.metric == f"reward {label}" and r.tuning_parameter == 77.0 and r.method == "welch-t"
    periodic = periodic_log()
    frame = periodic.frame.assign(revenue=periodic.frame["reward"] * 2.0 + 1.0)
    priced = InteractionLog(frame, reward_columns=["revenue"])
    for metric, label in labels.items():
        r = analyze_log(priced, control="A", metric=metric, column="revenue", tuning_parameter=55.0)
        assert r.metric == f"revenue {label}" and r.tuning_parameter == 55.0
        if metric != "ratio":
            periods, _ = log_periods(priced, column="revenue", metric=metric)
            means = periods.period_weighted().means
            assert [v.mean for v in r.variants] == pytest.approx(list(means), rel=1e-12)
    with pytest.raises(InputError, match="Name the control variant"):
        analyze_log(priced, metric="ratio")
    with pytest.raises(ParameterError, match="parameter of the readout"):
        analyze_log(plain, control="A", correction="tukey")


def _plain_log(counts: dict[str, int], seed: int = 9) -> InteractionLog:
    rng = np.random.default_rng(seed)
    variant = np.concatenate([[name] * c for name, c in counts.items()])
    reward = rng.gamma(2.0, np.where(variant == "B", 1.2, 1.0))
    return InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(variant.size)], item=0, timestamp=0, reward=reward, variant=variant
    )


def test_quantile_readout_control_levels_notes_and_corrections() -> None:
    log = _plain_log({"A": 200, "B": 220, "C": 210})
    r = analyze_log(log, metric="p50", alpha=0.1, tuning_parameter=33.0)  # control defaults to the first name
    assert r.control == "A" and [v.variant for v in r.variants] == ["A", "B", "C"]
    assert r.tuning_parameter == 33.0 and r.correction == "holm" and r.method == "quantile p50, order-statistic"
    control = r.variants[0]
    assert control.note == "" and control.ci.level == pytest.approx(0.9)
    for attr in ("effect_ci", "relative_ci", "sequential_ci", "relative_sequential_ci"):
        assert getattr(control, attr).level == pytest.approx(0.9) and math.isnan(getattr(control, attr).low)
    for row in r.variants[1:]:
        assert row.sequential_ci.level == pytest.approx(0.9) and row.relative_sequential_ci.level == pytest.approx(0.9)
        assert row.note == "no always-valid or Bayesian readout for quantiles"
    rel = np.array([v.relative_p_value for v in r.variants[1:]])
    np.testing.assert_allclose([v.relative_p_adjusted for v in r.variants[1:]], holm(rel), rtol=1e-12)
    assert analyze_log(log, metric="p50").tuning_parameter == 630.0
    assert analyze_log(log, metric="p50", control="B").control == "B"


def test_quantile_readout_own_interval_needs_min_units() -> None:
    # p90 needs 35 units: at exactly 35 the variant's own interval is defined, at 34 it is not (and the note says so)
    log = _plain_log({"A": 35, "B": 34})
    r = analyze_log(log, metric="p90", control="A")
    assert math.isfinite(r.variants[0].ci.low) and r.variants[0].note == ""
    assert math.isnan(r.variants[1].ci.low)  # the treatment's own interval, 34 units
    small = analyze_log(log, metric="p90", control="B").variants[0]
    assert math.isnan(small.ci.low) and small.note == "interval undefined: the p90 needs at least 35 units (34 here)"


def test_pooled_quantile_readout_joins_its_notes_and_reads_the_named_experiment() -> None:
    log = periodic_log()
    r = analyze_log(log, metric="p50", control="A")
    assert r.variants[1].note == (
        "no always-valid or Bayesian readout for quantiles; quantiles are not period-weighted: the units of all "
        "periods are pooled"
    )
    other = periodic_log(seed=5).frame.assign(experiment="other", unit=lambda f: "x" + f["unit"], reward=7.0)
    both = InteractionLog(pd.concat([log.frame.assign(experiment="main"), other], ignore_index=True))
    main = analyze_log(both, control="A", experiment="main")
    alone = analyze_log(log, control="A")
    assert [v.mean for v in main.variants] == pytest.approx([v.mean for v in alone.variants], rel=1e-12)


def test_alpha_and_correction_reach_the_period_readout_of_a_log() -> None:
    r = analyze_log(periodic_log(), control="A", alpha=0.1, correction="bonferroni")
    assert r.alpha == 0.1 and r.correction == "bonferroni" and r.variants[1].effect_ci.level == pytest.approx(0.9)
