"""The secondary metrics' section of the experiment reports: one table of lifts, the methods and the correction."""

from __future__ import annotations

import html as html_lib

import pytest

from _experiments import small_experiment, variant
from abrec.abtest.metrics import DEFAULT_METRICS
from abrec.abtest.scorecard import MetricsReadout, analyze_metrics
from abrec.data import InteractionLog
from abrec.experiments import ExperimentConfig, SimulationResult, run_simulation
from abrec.report import Report
from abrec.report.experiment import metrics_section, metrics_table, readout_report, simulation_report


@pytest.fixture(scope="module")
def simulated() -> tuple[SimulationResult, MetricsReadout]:
    variants = [variant("random", "uniform"), variant("ts", "bernoulli_ts", 20), variant("eg", "epsilon_greedy")]
    result = run_simulation(ExperimentConfig.from_mapping(small_experiment("metrics-report", 4, variants=variants)))
    return result, result.readouts()


def test_metrics_table_has_one_row_per_secondary_metric_and_treatment(
    simulated: tuple[SimulationResult, MetricsReadout],
) -> None:
    _, metrics = simulated
    columns, rows = metrics_table(metrics)
    assert columns[:4] == ["metric", "variant", "control mean", "mean"]
    assert [(r[0], r[1]) for r in rows] == [
        (m, v) for m in ("CTR", "conversion", "revenue per user") for v in ("eg", "ts")
    ]
    ctr = metrics["CTR"]
    first = next(v for v in ctr.variants if v.variant == "eg")
    assert rows[0][2] == ctr.variants[0].mean and rows[0][3] == first.mean
    assert rows[0][7].split()[0] == f"{first.p_adjusted:.3g}"


def test_the_simulation_report_holds_the_section(simulated: tuple[SimulationResult, MetricsReadout]) -> None:
    result, metrics = simulated
    page = html_lib.unescape(simulation_report(result, metrics.primary, metrics=metrics).render())
    assert "Secondary metrics" in page and metrics.correction in page
    assert "period-weighted z (delta-method ratio)" in page
    assert page.index("Secondary metrics") < page.index("Over time")  # right after the readout


def test_the_readout_report_says_which_metrics_were_not_read_out() -> None:
    log = InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(40)],
        item=1,
        timestamp=0,
        reward=[float(i % 3 == 0) for i in range(40)],
        variant=["A", "B"] * 20,
    )
    metrics = analyze_metrics(log, control="A")
    page = html_lib.unescape(readout_report(metrics.primary, metrics=metrics).render())
    assert "conversion not read out: the log has no 'purchase' column" in page
    assert "revenue per user not read out" in page and "CTR" in page


def test_a_section_with_no_secondary_metric_still_states_the_correction() -> None:
    log = InteractionLog.from_arrays(
        unit=[f"u{i}" for i in range(40)], item=1, timestamp=0, reward=[float(i % 3 == 0) for i in range(40)],
        variant=["A", "B"] * 20,
    )  # fmt: skip
    metrics = analyze_metrics(log, control="A", metrics=DEFAULT_METRICS[:1])
    report = Report("x")
    metrics_section(report, metrics)
    page = html_lib.unescape(report.render())
    assert "Holm-adjusted across the one treatment" in page and "<table" not in page.split("Secondary metrics")[1]
