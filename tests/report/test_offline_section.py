"""The offline-vs-online section: every difference between the replay and the online value explained in words."""

from __future__ import annotations

import math

import pytest

from _experiments import small_experiment
from abrec._interval import ConfidenceInterval as CI
from abrec.experiments import ExperimentConfig, SimulationResult, run_simulation
from abrec.experiments.offline import OfflineEstimate, replay_variants
from abrec.report import Report
from abrec.report.offline import offline_explanation, offline_section

ONLINE = CI(0.05, 0.06, 0.95)


def estimate(value: float, low: float, high: float, accepted: int, online: float = 0.055) -> OfflineEstimate:
    return OfflineEstimate("ts", "bernoulli_ts", value, CI(low, high, 0.95), accepted, online, ONLINE)


def explain(e: OfflineEstimate, learns: bool = True) -> str:
    return offline_explanation(e, learns=learns, logged_positions=6000, online_items=20_000)


def test_what_the_replay_estimates_is_said_with_its_accepted_positions() -> None:
    text = explain(estimate(0.05, 0.04, 0.07, 400))
    assert text.startswith("ts: the replay accepted 400 of the control's 6,000 shown positions (6.7%) and estimates")
    assert "for bernoulli_ts started fresh and learning only from those 400 positions" in text
    assert "online, ts earned 0.055 from 20,000 shown items, learning from all of them." in text
    assert text.endswith("Online lies inside the offline interval: no disagreement.")
    few = explain(estimate(0.05, 0.0, 0.2, 17))
    assert few.endswith("no disagreement, though the interval is wide: only 17 positions were accepted.")


def test_online_above_the_interval_of_a_learning_policy_is_explained_by_learning() -> None:
    text = explain(estimate(0.019, 0.004, 0.035, 137))
    assert "Online lies above the offline interval: expected for a policy that learns" in text
    assert "146 times as much feedback online" in text


def test_online_outside_the_interval_is_flagged_when_learning_does_not_explain_it() -> None:
    below = explain(estimate(0.09, 0.07, 0.11, 400))
    assert "Online lies below the offline interval; learning from less feedback offline does not explain this" in below
    fixed = explain(estimate(0.019, 0.004, 0.035, 137), learns=False)
    assert "for bernoulli_ts, which does not learn;" in fixed
    assert "Online lies above the offline interval; bernoulli_ts does not learn, so both measure the same" in fixed


def test_no_accepted_position_is_no_estimate_not_zero() -> None:
    text = explain(estimate(math.nan, math.nan, math.nan, 0))
    assert text.startswith("ts: no estimate: the replay accepted none of the control's 6,000 shown positions")
    assert "[0" not in text


@pytest.fixture(scope="module")
def simulated() -> SimulationResult:
    return run_simulation(ExperimentConfig.from_mapping(small_experiment("offline-section", 5)))


def test_the_section_takes_records_or_their_rows_alike(simulated: SimulationResult) -> None:
    found = replay_variants(simulated)
    pages = []
    for rows in (found, [e.as_row() for e in found]):
        report = Report("t")
        offline_section(report, simulated, rows)
        pages.append(report.render())
    assert pages[0] == pages[1]
    html = pages[0]
    assert "online inside offline CI" in html and 'class="chart interval-chart"' in html
    assert html.count("the replay accepted") == len(found)
    assert 'class="marker"' in html  # the online values, drawn next to the offline intervals


def test_an_empty_replay_shows_as_no_estimate_in_the_table(simulated: SimulationResult) -> None:
    empty = OfflineEstimate("ts", "bernoulli_ts", math.nan, CI(math.nan, math.nan, 0.95), 0, 0.05, ONLINE)
    report = Report("t")
    offline_section(report, simulated, [empty])
    html = report.render()
    assert '<td>no estimate</td><td></td><td class="num">0</td>' in html
    assert "nan" not in html.lower().replace("n/a", "")
