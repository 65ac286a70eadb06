"""RecBanditEnv: Gymnasium conformance, exact click / purchase model, reproducibility, cold start, oracle."""

from __future__ import annotations

import itertools
import math
from typing import Any

import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

from abrec.envs.bandit import RecBanditEnv
from abrec.envs.synthetic import SyntheticCatalog
from abrec.envs.world import World
from abrec.errors import InputError, ParameterError


def _random_actions(env: RecBanditEnv, rng: np.random.Generator, distinct: bool = True) -> np.ndarray:
    if not distinct:
        return rng.integers(0, env.n_candidates, (env.n_users, env.slate_size))
    return np.argsort(rng.random((env.n_users, env.n_candidates)), axis=1)[:, : env.slate_size]


# check_env warns (gymnasium.logger.warn -> UserWarning) that a Box bound of -inf / +inf is
# "probably too low / high". The context is unbounded on purpose (any World's contexts; the issue's
# Box(-inf, inf)), so exactly these two messages are allowed; any other warning still fails the test.
# skip_render_check: the env has no render modes; without a registry spec, check_env would only warn
# that it cannot test them.
@pytest.mark.filterwarnings("ignore:.*A Box observation space minimum value is -infinity:UserWarning")
@pytest.mark.filterwarnings("ignore:.*A Box observation space maximum value is infinity:UserWarning")
def test_check_env_passes(world: SyntheticCatalog, linear_world: World) -> None:
    check_env(RecBanditEnv(world, n_users=8, n_candidates=12, slate_size=3, horizon=5, seed=0), skip_render_check=True)
    check_env(RecBanditEnv(linear_world, n_users=3, n_candidates=10, slate_size=2), skip_render_check=True)


def test_spaces_and_observation(world: SyntheticCatalog) -> None:
    env = RecBanditEnv(world, n_users=5, n_candidates=7, slate_size=2, seed=1)
    obs, info = env.reset()
    assert env.observation_space.contains(obs) and info == {"step": 0}
    assert obs["context"].dtype == np.float32 and obs["context"].shape == (5, world.context_dim)
    cand = obs["candidates"]
    assert cand.dtype == np.int64 and (np.sort(cand, axis=1)[:, 1:] != np.sort(cand, axis=1)[:, :-1]).all()
    assert env.action_space.shape == (5, 2) and (env.action_space.nvec == 7).all()
    np.testing.assert_allclose(obs["context"], env.users.context.astype(np.float32))
    assert len(env.item_texts()) == world.n_items and env.world is world


def test_click_and_purchase_rates_match_the_model() -> None:
    """Over 400 batches, clicks (per position and per probability bin) and purchases given a click
    sum to their exact expectations within 4.5 binomial standard errors."""
    world = SyntheticCatalog(n_items=150, click_rate=0.1, seed=2)
    env = RecBanditEnv(world, n_users=500, n_candidates=20, slate_size=3, seed=3)
    env.reset()
    rng = np.random.default_rng(4)
    p_all, clicks_all, q_all, buys_all = [], [], [], []
    for _ in range(400):
        users = env.users
        action = _random_actions(env, rng)
        _, reward, _, _, info = env.step(action)
        p = world.attraction(users, info["items"]) * world.examination[:3]
        np.testing.assert_allclose(info["expected_clicks"], p.sum(axis=1), rtol=1e-12)
        np.testing.assert_allclose(info["expected_clicks"], world.expected_clicks(users, info["items"]), rtol=1e-12)
        assert reward == info["clicks"].sum()
        clicked = info["clicks"] == 1
        p_all.append(p)
        clicks_all.append(info["clicks"])
        q_all.append(world.purchase(users, info["items"])[clicked])
        buys_all.append(info["purchases"][clicked])
        assert (info["purchases"] <= info["clicks"]).all()
    p, clicks = np.concatenate(p_all), np.concatenate(clicks_all)

    def within(observed: np.ndarray, prob: np.ndarray) -> bool:
        se = math.sqrt(float((prob * (1 - prob)).sum()))
        return abs(float(observed.sum()) - float(prob.sum())) < 4.5 * se

    for j in range(3):
        assert within(clicks[:, j], p[:, j]), j
    edges = np.quantile(p, np.linspace(0, 1, 6))
    for low, high in itertools.pairwise(edges):
        cell = (p >= low) & (p <= high)
        assert within(clicks[cell], p[cell]), (low, high)
    q, buys = np.concatenate(q_all), np.concatenate(buys_all)
    assert q.size > 10_000 and within(buys, q)


def test_revenue_reward_and_revenue_info() -> None:
    world = SyntheticCatalog(n_items=100, click_rate=0.3, purchase_rate=0.5, seed=6)
    env = RecBanditEnv(world, n_users=200, n_candidates=10, slate_size=3, reward="revenue", seed=0)
    env.reset()
    _, reward, _, _, info = env.step(np.tile([0, 1, 2], (200, 1)))
    np.testing.assert_allclose(info["revenue"], np.where(info["purchases"] == 1, world.price[info["items"]], 0.0))
    assert reward == pytest.approx(info["revenue"].sum()) and reward > 0
    assert info["clicks"].dtype == np.int8 and info["purchases"].dtype == np.int8
    assert info["new_items"].dtype == bool and info["items"].shape == (200, 3)


def test_a_repeated_column_is_shown_once() -> None:
    world = SyntheticCatalog(n_items=50, click_rate=0.5, seed=1)
    env = RecBanditEnv(world, n_users=2000, n_candidates=5, slate_size=3, seed=0)
    env.reset()
    users = env.users
    action = np.tile([4, 4, 1], (2000, 1))
    _, _, _, _, info = env.step(action)
    assert (info["clicks"][:, 1] == 0).all() and (info["revenue"][:, 1] == 0).all()
    p = world.attraction(users, info["items"]) * world.examination[:3]
    np.testing.assert_allclose(info["expected_clicks"], p[:, 0] + p[:, 2])


def test_oracle_is_the_best_slate_and_bounds_every_action() -> None:
    world = SyntheticCatalog(n_items=120, seed=8)
    env = RecBanditEnv(world, n_users=300, n_candidates=15, slate_size=4, seed=1)
    obs, _ = env.reset()
    rng = np.random.default_rng(0)
    for _ in range(20):
        users, cand = env.users, obs["candidates"]
        best = world.best_slates(users, cand, 4)
        obs, _, _, _, info = env.step(_random_actions(env, rng, distinct=bool(rng.random() < 0.5)))
        np.testing.assert_allclose(info["oracle_clicks"], world.expected_clicks(users, best), rtol=1e-12)
        assert (info["oracle_clicks"] >= info["expected_clicks"] - 1e-12).all()
    # the oracle's own slate reaches the oracle
    users, cand = env.users, obs["candidates"]
    best = world.best_slates(users, cand, 4)
    action = np.argmax(cand[:, None, :] == best[:, :, None], axis=2)
    _, _, _, _, info = env.step(action)
    np.testing.assert_allclose(info["expected_clicks"], info["oracle_clicks"], rtol=1e-12)


def test_works_on_any_world_and_uses_its_own_oracle(linear_world: Any) -> None:
    world = linear_world
    env = RecBanditEnv(world, n_users=50, n_candidates=20, slate_size=3, horizon=4, seed=0)
    env.reset()
    for t in range(4):
        users = env.users
        _, _, terminated, truncated, info = env.step(np.tile([2, 0, 1], (50, 1)))
        assert not terminated and truncated == (t == 3) and info["step"] == t
        assert (info["oracle_clicks"] >= info["expected_clicks"] - 1e-12).all()
        assert np.isfinite(info["expected_clicks"]).all()
        del users
    assert world.best_slates_calls == 4


def _trajectory(env: RecBanditEnv, seed: int | None, steps: int = 4) -> list[Any]:
    obs, _ = env.reset(seed=seed)
    out: list[Any] = [obs]
    rng = np.random.default_rng(0)
    for _ in range(steps):
        out.extend(env.step(_random_actions(env, rng)))
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return a.dtype == b.dtype and np.array_equal(a, b)
    return bool(a == b)


def test_same_seed_same_trajectory_and_different_seeds_differ(world: SyntheticCatalog) -> None:
    make = lambda seed=None: RecBanditEnv(world, n_users=30, n_candidates=10, seed=seed)  # noqa: E731
    a, b = _trajectory(make(), 5), _trajectory(make(), 5)
    assert all(_same(x, y) for x, y in zip(a, b, strict=True))
    c = _trajectory(make(), 6)
    assert not _same(a[0], c[0])
    # the constructor's seed serves the first reset without one; later resets continue the stream
    env = make(5)
    d = _trajectory(env, None)
    assert all(_same(x, y) for x, y in zip(a, d, strict=True))
    assert not _same(_trajectory(env, None)[0], a[0])
    # a Generator as seed
    e = _trajectory(make(np.random.default_rng(1)), None)  # type: ignore[arg-type]
    f = _trajectory(make(np.random.default_rng(1)), None)  # type: ignore[arg-type]
    assert all(_same(x, y) for x, y in zip(e, f, strict=True))


def test_cold_start_items_are_candidates_only_after_they_arrive(world: SyntheticCatalog) -> None:
    env = RecBanditEnv(world, n_users=40, n_candidates=20, slate_size=2, horizon=10, seed=2)
    obs, _ = env.reset()
    seen: set[int] = set()
    new_shown = 0
    for t in range(10):
        cand = obs["candidates"]
        assert (world.arrival[cand] <= t).all(), t
        seen.update(int(c) for c in cand.ravel())
        obs, _, _, truncated, info = env.step(np.tile([0, 1], (40, 1)))
        np.testing.assert_array_equal(info["new_items"], world.arrival[info["items"]] > 0)
        new_shown += int(info["new_items"].sum())
        assert truncated == (t == 9)
    arrived = set(np.flatnonzero(world.arrival <= 9).tolist())
    assert seen == arrived and new_shown > 0  # every item that arrived in time was offered
    assert np.flatnonzero(world.arrival > 0).size == 40


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_candidates": 161}, "at most the 160 items available at step 0"),
        ({"n_users": 0}, "The 'n_users' parameter of RecBanditEnv must be an int in [1, inf). Got 0"),
        ({"reward": "click"}, "must be a str among {'clicks', 'revenue'}. Got 'click' instead. Did you mean 'clicks'?"),
        ({"slate_size": 11, "n_candidates": 20}, "world's number of positions (10)"),
        ({"seed": 1.5}, "The 'seed' parameter of RecBanditEnv must be an int"),
    ],
)
def test_parameters_are_validated(world: SyntheticCatalog, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ParameterError) as err:
        RecBanditEnv(world, **kwargs)
    assert message in str(err.value)


def test_bad_actions_are_refused(world: SyntheticCatalog) -> None:
    env = RecBanditEnv(world, n_users=4, n_candidates=6, slate_size=2, seed=0)
    with pytest.raises(InputError, match="reset"):
        env.step(np.zeros((4, 2), dtype=np.int64))
    env.reset()
    with pytest.raises(InputError, match=r"shape \(4, 2\)"):
        env.step(np.zeros((4, 3), dtype=np.int64))
    with pytest.raises(InputError, match=r"columns in \[0, 5\]"):
        env.step(np.full((4, 2), 6))
    with pytest.raises(InputError, match="integer"):
        env.step(np.zeros((4, 2)))
