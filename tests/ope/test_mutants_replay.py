"""Edges of abrec.ope.replay's result and estimator that the replay tests leave open (mutation testing, issue 20).

References: statsmodels' Wilson interval (``proportion_confint(method="wilson")``), the normal interval
``value -/+ z std(ddof=1) / sqrt(n)`` with numpy, and the replay estimator's formula ``sum(pi r) / sum(pi)``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.proportion import proportion_confint

from abrec.ope import LoggedFeedback
from abrec.ope.replay import Replay, ReplayResult


@pytest.mark.parametrize("level", [0.95, 0.8])
def test_binary_rewards_get_wilsons_interval(level: float) -> None:
    rewards = np.array([1.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0])
    r = ReplayResult.from_rewards(rewards, np.arange(11) * 2, n_rows=30, policy="p", level=level)
    assert r.binary and r.value == pytest.approx(3 / 11, rel=1e-15) and r.level == level
    assert r.standard_error == pytest.approx(rewards.std(ddof=1) / math.sqrt(11), rel=1e-12)
    low, high = proportion_confint(3, 11, alpha=1 - level, method="wilson")
    assert tuple(r.ci) == pytest.approx((low, high), rel=1e-12)
    assert r.acceptance_rate == pytest.approx(11 / 30) and r.accepted.tolist() == list(range(0, 22, 2))
    np.testing.assert_allclose(r.curve, np.cumsum(rewards) / np.arange(1, 12), rtol=1e-15)
    # the interval at another level is computed the same way
    other = r.confidence_interval(0.9)
    assert tuple(other) == pytest.approx(proportion_confint(3, 11, alpha=0.1, method="wilson"), rel=1e-12)
    assert r.confidence_interval() == r.ci
    # the learning curve's band: at each t, Wilson's interval of the first t rewards
    lows, highs = r.curve_interval(0.9)
    for t in range(1, 12):
        k = int(rewards[:t].sum())
        assert (lows[t - 1], highs[t - 1]) == pytest.approx(
            proportion_confint(k, t, alpha=0.1, method="wilson"), abs=1e-12
        )


def test_other_rewards_get_the_normal_interval_and_its_running_band() -> None:
    rng = np.random.default_rng(0)
    rewards = rng.gamma(2.0, 1.5, 25)
    r = ReplayResult.from_rewards(rewards, np.arange(25), n_rows=25, policy="p", level=0.9)
    z = stats.norm.isf(0.05)
    se = rewards.std(ddof=1) / math.sqrt(25)
    assert not r.binary and r.standard_error == pytest.approx(se, rel=1e-12)
    assert tuple(r.ci) == pytest.approx((rewards.mean() - z * se, rewards.mean() + z * se), rel=1e-12)
    z95 = stats.norm.isf(0.025)
    assert tuple(r.confidence_interval(0.95)) == pytest.approx((rewards.mean() - z95 * se, rewards.mean() + z95 * se))
    lows, highs = r.curve_interval()
    assert math.isnan(lows[0]) and math.isnan(highs[0])  # one reward: no standard error
    for t in range(2, 26):
        head = rewards[:t]
        s = head.std(ddof=1) / math.sqrt(t)
        assert (lows[t - 1], highs[t - 1]) == pytest.approx((head.mean() - z * s, head.mean() + z * s), rel=1e-9)


def test_no_and_one_accepted_row() -> None:
    none = ReplayResult.from_rewards(np.zeros(0), np.zeros(0, dtype=np.int64), n_rows=10, policy="p")
    assert none.n_accepted == 0 and math.isnan(none.value) and math.isnan(none.standard_error)
    assert math.isnan(none.ci.low) and not none.binary and none.curve.shape == (0,)
    one = ReplayResult.from_rewards(np.array([2.5]), np.array([3]), n_rows=10, policy="p")
    assert one.value == 2.5 and math.isnan(one.standard_error) and math.isnan(one.ci.low)
    click = ReplayResult.from_rewards(np.array([1.0]), np.array([3]), n_rows=10, policy="p")
    assert click.binary and tuple(click.ci) == pytest.approx(proportion_confint(1, 1, method="wilson"), rel=1e-12)
    with pytest.raises(Exception, match="level"):
        click.confidence_interval(1.5)


def test_replay_estimator_is_the_pi_weighted_mean_of_rewards() -> None:
    rng = np.random.default_rng(1)
    n, m = 400, 4
    action = rng.integers(0, m, n)
    reward = rng.random(n) < np.array([0.1, 0.3, 0.2, 0.5])[action]
    fb = LoggedFeedback.from_arrays(action=action, reward=reward.astype(float), propensity=1 / m, n_actions=m)
    pi = rng.dirichlet(np.ones(m), n)  # (n_rows, n_actions): a stochastic target
    weights = pi[np.arange(n), action]
    expected = float((weights * reward).sum() / weights.sum())
    assert Replay().value(fb, pi) == pytest.approx(expected, rel=1e-12)
    est = Replay().estimate(fb, pi)
    # delta-method standard error of the ratio of means of (w r, w)
    x, y = weights * reward, weights
    cov = np.cov(np.vstack([x, y]), ddof=1) / n
    g = np.array([1 / y.mean(), -x.mean() / y.mean() ** 2])
    assert est.standard_error == pytest.approx(math.sqrt(g @ cov @ g), rel=1e-6)
    assert Replay.applies(fb)
    assert not Replay.applies(
        LoggedFeedback.from_arrays(action=action, reward=reward.astype(float), propensity=rng.uniform(0.1, 0.5, n))
    )
