"""ZOZOTOWN's BTS as an abrec policy reproduces the BTS action distribution of the Open Bandit Dataset."""

from __future__ import annotations

import numpy as np
import pytest

from abrec.data.obd import load_obd
from abrec.errors import UnknownNameError
from abrec.ope.bts import zozotown_bts_action_distribution
from abrec.ope.feedback import LoggedFeedback
from abrec.ope.replay import replay_learning
from abrec.ope.target import policy_action_dist
from abrec.ope.zozotown import zozotown_bts_policy
from abrec.policies import BernoulliThompson


@pytest.mark.parametrize(("campaign", "n_items"), [("all", 80), ("men", 34), ("women", 46)])
def test_priors_are_the_production_priors(campaign: str, n_items: int) -> None:
    policy = zozotown_bts_policy(campaign, seed=0)
    alpha, beta = load_obd(campaign=campaign).prior_bts()
    assert isinstance(policy, BernoulliThompson) and policy.priors is not None
    assert sorted(policy.priors) == list(range(n_items))
    np.testing.assert_array_equal([policy.priors[i] for i in range(n_items)], np.column_stack([alpha, beta]))


def test_policy_action_dist_agrees_with_the_bts_action_distribution() -> None:
    fb = LoggedFeedback.from_obd(load_obd())
    n_ours, n_ref = 100_000, 100_000
    ours = policy_action_dist(zozotown_bts_policy(seed=0), fb, n_draws=n_ours, seed=1)
    reference = zozotown_bts_action_distribution("all", n_draws=n_ref, seed=2).probabilities[0]  # (80, 3)
    assert ours.shape == (10_000, 80)
    first = np.unique(fb.position, return_index=True)[1]  # one row per position: the policy's table
    table = ours[first].T
    np.testing.assert_array_equal(ours, table.T[fb.position])
    pooled = (table * n_ours + reference * n_ref) / (n_ours + n_ref)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_ours + 1 / n_ref))
    seen = se > 0
    assert (table[~seen] == reference[~seen]).all()  # cells neither estimate ever saw
    z = (table - reference)[seen] / se[seen]
    assert np.abs(z).max() < 4.5, np.abs(z).max()
    # Pearson-type statistic over the cells: about one per cell when the two agree
    # (slightly less: each column sums to 1), far more for a shifted distribution.
    assert np.mean(z**2) < 1 + 4.5 * np.sqrt(2 / z.size), np.mean(z**2)


def test_the_policy_replays_on_the_obd_random_log() -> None:
    fb = LoggedFeedback.from_obd(load_obd())
    result = replay_learning(zozotown_bts_policy(seed=0), fb, seed=3)
    assert result.n_rows == 10_000 and result.policy == "bernoulli_ts"
    assert abs(result.n_accepted - 125) < 4.5 * np.sqrt(10_000 * (1 / 80) * (79 / 80))


def test_unknown_campaign() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'men'"):
        zozotown_bts_policy("mens")
