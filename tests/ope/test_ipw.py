"""IPW and SNIPW (the estimator classes): reproduce OBP's estimates on the Open Bandit Dataset to 1e-9."""

from __future__ import annotations

import json

import numpy as np
import pytest

from _shared import shared_path
from abrec.data.obd import load_obd
from abrec.errors import InputError, SupportError
from abrec.ope import IPW, SNIPW, LoggedFeedback
from abrec.policies import ActionDistribution


@pytest.mark.parametrize("campaign", ["all", "men", "women"])
def test_matches_obp_on_the_open_bandit_dataset(campaign: str) -> None:
    # Reference: OBP 0.5.7 InverseProbabilityWeighting / SelfNormalizedInverseProbabilityWeighting on the
    # `random` log of the campaign, with OBP's BTS action distribution (bts_action_dist_{campaign}.npy)
    # for every round; values stored in bts_action_dist_obp_reference.json.
    folder = shared_path("data", "obd", needs="bts_action_dist_obp_reference.json")
    reference = json.loads((folder / "bts_action_dist_obp_reference.json").read_text(encoding="utf-8"))[campaign]
    action_dist = np.load(folder / f"bts_action_dist_{campaign}.npy")
    fb = LoggedFeedback.from_obd(load_obd(campaign=campaign, policy="random"))  # the packaged sample = shared CSVs
    assert abs(IPW().value(fb, action_dist) - reference["ipw"]) <= 1e-9
    assert abs(SNIPW().value(fb, action_dist) - reference["snipw"]) <= 1e-9
    result = IPW(n_bootstrap=0).estimate(fb, action_dist)
    assert abs(result.value - reference["ipw"]) <= 1e-9 and result.standard_error > 0


@pytest.mark.parametrize("campaign", ["all", "men", "women"])
def test_logging_policy_as_target_gives_the_mean_reward(campaign: str) -> None:
    obd = load_obd(campaign=campaign, policy="random")
    fb = LoggedFeedback.from_obd(obd)
    uniform = np.full((obd.n_items, obd.n_positions), 1.0 / obd.n_items)
    mean = float(obd.log.frame["reward"].mean())
    np.testing.assert_allclose(IPW().rows(fb, uniform).weight, 1.0, rtol=1e-15)
    assert IPW().value(fb, uniform) == pytest.approx(mean, rel=1e-15, abs=0)
    assert SNIPW().value(fb, uniform) == pytest.approx(mean, rel=1e-15, abs=0)


def test_same_policies_give_the_mean_reward_on_random_logs() -> None:
    rng = np.random.default_rng(0)
    n_items, n_positions, n = 7, 2, 500
    dist = rng.dirichlet(np.ones(n_items), size=n_positions).T
    position = rng.integers(0, n_positions, size=n)
    item = np.array([rng.choice(n_items, p=dist[:, j]) for j in position])
    reward = rng.random(n)
    fb = LoggedFeedback.from_arrays(
        action=item, reward=reward, propensity=dist[item, position], position=position, n_actions=n_items
    )
    assert IPW().value(fb, dist) == pytest.approx(reward.mean(), rel=1e-12)
    record = ActionDistribution(dist[None], np.zeros((1, *dist.shape)), exact=True, draws=0)  # one table, all rows
    assert SNIPW().value(fb, record) == pytest.approx(reward.mean(), rel=1e-12)


def test_log_and_obd_readers_agree_and_inputs_are_not_mutated() -> None:
    obd = load_obd(campaign="men", policy="random")
    frame = obd.log.frame.copy()
    dist = np.full((obd.n_items, obd.n_positions), 0.5 / obd.n_items)
    dist[0] += 0.5
    before = dist.copy()
    from_log = LoggedFeedback.from_log(obd.log, items=np.arange(obd.n_items), n_positions=obd.n_positions)
    assert IPW().value(from_log, dist) == IPW().value(LoggedFeedback.from_obd(obd), dist)
    np.testing.assert_array_equal(dist, before)
    assert frame.equals(obd.log.frame)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"propensity": [0.0, 0.5]}, "propensities must be in"),
        ({"action": [0, 5]}, "'action' values"),
        ({"reward": [np.nan, 0.0]}, "rewards must be finite"),
    ],
)
def test_bad_logs_are_refused(change: dict[str, list[float]], match: str) -> None:
    log: dict[str, list[float]] = {"action": [0, 1], "reward": [1.0, 0.0], "propensity": [0.5, 0.5]}
    log.update(change)
    with pytest.raises(InputError, match=match):
        LoggedFeedback.from_arrays(**log, n_actions=2)  # type: ignore[arg-type]


def test_bad_action_distributions_and_zero_weights_are_refused() -> None:
    fb = LoggedFeedback.from_arrays(action=[0, 1], reward=[1.0, 0.0], propensity=[0.5, 0.5])
    with pytest.raises(InputError, match="action_dist must have shape"):
        IPW().value(fb, [[0.5, 0.5], [0.5, 0.5], [0.0, 0.0]])  # a third action the log does not have
    with pytest.raises(InputError, match="sum to 1"):
        SNIPW().value(fb, [[0.5], [0.4]])
    one = LoggedFeedback.from_arrays(action=[0], reward=[1.0], propensity=[1.0], n_actions=2)
    with pytest.raises(SupportError, match="snipw cannot estimate"):  # every weight zero: outside the support
        SNIPW().value(one, [[0.0], [1.0]])
