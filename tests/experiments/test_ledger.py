"""The launch ledger: records that round-trip, calibration numbers computed from them, and the simulated study."""

from __future__ import annotations

import json
import math
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pytest
from scipy import stats

from abrec.errors import DataError, InputError, UnknownNameError
from abrec.experiments.executor import make_executor
from abrec.experiments.launches import LaunchTask, launch_conditions, run_launch, simulate_launches
from abrec.experiments.ledger import Calibration, Ledger, Observation, Prediction, calibrate
from abrec.report.ledger import ledger_report


def _pair(i: int, estimate: float, se_p: float, online: float, se_o: float, baseline: float = 0.05) -> tuple:
    z = NormalDist().inv_cdf(0.975)
    p = Prediction(
        f"L{i}",
        "ts",
        estimate,
        estimate - z * se_p,
        estimate + z * se_p,
        "dr",
        baseline,
        "log",
        1000,
        conditions={"size": "big" if i % 2 else "small"},
    )
    lift = online / baseline - 1
    o = Observation(
        f"L{i}", online, online - z * se_o, online + z * se_o, baseline, lift, lift - 0.1, lift + 0.1, "ctr", "exp"
    )
    return p, o


def test_the_file_round_trips_and_keeps_the_order(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path)
    pairs = [_pair(i, 0.05 + 0.01 * i, 0.002, 0.051 + 0.01 * i, 0.003) for i in range(4)]
    ledger.extend(pairs[:3])
    ledger.predict(pairs[3][0])  # not online yet
    again = Ledger(path)
    assert again.entries() == ledger.entries()
    assert again.entries()[3].observation is None
    assert again.to_frame().equals(ledger.to_frame())
    nan = Prediction("N", "x", math.nan, math.nan, math.nan, "ipw", 0.0, "log", 0)
    again.predict(nan)
    assert math.isnan(Ledger(path).entries()[-1].prediction.estimate)
    assert all(json.loads(line) for line in path.read_text().splitlines())  # strict JSON: no NaN


def test_the_ledger_refuses_what_would_corrupt_it(tmp_path: Path) -> None:
    ledger = Ledger()
    p, o = _pair(0, 0.05, 0.01, 0.05, 0.01)
    with pytest.raises(UnknownNameError, match="record its prediction first"):
        ledger.observe(o)
    ledger.predict(p)
    with pytest.raises(InputError, match="already has a prediction"):
        ledger.predict(p)
    ledger.observe(o)
    with pytest.raises(InputError, match="already has an online result"):
        ledger.observe(o)
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "prediction", "launch": "x"}\n')
    with pytest.raises(DataError, match="line 1"):
        Ledger(bad)
    with pytest.raises(InputError, match="No launch"):
        Ledger().calibration()


def test_calibration_numbers_are_those_of_the_entries() -> None:
    rng = np.random.default_rng(0)
    truth = rng.uniform(0.02, 0.1, 40)
    ledger = Ledger()
    ledger.extend(
        _pair(i, t + rng.normal(0, 0.004), 0.004, t + rng.normal(0, 0.003), 0.003) for i, t in enumerate(truth)
    )
    c = ledger.calibration()
    assert isinstance(c, Calibration)
    frame = ledger.to_frame()
    pred, obs = frame["predicted"].to_numpy(), frame["online"].to_numpy()
    inside = (frame["predicted_low"] <= obs) & (obs <= frame["predicted_high"])
    assert c.n == 40 and c.coverage == inside.mean()
    assert c.bias == pytest.approx(np.mean(pred - obs))
    assert c.mean_relative_error == pytest.approx(np.mean(np.abs(pred - obs) / obs))
    assert c.rank_correlation == pytest.approx(stats.spearmanr(pred, obs).statistic)
    lifts = frame["predicted_lift"].to_numpy(), frame["online_lift"].to_numpy()
    assert c.sign_agreement == np.mean(np.sign(lifts[0]) == np.sign(lifts[1]))
    assert c.lift_rank_correlation == pytest.approx(stats.spearmanr(*lifts).statistic)
    z = NormalDist().inv_cdf(0.975)
    assert c.agreement == np.mean(np.abs(pred - obs) <= z * np.hypot(0.004, 0.003))
    low, high = c.coverage_ci
    assert low < c.coverage < high
    groups = ledger.calibration(by="size")
    assert isinstance(groups, dict) and set(groups) == {"big", "small"} and groups["big"].n == 20


@pytest.mark.parametrize("bias", [0.0, 0.004])
def test_agreement_is_at_its_level_for_calibrated_predictions_and_falls_with_a_bias(bias: float) -> None:
    """3,000 launches with offline and online values drawn around the truth with the stated standard errors.

    Calibrated and unbiased: agreement at 95% and coverage at 2 Phi(z s_p / sqrt(s_p^2 + s_o^2)) - 1
    (the online value is noisy too), within 3 binomial standard errors; biased: agreement falls.
    """
    n, s_p, s_o = 3000, 0.004, 0.003
    rng = np.random.default_rng(1)
    truth = rng.uniform(0.03, 0.1, n)
    entries = []
    ledger = Ledger()
    ledger.extend(
        _pair(i, t + bias + rng.normal(0, s_p), s_p, t + rng.normal(0, s_o), s_o) for i, t in enumerate(truth)
    )
    entries = ledger.entries()
    c = calibrate(entries)
    z = NormalDist().inv_cdf(0.975)
    coverage = 2 * NormalDist().cdf(z * s_p / math.hypot(s_p, s_o)) - 1
    tol = 3 * math.sqrt(0.05 * 0.95 / n)
    assert c.bias == pytest.approx(bias, abs=4 * math.hypot(s_p, s_o) / math.sqrt(n))
    if bias == 0.0:
        assert abs(c.agreement - 0.95) < tol
        assert abs(c.coverage - coverage) < 3 * math.sqrt(coverage * (1 - coverage) / n)
    else:
        assert c.agreement < 0.95 - 5 * tol


def test_records_from_an_evaluation_and_a_readout() -> None:
    from abrec.abtest.readout import analyze_log
    from abrec.data.interactions import InteractionLog
    from abrec.ope import LoggedFeedback, evaluate_policies

    rng = np.random.default_rng(0)
    action = rng.integers(0, 4, 3000)
    fb = LoggedFeedback.from_arrays(
        action=action, reward=(rng.random(3000) < 0.1 + 0.1 * action).astype(float), propensity=0.25
    )
    ev = evaluate_policies(fb, {}, dists={"best": np.array([[0.0], [0.0], [0.0], [1.0]])}, n_bootstrap=50)
    p = Prediction.from_evaluation("L1", ev, "best", data="logs")
    assert ev["best"].selection is not None
    chosen = ev["best"].estimate(ev["best"].selection.chosen)  # the row abrec evaluate prints
    assert (p.estimate, p.ci_low, p.ci_high, p.estimator) == (
        chosen.value,
        chosen.ci_low,
        chosen.ci_high,
        chosen.estimator,
    )
    assert p.baseline == ev.logging_value and p.conditions["log_rows"] == 3000
    units = np.array([f"u{i}" for i in range(400)])
    variant = np.where(np.arange(400) % 2, "b", "a")
    log = InteractionLog.from_arrays(
        unit=units,
        item="x",
        timestamp=0,
        variant=variant,
        reward=(rng.random(400) < np.where(variant == "b", 0.4, 0.2)).astype(float),
    )
    readout = analyze_log(log, control="a")
    o = Observation.from_readout("L1", readout, "b", source="exp")
    b = next(v for v in readout.variants if v.variant == "b")
    assert (o.value, o.lift, o.lift_low) == (b.mean, b.relative, b.relative_ci[0]) and o.metric == readout.metric
    with pytest.raises(UnknownNameError):
        Observation.from_readout("L1", readout, "c", source="exp")


@pytest.fixture(scope="module")
def study() -> Ledger:
    return simulate_launches(2, seed=11, n_bootstrap=20)


def test_simulated_launches_are_reproducible_from_their_seeds(study: Ledger) -> None:
    entries = study.entries()
    first = entries[0].prediction
    assert first.conditions["study_seed"] == 11 and first.conditions["index"] == 0
    predictions, observation = run_launch(LaunchTask(11, 0, 20))  # again, from the recorded seed and index
    assert predictions[0] == first
    assert observation.value == entries[0].observation.value  # type: ignore[union-attr]
    assert sum(p.conditions["chosen"] for p in predictions) == 1
    assert launch_conditions(11, 0)["challenger"] == first.policy
    with make_executor("processes", 2) as executor:
        pooled = simulate_launches(2, seed=11, n_bootstrap=20, executor=executor)
    assert pooled.to_frame().equals(study.to_frame())


def test_the_report_is_computed_from_the_ledger(study: Ledger, tmp_path: Path) -> None:
    path = tmp_path / "study.jsonl"
    Ledger(path).extend((e.prediction, e.observation) for e in study.entries())
    reloaded = Ledger(path)
    chosen = reloaded.calibration(by=lambda e: "chosen" if e.prediction.conditions.get("chosen", True) else "other")
    assert isinstance(chosen, dict)
    html = ledger_report(reloaded).render()
    c = chosen["chosen"]
    assert f"Over {c.n} launches" in html and f"in {c.coverage:.0%} of them" in html
    assert 'class="diagonal"' in html and html.count("<circle") == c.n
