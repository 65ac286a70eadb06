"""The readout on every metric: primary as the one-metric readout, secondaries corrected together, and the
period-weighted delta-method ratio (CTR) under an allocation that changes between periods."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import special

from abrec.abtest import RatioStats, aggregate_units, benjamini_hochberg, holm
from abrec.abtest.metrics import DEFAULT_METRICS, Metric
from abrec.abtest.readout import PERIOD_RATIO, _period_weighted_ratios, analyze_log
from abrec.abtest.scorecard import MetricsReadout, analyze_metrics
from abrec.data import InteractionLog
from abrec.errors import InputError, ParameterError, UnknownNameError

RATES = {"A": 0.10, "B": 0.13, "C": 0.10}


def make_log(seed: int = 0, n_units: int = 3000, *, periods: bool = False, revenue: bool = True) -> InteractionLog:
    """Units split between three variants with 1-4 rows each; clicks, purchases after clicks, revenue = price."""
    rng = np.random.default_rng(seed)
    names = np.array(sorted(RATES))
    variant = names[rng.integers(0, len(names), n_units)]
    rows = rng.integers(1, 5, n_units)
    unit = np.repeat([f"u{i}" for i in range(n_units)], rows)
    rate = np.repeat([RATES[v] for v in variant], rows)
    click = (rng.random(unit.size) < rate).astype(np.float64)
    purchase = click * (rng.random(unit.size) < 0.3)
    extra = {"purchase": purchase}
    if revenue:
        extra["revenue"] = purchase * rng.choice([20.0, 50.0, 120.0], unit.size)
    columns: dict[str, object] = {}
    if periods:
        period = np.repeat(np.arange(n_units) * 3 // n_units, rows)
        columns = {"period": period, "assignment_p": np.full(unit.size, 1 / 3)}
    return InteractionLog.from_arrays(
        unit=unit,
        item=rng.integers(0, 50, unit.size),
        timestamp=np.arange(unit.size),
        reward=click,
        variant=np.repeat(variant, rows),
        extra_rewards=extra,
        **columns,  # type: ignore[arg-type]
    )


@pytest.fixture(scope="module", params=[False, True], ids=["welch", "periods"])
def log(request: pytest.FixtureRequest) -> InteractionLog:
    return make_log(periods=request.param)


def test_the_default_metrics() -> None:
    assert [(m.name, m.kind, m.column) for m in DEFAULT_METRICS] == [
        ("clicks per user", "mean", "reward"),
        ("CTR", "ratio", "reward"),
        ("conversion", "proportion", "purchase"),
        ("revenue per user", "mean", "revenue"),
    ]


def test_the_primary_is_the_one_metric_readout(log: InteractionLog) -> None:
    r = analyze_metrics(log, control="A")
    assert isinstance(r, MetricsReadout)
    assert [m.name for m in r.metrics] == [m.name for m in DEFAULT_METRICS] and r.skipped == ()
    assert r.primary.rows() == analyze_log(log, control="A").rows()
    assert r.primary.correction == "holm" and r.control == "A" and r.alpha == 0.05
    for metric, readout in zip(r.metrics, r.readouts, strict=True):
        assert readout.metric == metric.name
        alone = analyze_log(log, control="A", metric=metric.kind, column=metric.column, correction="none")
        assert [v.p_value for v in readout.variants[1:]] == [v.p_value for v in alone.variants[1:]]
        assert [v.mean for v in readout.variants] == [v.mean for v in alone.variants]


def test_secondaries_are_adjusted_together_by_benjamini_hochberg(log: InteractionLog) -> None:
    r = analyze_metrics(log, control="A")
    p = np.array([v.p_value for s in r.secondary for v in s.variants[1:]])
    got = np.array([v.p_adjusted for s in r.secondary for v in s.variants[1:]])
    assert p.size == 3 * 2
    np.testing.assert_allclose(got, benjamini_hochberg(p), rtol=0, atol=0)
    assert all(v.significant == (v.p_adjusted < 0.05) for s in r.secondary for v in s.variants[1:])
    assert all(s.correction == "bh" for s in r.secondary)
    primary_p = np.array([v.p_value for v in r.primary.variants[1:]])
    np.testing.assert_allclose([v.p_adjusted for v in r.primary.variants[1:]], holm(primary_p))
    assert "Holm-adjusted across the 2 treatments" in r.correction
    assert "Benjamini-Hochberg-adjusted together across their 6 (metric, treatment) pairs" in r.correction
    holm_all = analyze_metrics(log, control="A", secondary_correction="holm")
    np.testing.assert_allclose([v.p_adjusted for s in holm_all.secondary for v in s.variants[1:]], holm(p))
    assert "family-wise error rate" in holm_all.correction.split(";")[1]


def test_a_chosen_primary_goes_first_and_replaces_its_default() -> None:
    r = analyze_metrics(make_log(), control="A", primary=Metric.of("proportion", "purchase"))
    assert [m.name for m in r.metrics] == ["conversion", "clicks per user", "CTR", "revenue per user"]
    assert r.primary.rows() == analyze_log(make_log(), control="A", metric="proportion", column="purchase").rows()
    other = Metric.of("mean", "purchase")
    assert other.name == "purchase per unit (mean)" and other not in DEFAULT_METRICS


def test_metrics_whose_column_is_missing_are_skipped_by_default_and_refused_when_asked_for() -> None:
    log = make_log(revenue=False)
    r = analyze_metrics(log, control="A")
    assert [m.name for m in r.metrics] == ["clicks per user", "CTR", "conversion"]
    assert r.skipped == (("revenue per user", "the log has no 'revenue' column"),)
    assert r.to_dict()["skipped"] == {"revenue per user": "the log has no 'revenue' column"}
    with pytest.raises(InputError, match="no column 'revenue'"):
        analyze_metrics(log, control="A", metrics=DEFAULT_METRICS)
    with pytest.raises(InputError, match="revenue"):
        analyze_metrics(log, control="A", metrics=[Metric("revenue per user", "mean", "revenue")])


def test_records_lookups_and_json() -> None:
    r = analyze_metrics(make_log(periods=True), control="A")
    assert r["CTR"] is r.readouts[1] and r.secondary == r.readouts[1:]
    with pytest.raises(UnknownNameError, match="Did you mean 'conversion'"):
        r["conversoin"]
    rows = r.rows()
    assert len(rows) == 4 * 3 and rows[0]["metric"] == "clicks per user" and rows[0]["role"] == "primary"
    assert r.to_frame().shape[0] == 12
    text = json.dumps(r.to_dict(), allow_nan=False)  # valid JSON: NaN as null
    data = json.loads(text)
    assert [m["method"] for m in data["metrics"]] == [
        "period-weighted z",
        PERIOD_RATIO,
        "period-weighted z",
        "period-weighted z",
    ]
    assert data["correction"] == r.correction and data["metrics"][0]["rows"][0]["lift"] is None


@pytest.mark.parametrize(
    ("kwargs", "error", "words"),
    [
        ({"name": "ctr", "kind": "share"}, ParameterError, "'kind' parameter of Metric"),
        ({"name": "", "kind": "mean"}, ParameterError, "'name' parameter of Metric"),
        ({"name": "x", "kind": "mean", "column": 3}, ParameterError, "'column' parameter of Metric"),
    ],
)
def test_metric_validates_its_parameters(kwargs: dict[str, object], error: type, words: str) -> None:
    with pytest.raises(error, match=words):
        Metric(**kwargs)  # type: ignore[arg-type]


def test_analyze_metrics_refuses_bad_settings() -> None:
    log = make_log()
    with pytest.raises(ParameterError, match="secondary_correction"):
        analyze_metrics(log, control="A", secondary_correction="tukey")
    with pytest.raises(InputError, match="unique"):
        analyze_metrics(log, control="A", metrics=[DEFAULT_METRICS[0], DEFAULT_METRICS[0]])
    with pytest.raises(InputError, match="control"):
        analyze_metrics(make_log(periods=True))


# ------------------------------------------------------------------ the period-weighted delta-method ratio


def _units(clicks: np.ndarray, rows: np.ndarray, variant: np.ndarray, period: np.ndarray) -> pd.DataFrame:
    return pd.DataFrame({"v": variant, "period": period, "y": clicks.astype(float), "rows": rows})


def test_with_one_period_the_ratio_is_the_delta_method_of_ratio_stats() -> None:
    log = make_log(periods=False)
    frame = log.frame.assign(period=0, assignment_p=1 / 3)
    assigned = InteractionLog(frame, reward_columns=log.reward_columns)
    r = analyze_log(assigned, control="A", metric="ratio")
    assert r.method == PERIOD_RATIO
    stats = aggregate_units(log, "ratio")
    z = float(special.ndtri(0.975))
    for v in r.variants:
        s = stats[v.variant]
        assert isinstance(s, RatioStats)
        assert math.isclose(v.mean, s.mean, rel_tol=1e-12)
        assert math.isclose((v.ci.high - v.ci.low) / (2 * z), s.standard_error, rel_tol=1e-9)
    b = next(v for v in r.variants if v.variant == "B")
    se = math.hypot(stats["A"].standard_error, stats["B"].standard_error)
    assert math.isclose(b.effect, stats["B"].mean - stats["A"].mean, rel_tol=1e-12)
    assert math.isclose(b.p_value, float(special.erfc(abs(b.effect / se) / math.sqrt(2))), rel_tol=1e-9)


def test_the_ratio_is_weighted_by_period_like_the_means() -> None:
    # variant 1 gets 90% of period 0 (CTR 0.1) and 10% of period 1 (CTR 0.3): pooled CTRs differ, weighted do not
    n = [[100, 900], [900, 100]]
    variant, period, clicks, rows = [], [], [], []
    for t, rate in enumerate([0.1, 0.3]):
        for v in range(2):
            units = n[t][v]
            variant += [v] * units
            period += [t] * units
            rows += [2] * units
            clicks += [2 * rate] * units  # every unit at the period's rate exactly
    noise = np.tile([-0.2, 0.2], len(clicks) // 2)
    summaries, counts = _period_weighted_ratios(
        _units(np.array(clicks) + noise, np.array(rows), np.array(variant), np.array(period)), ["a", "b"], 2
    )
    assert counts.tolist() == n
    assert math.isclose(summaries["a"].mean, 0.2, rel_tol=1e-12) and math.isclose(summaries["b"].mean, 0.2)
    assert summaries["a"].variance > 0


def test_the_period_weighted_ratio_holds_alpha_where_the_pooled_ratio_does_not() -> None:
    """A/A with drift: the baseline CTR rises every period while variant 1's share moves from 10% to 90%.

    Tolerance: three binomial standard errors of the false-positive rate at alpha over the seeds.
    """
    rng = np.random.default_rng(7)
    seeds, alpha, per_period = 600, 0.05, 400
    share = np.array([0.1, 0.5, 0.9])
    base = np.array([0.05, 0.10, 0.20])
    z = float(special.ndtri(1 - alpha / 2))
    weighted_hits = pooled_hits = 0
    for _ in range(seeds):
        period = np.repeat(np.arange(3), per_period)
        variant = (rng.random(period.size) < share[period]).astype(int)
        rows = rng.integers(1, 6, period.size)
        clicks = rng.binomial(rows, base[period])
        s, _ = _period_weighted_ratios(_units(clicks, rows, variant, period), ["0", "1"], 3)
        diff = s["1"].mean - s["0"].mean
        se = math.sqrt(s["0"].variance / s["0"].n + s["1"].variance / s["1"].n)
        weighted_hits += abs(diff) > z * se
        pooled = [RatioStats.from_values(clicks[variant == v], rows[variant == v]) for v in (0, 1)]
        pooled_se = math.hypot(pooled[0].standard_error, pooled[1].standard_error)
        pooled_hits += abs(pooled[1].mean - pooled[0].mean) > z * pooled_se
    tolerance = 3 * math.sqrt(alpha * (1 - alpha) / seeds)
    rate = weighted_hits / seeds
    print(f"A/A false-positive rate: period-weighted ratio {rate:.3f}, pooled ratio {pooled_hits / seeds:.3f}")
    assert abs(rate - alpha) < tolerance
    assert pooled_hits / seeds > 0.5


def test_the_ratio_needs_two_units_per_cell_and_rows() -> None:
    frame = _units(np.array([1, 0, 1]), np.array([1, 1, 1]), np.array([0, 0, 1]), np.array([0, 0, 0]))
    with pytest.raises(InputError, match="at least 2"):
        _period_weighted_ratios(frame, ["a", "b"], 1)
