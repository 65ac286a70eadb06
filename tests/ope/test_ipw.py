"""IPW and SNIPW: reproduce OBP's estimates on the Open Bandit Dataset to 1e-9."""

from __future__ import annotations

import json

import numpy as np
import numpy.typing as npt
import pytest

from _shared import shared_path
from abrec.data.obd import load_obd
from abrec.errors import InputError
from abrec.ope import importance_weights, ipw, snipw
from abrec.ope.bts import ActionDistribution


@pytest.mark.parametrize("campaign", ["all", "men", "women"])
def test_matches_obp_on_the_open_bandit_dataset(campaign: str) -> None:
    # Reference: OBP 0.5.7 InverseProbabilityWeighting / SelfNormalizedInverseProbabilityWeighting on the
    # `random` log of the campaign, with OBP's BTS action distribution (bts_action_dist_{campaign}.npy)
    # for every round; values stored in bts_action_dist_obp_reference.json.
    folder = shared_path("data", "obd", needs="bts_action_dist_obp_reference.json")
    reference = json.loads((folder / "bts_action_dist_obp_reference.json").read_text(encoding="utf-8"))[campaign]
    action_dist = np.load(folder / f"bts_action_dist_{campaign}.npy")
    log = load_obd(campaign=campaign, policy="random").log  # the packaged sample equals the shared CSVs
    assert abs(ipw(log, action_dist) - reference["ipw"]) <= 1e-9
    assert abs(snipw(log, action_dist) - reference["snipw"]) <= 1e-9


@pytest.mark.parametrize("campaign", ["all", "men", "women"])
def test_logging_policy_as_target_gives_the_mean_reward(campaign: str) -> None:
    obd = load_obd(campaign=campaign, policy="random")
    uniform = np.full((obd.n_items, obd.n_positions), 1.0 / obd.n_items)
    mean = float(obd.log.frame["reward"].mean())
    np.testing.assert_allclose(importance_weights(obd.log, uniform), 1.0, rtol=1e-15)
    assert ipw(obd.log, uniform) == pytest.approx(mean, rel=1e-15, abs=0)
    assert snipw(obd.log, uniform) == pytest.approx(mean, rel=1e-15, abs=0)


def test_same_policies_give_the_mean_reward_on_random_logs() -> None:
    rng = np.random.default_rng(0)
    n_items, n_positions, n = 7, 2, 500
    dist = rng.dirichlet(np.ones(n_items), size=n_positions).T
    position = rng.integers(0, n_positions, size=n)
    item = np.array([rng.choice(n_items, p=dist[:, j]) for j in position])
    reward = rng.random(n)
    log = {"item": item, "position": position, "reward": reward, "propensity": dist[item, position]}
    assert ipw(log, dist) == pytest.approx(reward.mean(), rel=1e-12)
    assert snipw(log, ActionDistribution(dist, n_draws=1)) == pytest.approx(reward.mean(), rel=1e-12)


def test_frame_and_log_agree_and_inputs_are_not_mutated() -> None:
    obd = load_obd(campaign="men", policy="random")
    frame = obd.log.frame.copy()
    dist = np.full((obd.n_items, obd.n_positions), 0.5 / obd.n_items)
    dist[0] += 0.5
    before = dist.copy()
    assert ipw(frame, dist) == ipw(obd.log, dist)
    np.testing.assert_array_equal(dist, before)
    assert frame.equals(obd.log.frame)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"propensity": [0.0, 0.5]}, "'propensity'"),
        ({"item": [0, 5]}, "'item' values"),
        ({"position": [0, 1]}, "'position' values"),
        ({"reward": [np.nan, 0.0]}, "'reward'"),
        ({"reward": [1.0]}, "one length"),
        ({"item": [0.0, 1.0]}, "integers"),
    ],
)
def test_bad_logs_are_refused(change: dict[str, list[float]], match: str) -> None:
    log: dict[str, object] = {"item": [0, 1], "position": [0, 0], "reward": [1.0, 0.0], "propensity": [0.5, 0.5]}
    log.update(change)
    with pytest.raises(InputError, match=match):
        ipw(log, [[0.5], [0.5]])  # type: ignore[arg-type]


def test_missing_column_and_zero_weights_are_refused() -> None:
    with pytest.raises(InputError, match="missing \\['propensity'\\]"):
        ipw({"item": [0], "position": [0], "reward": [1.0]}, [[1.0]])
    log: dict[str, npt.ArrayLike] = {"item": [0], "position": [0], "reward": [1.0], "propensity": [1.0]}
    with pytest.raises(InputError, match="zero probability"):
        snipw(log, [[0.0], [1.0]])
