"""RecSessionEnv: Gymnasium conformance, determinism and the session dynamics, checked statistically.

Every test runs against :class:`AttributeWorld`, a small deterministic World defined here (items
are one-hot attribute vectors, ``attraction = sigmoid(a + b * taste . item)``), so the expected
click, fatigue and leave probabilities are known exactly. Statistical checks compare counts with
their expectation using the binomial standard error; ``Z`` = 4.5 gives a false alarm below 1e-5
per check, and every seed is fixed, so the outcome is reproducible.
"""

from __future__ import annotations

from typing import Any

import gymnasium
import numpy as np
import numpy.typing as npt
import pytest
from gymnasium.utils.env_checker import check_env

from abrec.envs.session import RecSessionEnv, diverse_slates, repeat_slates
from abrec.envs.world import Users, World
from abrec.errors import InputError, ParameterError

Z = 4.5
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class AttributeWorld(World):
    """``n_items`` items cycling through ``n_attr`` one-hot attribute vectors; context = taste @ mixing + noise."""

    def __init__(
        self,
        n_items: int = 24,
        n_attr: int = 6,
        d: int = 5,
        a: float = -0.5,
        b: float = 1.0,
        examination: tuple[float, ...] = (1.0, 0.7, 0.5, 0.4),
        arrival: IntArray | None = None,
        seed: int = 0,
    ) -> None:
        rng = np.random.default_rng(seed)
        self.attr = np.arange(n_items) % n_attr
        self.item_vectors = np.eye(n_attr)[self.attr]
        self.item_ids = np.array([f"item-{r}" for r in range(n_items)])
        self.price = rng.uniform(1.0, 10.0, n_items)
        self.arrival = np.zeros(n_items, dtype=np.int64) if arrival is None else arrival
        self.examination = np.asarray(examination, dtype=np.float64)
        self.mixing = rng.standard_normal((n_attr, d))
        self.a, self.b, self.d = a, b, d

    @property
    def context_dim(self) -> int:
        return self.d

    def item_texts(self) -> list[str]:
        return [f"an item with attribute {a}" for a in self.attr]

    def sample_users(self, n: int, rng: np.random.Generator) -> Users:
        taste = rng.standard_normal((n, self.item_vectors.shape[1]))
        return Users(taste @ self.mixing + 0.1 * rng.standard_normal((n, self.d)), taste)

    def attraction(self, users: Users, items: IntArray) -> FloatArray:
        score = np.einsum("nk,nmk->nm", users.taste, self.item_vectors[items])
        out: FloatArray = 1.0 / (1.0 + np.exp(-(self.a + self.b * score)))
        return out

    def purchase(self, users: Users, items: IntArray) -> FloatArray:
        return np.full(items.shape, 0.3)


STILL: dict[str, Any] = {"drift": 0.0, "fatigue": 0.0, "leave_base": 0.0, "leave_per_miss": 0.0}


def make(world: World | None = None, **kwargs: Any) -> RecSessionEnv:
    options: dict[str, Any] = {"n_users": 50, "n_candidates": 8, "slate_size": 3, "max_steps": 20, "seed": 0}
    options.update(kwargs)
    return RecSessionEnv(world or AttributeWorld(), **options)


def random_slates(rng: np.random.Generator, obs: dict[str, Any], k: int) -> IntArray:
    """k distinct candidate columns per session, uniformly at random."""
    order: IntArray = np.argsort(rng.random(obs["fatigue"].shape), axis=1)[:, :k]
    return order


def columns_of(obs: dict[str, Any], item: int) -> IntArray:
    """The candidate column holding ``item`` in each session (the item must be in every row)."""
    hit = obs["candidates"] == item
    assert hit.any(axis=1).all()
    cols: IntArray = np.argmax(hit, axis=1)
    return cols


def z_score(observed: float, expected: float, variance: float) -> float:
    return float(abs(observed - expected) / np.sqrt(max(variance, 1e-12)))


# ---------------------------------------------------------------- Gymnasium API


# The context is an unbounded real vector (the world's, then drifted), so its Box is (-inf, inf):
# check_env's two "probably too low/high" warnings about infinite bounds are expected, and only they are ignored.
@pytest.mark.filterwarnings("ignore:.*A Box observation space minimum value is -infinity")
@pytest.mark.filterwarnings("ignore:.*A Box observation space maximum value is infinity")
@pytest.mark.parametrize("reward", ["clicks", "revenue"])
def test_check_env(reward: str) -> None:
    env = make(n_users=6, n_candidates=5, slate_size=2, max_steps=4, drift=0.2, reward=reward)
    check_env(env, skip_render_check=True)


def test_spaces_hold_every_observation_and_action() -> None:
    env = make(fatigue_decay=0.0, fatigue=2.0, max_steps=12, leave_base=0.0, leave_per_miss=0.02)
    obs, _ = env.reset(seed=3)
    assert obs in env.observation_space
    assert env.action_space.shape == (50, 3)
    done = False
    while not done:
        obs, reward, terminated, truncated, _ = env.step(repeat_slates(obs, 3))  # fatigue grows fastest
        assert obs in env.observation_space
        assert isinstance(reward, float)
        done = terminated or truncated


def run_episode(env: RecSessionEnv, seed: int, policy_seed: int) -> list[Any]:
    rng = np.random.default_rng(policy_seed)
    trace: list[Any] = [env.reset(seed=seed)]
    done = False
    while not done:
        step = env.step(random_slates(rng, trace[-1][0], env.slate_size))
        trace.append(step)
        done = step[2] or step[3]
    return trace


def assert_same(a: Any, b: Any) -> None:
    if isinstance(a, dict):
        assert a.keys() == b.keys()
        for key in a:
            assert_same(a[key], b[key])
    elif isinstance(a, tuple | list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            assert_same(x, y)
    else:
        np.testing.assert_array_equal(a, b)


def test_same_seed_same_trajectory() -> None:
    one = run_episode(make(drift=0.2, max_steps=15), seed=7, policy_seed=1)
    two = run_episode(make(drift=0.2, max_steps=15), seed=7, policy_seed=1)
    assert_same(one, two)
    other = run_episode(make(drift=0.2, max_steps=15), seed=8, policy_seed=1)
    assert not np.array_equal(one[0][0]["context"], other[0][0]["context"])


def test_constructor_seed_seeds_the_first_reset() -> None:
    obs_a, _ = make(seed=11).reset()
    obs_b, _ = make(seed=None).reset(seed=11)
    assert_same(obs_a, obs_b)


def test_reset_starts_fresh_sessions() -> None:
    env = make(leave_base=0.3, max_steps=30)
    first = run_episode(env, seed=1, policy_seed=0)
    assert first[-1][4]["session_lengths"].min() >= 1
    obs, info = env.reset(seed=2)
    assert env.step_count == 0
    assert obs["active"].all() and not obs["misses"].any() and not obs["fatigue"].any()
    assert not info["returns"].any() and not info["session_lengths"].any()
    obs, *_ = env.step(random_slates(np.random.default_rng(0), obs, 3))
    assert env.step_count == 1


def test_terminated_when_every_session_left_and_truncated_at_max_steps() -> None:
    env = make(leave_base=1.0)
    obs, _ = env.reset(seed=0)
    obs, _, terminated, truncated, info = env.step(diverse_slates(obs, 3))
    assert terminated and not truncated
    assert info["left"].all() and not obs["active"].any()
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step(diverse_slates(obs, 3))

    env = make(**STILL, max_steps=5)
    obs, _ = env.reset(seed=0)
    flags = [env.step(diverse_slates(obs, 3))[2:4] for _ in range(5)]
    assert flags == [(False, False)] * 4 + [(False, True)]


def test_sessions_that_left_are_frozen() -> None:
    env = make(n_users=300, leave_base=0.2, leave_per_miss=0.1, max_steps=10)
    obs, _ = env.reset(seed=4)
    rng = np.random.default_rng(0)
    done = False
    while not done:
        before = obs
        obs, reward, terminated, truncated, info = env.step(random_slates(rng, obs, 3))
        gone = ~before["active"].astype(bool)
        for key in ("context", "candidates", "fatigue", "misses", "active"):
            np.testing.assert_array_equal(obs[key][gone], before[key][gone])
        assert not info["clicks"][gone].any() and (info["shown"][gone] == -1).all()
        assert not info["rewards"][gone].any() and not info["expected_clicks"][gone].any()
        assert reward == pytest.approx(info["rewards"].sum())
        done = terminated or truncated
    assert np.array_equal(info["returns"] > 0, info["returns"] >= 1)


def test_candidates_are_distinct_uniform_and_available() -> None:
    arrival = np.zeros(300, dtype=np.int64)
    arrival[250:] = 3  # not available at step 0: never a candidate
    for n_candidates in (10, 200):  # Floyd's algorithm, then the random-keys path
        env = make(AttributeWorld(n_items=300, n_attr=6, arrival=arrival), n_users=200, n_candidates=n_candidates)
        obs, _ = env.reset(seed=5)
        counts = np.zeros(300)
        for _ in range(10):
            cand = obs["candidates"]
            assert (np.sort(cand, axis=1)[:, 1:] != np.sort(cand, axis=1)[:, :-1]).all()
            np.add.at(counts, cand.ravel(), 1)
            obs, *_ = env.step(diverse_slates(obs, 3))
        assert not counts[250:].any()
        draws, p = 200 * 10, n_candidates / 250
        assert np.abs(counts[:250] - draws * p).max() < Z * np.sqrt(draws * p * (1 - p)) * 1.5  # 250 items


def test_parameters_and_actions_are_validated() -> None:
    with pytest.raises(ParameterError, match=r"The 'drift' parameter of RecSessionEnv must be a float in \[0, 1\]"):
        make(drift=1.5)
    with pytest.raises(ParameterError, match="'reward' parameter"):
        make(reward="likes")
    with pytest.raises(InputError, match="n_candidates"):
        make(n_candidates=25)
    with pytest.raises(InputError, match="slate_size"):
        make(slate_size=5)
    env = make()
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step(np.zeros((50, 3), dtype=np.int64))
    env.reset(seed=0)
    with pytest.raises(InputError, match="shape"):
        env.step(np.zeros((50, 2), dtype=np.int64))
    with pytest.raises(InputError, match="candidate columns in"):
        env.step(np.full((50, 3), 8))


# ---------------------------------------------------------------- the model, checked statistically


def test_without_dynamics_clicks_follow_the_bandit_model() -> None:
    """drift = fatigue = leaving = 0: position j's click rate is examination[j] * attraction."""
    world = AttributeWorld()
    env = make(world, **STILL, n_users=2000, slate_size=4, max_steps=10)
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(1)
    clicks, expected, variance = np.zeros(4), np.zeros(4), np.zeros(4)
    buys, buy_expected = 0.0, 0.0
    users = env.users
    for _ in range(10):
        action = random_slates(rng, obs, 4)
        items = np.take_along_axis(obs["candidates"], action, axis=1)
        p = world.examination[:4] * world.attraction(users, items)
        obs, reward, _, _, info = env.step(action)
        np.testing.assert_allclose(info["expected_clicks"], world.expected_clicks(users, items))
        np.testing.assert_array_equal(info["shown"], items)
        clicks += info["clicks"].sum(axis=0)
        expected += p.sum(axis=0)
        variance += (p * (1 - p)).sum(axis=0)
        buys += info["purchases"].sum()
        buy_expected += 0.3 * info["clicks"].sum()
        assert reward == info["clicks"].sum()
    for j in range(4):
        assert z_score(clicks[j], expected[j], variance[j]) < Z
    assert z_score(buys, buy_expected, buy_expected * 0.7) < Z
    np.testing.assert_array_equal(env.users.taste, users.taste)  # no drift


def test_revenue_reward_is_the_price_of_the_purchases() -> None:
    world = AttributeWorld()
    env = make(world, reward="revenue", n_users=500)
    obs, _ = env.reset(seed=0)
    obs, reward, _, _, info = env.step(diverse_slates(obs, 3))
    paid = (info["purchases"] * world.price[np.maximum(info["shown"], 0)]).sum(axis=1)
    np.testing.assert_allclose(info["rewards"], paid)
    assert reward == pytest.approx(paid.sum()) and reward > 0


def test_fatigue_memory_follows_its_formula() -> None:
    """phi = max(0, v̂ . h); h <- (1 - decay) h + (1 + click) v̂ of each shown item."""
    world = AttributeWorld(n_items=12, n_attr=6)
    env = make(world, **{**STILL, "fatigue": 0.7, "fatigue_decay": 0.25}, n_users=400, n_candidates=12, slate_size=1)
    obs, _ = env.reset(seed=0)
    obs, _, _, _, info = env.step(columns_of(obs, 0)[:, None])
    clicked = info["clicks"][:, 0]
    memory = 1.0 + clicked  # item 0's attribute; item 6 shares it, the others are orthogonal
    for item in range(12):
        expected = memory if world.attr[item] == world.attr[0] else np.zeros(400)
        np.testing.assert_allclose(obs["fatigue"][np.arange(400), columns_of(obs, item)], expected)
    # Show item 1 (orthogonal): item 0's fatigue only decays, and the click probability of item 6 is damped.
    users = env.users
    obs, _, _, _, info = env.step(columns_of(obs, 1)[:, None])
    np.testing.assert_allclose(obs["fatigue"][np.arange(400), columns_of(obs, 0)], 0.75 * memory)
    p6 = world.attraction(users, np.full((400, 1), 6))[:, 0] * np.exp(-0.7 * 0.75 * memory)
    cols = columns_of(obs, 6)[:, None]
    obs, _, _, _, info = env.step(cols)
    np.testing.assert_allclose(info["expected_clicks"], p6)


def test_fatigue_lowers_the_click_rate_of_a_repeated_item() -> None:
    world = AttributeWorld(n_items=12, n_attr=6, a=1.0)
    rates = {}
    for strength in (0.0, 0.8):
        env = make(world, **{**STILL, "fatigue": strength}, n_users=3000, n_candidates=12, slate_size=1)
        obs, _ = env.reset(seed=0)
        per_step, expected, variance = [], 0.0, 0.0
        for _ in range(8):
            obs, _, _, _, info = env.step(columns_of(obs, 0)[:, None])
            per_step.append(info["clicks"].mean())
            expected += info["expected_clicks"].sum()
            variance += (info["expected_clicks"] * (1 - info["expected_clicks"])).sum()
        total = sum(per_step) * 3000
        assert z_score(total, expected, variance) < Z  # the damped probabilities are the real ones
        rates[strength] = np.array(per_step)
    n = 3000
    se = np.sqrt(2 * 0.25 / n)
    # Without fatigue the rate stays put; with it, it falls well below its first-step value.
    assert abs(rates[0.0][-3:].mean() - rates[0.0][0]) < Z * se
    assert rates[0.8][0] - rates[0.8][-3:].mean() > 0.15
    assert abs(rates[0.8][0] - rates[0.0][0]) < Z * se  # no fatigue yet at the first step


def test_leaving_follows_base_plus_per_miss() -> None:
    """After a step ending with m consecutive misses, a session leaves w.p. clip(base + per_miss * m, 0, 1)."""
    base, per_miss = 0.04, 0.24
    env = make(
        AttributeWorld(a=-1.5),
        drift=0.0,
        fatigue=0.0,
        leave_base=base,
        leave_per_miss=per_miss,
        n_users=4000,
        max_steps=30,
    )
    obs, _ = env.reset(seed=0)
    rng = np.random.default_rng(0)
    at_risk, left = np.zeros(31), np.zeros(31)
    done = False
    while not done:
        obs, _, terminated, truncated, info = env.step(random_slates(rng, obs, 3))
        misses = obs["misses"][info["active"]]
        np.add.at(at_risk, misses, 1)
        np.add.at(left, misses, info["left"][info["active"]])
        done = terminated or truncated
    checked = 0
    for m in range(31):
        if at_risk[m] >= 50:
            p = min(1.0, base + per_miss * m)
            assert z_score(left[m], at_risk[m] * p, at_risk[m] * p * (1 - p)) < Z, m
            checked += 1
    assert checked == 5
    assert left[4] == at_risk[4] > 20 and not at_risk[5:].any()  # clipped: 0.04 + 0.24 * 4 = 1


def test_drift_turns_taste_towards_clicked_items() -> None:
    world = AttributeWorld(a=0.5)
    env = make(world, drift=0.3, drift_noise=0.0, fatigue=0.0, n_users=1000, slate_size=2)
    obs, _ = env.reset(seed=0)
    before = env.users
    obs, _, _, _, info = env.step(diverse_slates(obs, 2))
    after = env.users
    clicked = info["clicks"].any(axis=1)
    g = (info["clicks"][:, :, None] * world.item_vectors[np.maximum(info["shown"], 0)]).sum(axis=1)[clicked]
    g /= np.linalg.norm(g, axis=1, keepdims=True)

    def cosine(t: FloatArray) -> FloatArray:
        out: FloatArray = (t * g).sum(axis=1) / np.linalg.norm(t, axis=1)
        return out

    assert clicked.sum() > 300
    assert (cosine(after.taste[clicked]) > cosine(before.taste[clicked]) + 1e-9).all()
    np.testing.assert_allclose(np.linalg.norm(after.taste, axis=1), np.linalg.norm(before.taste, axis=1))
    np.testing.assert_array_equal(after.taste[~clicked], before.taste[~clicked])
    # The context follows the fitted linear taste -> context map (here the world's mixing matrix).
    assert env.context_map_ is not None and env.context_map_r2_ is not None
    np.testing.assert_allclose(env.context_map_, world.mixing, atol=0.01)
    assert env.context_map_r2_ > 0.99
    np.testing.assert_allclose(after.context - before.context, (after.taste - before.taste) @ env.context_map_)
    np.testing.assert_allclose(obs["context"], after.context)


def test_noisy_drift_still_moves_towards_clicks_on_average() -> None:
    world = AttributeWorld(a=0.5)
    env = make(world, drift=0.2, drift_noise=0.5, fatigue=0.0, n_users=2000, slate_size=1)
    obs, _ = env.reset(seed=1)
    before = env.users.taste
    obs, _, _, _, info = env.step(diverse_slates(obs, 1))
    clicked = info["clicks"][:, 0]
    v = world.item_vectors[info["shown"][clicked, 0]]
    after = env.users.taste[clicked]
    gain = (after * v).sum(1) / np.linalg.norm(after, axis=1) - (before[clicked] * v).sum(1) / np.linalg.norm(
        before[clicked], axis=1
    )
    assert gain.mean() > Z * gain.std() / np.sqrt(gain.size)
    assert (gain > 0).mean() > 0.6
    np.testing.assert_allclose(np.linalg.norm(after, axis=1), np.linalg.norm(before[clicked], axis=1))


def test_dynamics_decide_whether_repetition_or_diversity_wins() -> None:
    """'More of the same' exploits what was clicked: it wins without fatigue, and loses clearly with it
    (fatigued users stop clicking and leave sooner). Sessions are independent, so each batch row is a seed."""
    world = AttributeWorld(n_items=48, n_attr=8)

    def play(policy: Any, fatigue: float, seed: int) -> tuple[FloatArray, FloatArray]:
        env = make(world, drift=0.0, fatigue=fatigue, leave_per_miss=0.1, n_users=2000, n_candidates=12, slate_size=2)
        obs, _ = env.reset(seed=seed)
        done = False
        while not done:
            obs, _, terminated, truncated, info = env.step(policy(obs, 2))
            done = terminated or truncated
        return info["returns"], info["session_lengths"].astype(np.float64)

    def difference(a: FloatArray, b: FloatArray) -> tuple[float, float]:
        return float(a.mean() - b.mean()), float(np.sqrt(a.var() / a.size + b.var() / b.size))

    for seed in (0, 1):
        rep_ret, rep_len = play(repeat_slates, 1.0, seed)
        div_ret, div_len = play(diverse_slates, 1.0, seed)
        gap, se = difference(div_ret, rep_ret)
        assert gap > Z * se and gap > 1.0
        gap, se = difference(div_len, rep_len)
        assert gap > Z * se
        rep_ret, _ = play(repeat_slates, 0.0, seed)
        div_ret, _ = play(diverse_slates, 0.0, seed)
        gap, se = difference(rep_ret, div_ret)
        assert gap > 2 * se  # without fatigue, repetition is the better policy
