"""Quantile metrics (p50/p90/p99 of the units' totals) in the readout, the scorecard, the CLI and the reports.

The readout's numbers are :func:`quantile_test`'s on the per-unit totals, computed here with pandas from the
raw rows; the quantile test's own calibration (A/A rate, coverage over thousands of runs) is in
test_quantiles.py, so here one known effect and one A/A case are enough.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import special
from typer.testing import CliRunner

from abrec.abtest import QuantileSample, holm, quantile_samples, quantile_test, srm_test
from abrec.abtest.metrics import DEFAULT_METRICS, QUANTILES, Metric, aggregate_units
from abrec.abtest.quantiles import min_units
from abrec.abtest.readout import POOLED_NOTE, QUANTILE_NOTE, Readout, analyze_log
from abrec.abtest.scorecard import analyze_metrics
from abrec.cli import app
from abrec.data import InteractionLog
from abrec.errors import InputError, ParameterError
from abrec.report.experiment import metrics_table, readout_report, readout_table, relative_table

LIFT = {"A": 1.0, "B": 1.3, "C": 1.0}  # each unit's revenue total is scaled: every quantile moves by the same factor


def make_log(
    seed: int = 0, n_units: int = 6000, *, lift: dict[str, float] = LIFT, periods: bool = False
) -> InteractionLog:
    """Units in three variants with 1-4 rows each; a unit's revenue is lognormal, split over its rows."""
    rng = np.random.default_rng(seed)
    names = np.array(sorted(lift))
    variant = names[rng.integers(0, len(names), n_units)]
    rows = rng.integers(1, 5, n_units)
    total = rng.lognormal(0.0, 1.0, n_units) * np.array([lift[v] for v in variant])
    share = rng.dirichlet(np.ones(4), n_units)
    revenue = np.concatenate([total[i] * share[i, : rows[i]] / share[i, : rows[i]].sum() for i in range(n_units)])
    unit = np.repeat([f"u{i}" for i in range(n_units)], rows)
    columns: dict[str, object] = {}
    if periods:
        period = np.repeat(np.arange(n_units) * 3 // n_units, rows)
        columns = {"period": period, "assignment_p": np.full(unit.size, 1 / len(names))}
    return InteractionLog.from_arrays(
        unit=unit,
        item=rng.integers(0, 50, unit.size),
        timestamp=np.arange(unit.size),
        reward=(rng.random(unit.size) < 0.1).astype(np.float64),
        variant=np.repeat(variant, rows),
        extra_rewards={"revenue": revenue},
        **columns,
    )


def unit_totals(log: InteractionLog, column: str = "revenue") -> dict[str, np.ndarray]:
    """Each variant's per-unit totals, straight from the rows (independent of abrec's collapse)."""
    totals = log.frame.groupby(["variant", "unit"])[column].sum()
    return {str(v): totals.loc[v].to_numpy() for v in sorted(totals.index.get_level_values(0).unique())}


def close(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-12 * max(1.0, abs(b))


@pytest.fixture(scope="module")
def log() -> InteractionLog:
    return make_log()


@pytest.mark.parametrize("kind", sorted(QUANTILES))
@pytest.mark.parametrize("alpha", [0.05, 0.1])
def test_readout_is_quantile_test_on_the_unit_totals(log: InteractionLog, kind: str, alpha: float) -> None:
    p = QUANTILES[kind]
    r = analyze_log(log, control="A", metric=kind, column="revenue", alpha=alpha)
    totals = unit_totals(log)
    samples = {v: QuantileSample.from_values(x) for v, x in totals.items()}
    direct = {v: quantile_test(samples["A"], samples[v], probability=p, alpha=alpha) for v in ("B", "C")}
    assert r.method == f"quantile {kind}, order-statistic" and r.metric == f"revenue per unit ({kind})"
    assert not r.srm_per_period
    assert [v.variant for v in r.variants] == ["A", "B", "C"]
    z = float(special.ndtri(1 - alpha / 2))
    for v in r.variants:
        x = totals[v.variant]
        assert v.units == x.size
        assert close(v.mean, float(np.quantile(x, p)))
        se = samples[v.variant].quantile_standard_error(p, "order-statistic")
        assert close(v.ci.low, v.mean - z * se) and close(v.ci.high, v.mean + z * se) and v.ci.level == 1 - alpha
    adjusted = holm([direct["B"].p_value, direct["C"].p_value])
    for v, q in zip(r.variants[1:], adjusted, strict=True):
        t = direct[v.variant]
        assert close(v.mean, t.treatment_quantile) and close(r.variants[0].mean, t.control_quantile)
        assert close(v.effect, t.effect) and close(v.p_value, t.p_value) and close(v.relative, t.relative_effect)
        for got, want in ((v.effect_ci, t.ci), (v.relative_ci, t.relative_ci)):
            assert close(got.low, want.low) and close(got.high, want.high) and got.level == want.level
        assert close(v.p_adjusted, float(q)) and v.significant == bool(q < alpha)
        # the relative lift's own p-value is quantile_test's (issue 15); no always-valid or Bayesian readout
        # of a quantile: NaN, and the note says so
        assert close(v.relative_p_value, t.relative_p_value)
        assert all(math.isnan(x) for x in (*v.sequential_ci, *v.relative_sequential_ci, v.chance_to_win))
        assert math.isnan(v.expected_loss) and math.isnan(v.sequential_p)
        assert v.note == QUANTILE_NOTE
    counts = np.array([totals[v].size for v in ("A", "B", "C")])
    assert r.srm == srm_test(counts, [1 / 3] * 3)


def test_quantile_samples_are_the_unit_totals(log: InteractionLog) -> None:
    got = quantile_samples(log, column="revenue")
    want = unit_totals(log)
    assert list(got) == list(want)
    for v in want:
        assert np.array_equal(got[v].values, np.sort(want[v]))


def test_a_known_effect_is_found() -> None:
    """Every unit's revenue x1.3 in B: its quantiles are 1.3 times A's, and the intervals say so."""
    r = analyze_log(make_log(seed=1), control="A", metric="p90", column="revenue")
    b, c = r.variants[1], r.variants[2]
    assert b.significant and b.effect > 0 and b.relative_ci.contains(0.3)
    assert b.effect_ci.contains((1.3 - 1.0) * math.exp(special.ndtri(0.9)))  # lognormal(0, 1) p90 x 0.3
    assert not c.significant  # after Holm across the two treatments


def test_an_aa_test_finds_nothing() -> None:
    r = analyze_log(make_log(seed=2, lift={"A": 1.0, "B": 1.0}), control="A", metric="p50", column="revenue")
    b = r.variants[1]
    assert not b.significant and b.effect_ci.contains(0.0) and b.relative_ci.contains(0.0)
    assert 0.05 < b.p_value < 1.0


def test_too_few_units_give_nan_and_a_note_never_a_crash() -> None:
    small = make_log(seed=3, n_units=60)  # ~20 units per variant: p90 needs 35
    r = analyze_log(small, control="A", metric="p90", column="revenue")
    need = min_units(0.9)
    assert need == 35
    control = r.variants[0]
    assert control.units < need and math.isfinite(control.mean) and math.isnan(control.ci.low)
    assert f"needs at least {need} units" in control.note
    for v in r.variants[1:]:
        assert math.isfinite(v.effect) and math.isnan(v.p_value) and math.isnan(v.p_adjusted)
        assert math.isnan(v.effect_ci.low) and math.isnan(v.relative_ci.low) and not v.significant
        assert f"needs at least {need} values per arm" in v.note and QUANTILE_NOTE in v.note
    _, rows = readout_table(r)
    assert "nan" not in " ".join(str(cell) for row in rows for cell in row).lower()
    assert "nan" not in readout_report(r).render().lower().replace("n/a", "")
    assert all(math.isnan(v.p_value) for v in analyze_log(small, control="A", metric="p99", column="revenue").variants)


def test_a_period_log_is_pooled_and_says_so() -> None:
    log = make_log(seed=4, periods=True)
    r = analyze_log(log, control="A", metric="p90", column="revenue")
    assert r.method == "quantile p90, order-statistic (units pooled across periods, not period-weighted)"
    assert r.srm_per_period
    totals = unit_totals(log)
    samples = {v: QuantileSample.from_values(x) for v, x in totals.items()}
    for v in r.variants[1:]:
        t = quantile_test(samples["A"], samples[v.variant], probability=0.9)
        assert close(v.effect, t.effect) and close(v.p_value, t.p_value)
        assert POOLED_NOTE in v.note and QUANTILE_NOTE in v.note
    # the sample ratio check is the other metrics': each period's units against the weights in force
    assert r.srm == analyze_log(log, control="A", metric="mean", column="revenue").srm
    with pytest.raises(InputError, match="Name the control"):
        analyze_log(log, metric="p90", column="revenue")


def test_given_weights_are_the_srm_split(log: InteractionLog) -> None:
    r = analyze_log(log, control="A", metric="p50", column="revenue", weights={"A": 0.5, "B": 0.25, "C": 0.25})
    counts = [v.units for v in r.variants]
    assert r.srm == srm_test(counts, [0.5, 0.25, 0.25]) and r.srm.mismatch()


def test_metrics_of_quantile_kinds() -> None:
    m = Metric.of("p90", "revenue")
    assert (m.name, m.kind, m.column, m.label, m.probability) == (
        "revenue per unit (p90)",
        "p90",
        "revenue",
        "revenue per unit (p90)",
        0.9,
    )
    assert QUANTILES == {"p50": 0.5, "p90": 0.9, "p99": 0.99}
    assert all(d.probability is None for d in DEFAULT_METRICS)
    with pytest.raises(ParameterError, match="'p99'"):
        Metric.of("p95", "revenue")
    with pytest.raises(ParameterError, match="quantile_samples"):
        aggregate_units(make_log(n_units=30), "p90", column="revenue")  # type: ignore[arg-type]


def test_scorecard_reads_quantile_metrics(log: InteractionLog) -> None:
    p90, p50 = Metric.of("p90", "revenue"), Metric("median revenue", "p50", "revenue")
    r = analyze_metrics(log, control="A", metrics=[p90, DEFAULT_METRICS[0], p50])
    assert [m.name for m in r.metrics] == ["revenue per unit (p90)", "clicks per user", "median revenue"]
    one = analyze_log(log, control="A", metric="p90", column="revenue")
    assert [v.p_adjusted for v in r.primary.variants[1:]] == [v.p_adjusted for v in one.variants[1:]]
    assert r["median revenue"].method == "quantile p50, order-statistic"
    _, rows = metrics_table(r)
    assert [row[0] for row in rows] == ["clicks per user"] * 2 + ["median revenue"] * 2
    median = next(v for v in r["median revenue"].variants if v.variant == "A")
    assert rows[2][2] == median.mean  # the mean column holds the quantile
    assert rows[2][-1] == ""  # no P(win) for a quantile
    json.dumps(r.to_dict(), allow_nan=False)
    # not read out unless asked for
    assert all(m.kind not in QUANTILES for m in analyze_metrics(log, control="A").metrics)


def test_reports_render_a_quantile_readout(log: InteractionLog, tmp_path: Path) -> None:
    r: Readout = analyze_log(log, control="A", metric="p90", column="revenue")
    _, rows = relative_table(r)
    # the quantile test's relative p-value (issue 15), one per treatment
    by_variant = {v.variant: v for v in r.variants}
    assert all(f"{by_variant[row[0]].relative_p_value:.3g}" in str(row[3]) for row in rows) and len(rows) == 2
    path = readout_report(r, title="p90", source="log.csv").write(tmp_path / "r.html")
    html = path.read_text(encoding="utf-8")
    assert "quantile p90, order-statistic" in html and QUANTILE_NOTE in html
    assert "B leads" in html
    assert "nan" not in html.lower().replace("n/a", "")


runner = CliRunner()


def test_cli_analyze_reads_out_a_quantile(tmp_path: Path) -> None:
    path = tmp_path / "log.csv"
    make_log(seed=5, n_units=2400).write(path)
    out = tmp_path / "readout.json"
    result = runner.invoke(
        app,
        ["analyze", str(path), "--control", "A", "--metric", "p90", "--column", "revenue", "--json", str(out)],
    )
    assert result.exit_code == 0, result.output
    assert "quantile p90, order-statistic" in result.stdout
    assert QUANTILE_NOTE in result.stdout and "nan" not in result.stdout.lower()
    payload = json.loads(out.read_text(encoding="utf-8"))
    primary = payload["metrics"]["metrics"][0]
    assert (primary["kind"], primary["method"]) == ("p90", "quantile p90, order-statistic")
    frame = pd.DataFrame(payload["readout"])
    want = analyze_log(InteractionLog.read(path), control="A", metric="p90", column="revenue")
    assert frame["mean"].tolist() == pytest.approx([v.mean for v in want.variants], rel=1e-12)
    bad = runner.invoke(app, ["analyze", str(path), "--control", "A", "--metric", "p95", "--column", "revenue"])
    assert bad.exit_code == 2 and "p99" in bad.stderr


def test_cli_help_lists_the_quantile_kinds() -> None:
    result = runner.invoke(app, ["analyze", "--help"])
    assert result.exit_code == 0
    assert "p50, p90" in " ".join(result.stdout.split())
