"""InterestEvolutionEnv: RecSim's interest-evolution model, against a per-user reference and statistically.

The reference below (:func:`reference_step`) is the model of the class docstring written the slow
way, one session at a time in plain Python, as RecSim's ``IEvUserModel`` is: it must give exactly
what the vectorised env gives, step after step, from the same uniform draws (the docstring fixes
their order). Statistical checks compare counts with their expectation using the binomial
standard error and ``Z = 5`` (a false alarm below 1e-6 per check); every seed is fixed.
"""

from __future__ import annotations

import copy
import itertools
import math
from typing import Any, Literal

import gymnasium
import numpy as np
import numpy.typing as npt
import pytest
from gymnasium.utils.env_checker import check_env

from abrec.envs import ENV_IDS, InterestEvolutionEnv, describe_envs, make_env
from abrec.envs.interest_evolution import QUALITY_WORDS, TOPIC_NAMES, quality_word
from abrec.errors import InputError, ParameterError

Z = 5.0
ENV_ID = "abrec/InterestEvolution-v0"
FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


# ----------------------------------------------------------------------------- the reference
def reference_step(
    env: InterestEvolutionEnv,
    interest: list[list[float]],
    budget: list[float],
    active: list[bool],
    candidates: list[list[int]],
    slate: list[list[int]],
    draws: list[list[float]],
) -> dict[str, Any]:
    """One step of every session, one at a time (the state lists are updated in place)."""
    topic, quality = env.corpus.topic.tolist(), env.corpus.quality.tolist()
    proportional = env.choice == "proportional"
    w0 = env.no_click_mass + 1.0 if proportional else math.exp(env.no_click_mass)
    out: dict[str, list[Any]] = {k: [] for k in ("clicks", "reward", "watch", "p_click", "oracle", "left", "shown")}
    for i in range(env.n_users):
        k = len(slate[i])
        if not active[i]:
            for key, value in (("clicks", [False] * k), ("shown", [-1] * k), ("left", False)):
                out[key].append(value)
            for key in ("reward", "watch", "p_click", "oracle"):
                out[key].append(0.0)
            continue

        def weight(doc: int, i: int = i) -> float:
            x = interest[i][topic[doc]]
            return x + 1.0 if proportional else math.exp(x)

        weights, shown, seen = [], [], set()
        for col in slate[i]:
            doc = candidates[i][col]
            weights.append(0.0 if col in seen else weight(doc))
            shown.append(-1 if col in seen else doc)
            seen.add(col)
        total = w0 + sum(weights)
        probs = [w / total for w in weights]
        assert math.isclose(sum(probs) + w0 / total, 1.0)  # the no-click option completes the distribution
        best = max(
            sum(weight(candidates[i][c]) for c in cols) for cols in itertools.permutations(range(len(candidates[i])), k)
        )
        chosen, cumulative = None, 0.0
        for j, p in enumerate(probs):
            cumulative += p
            if draws[i][0] < cumulative:
                chosen = j
                break
        watch_if_clicked = min(budget[i], env.video_length)
        clicks = [j == chosen for j in range(k)]
        watch = 0.0
        if chosen is None:
            budget[i] -= env.step_penalty
        else:
            doc = shown[chosen]
            c = topic[doc]
            x = interest[i][c]
            delta = env.interest_step * (1.0 - abs(x)) * (1.0 - x)
            interest[i][c] = min(1.0, max(-1.0, x + delta if draws[i][1] < (x + 1.0) / 2.0 else x - delta))
            watch = watch_if_clicked
            budget[i] = budget[i] - watch + env.budget_alpha * watch * quality[doc]
        active[i] = budget[i] > 0
        out["clicks"].append(clicks)
        out["shown"].append(shown)
        out["reward"].append(watch if env.reward == "watch_time" else float(chosen is not None))
        out["watch"].append(watch)
        out["p_click"].append(sum(probs))
        out["oracle"].append(best / (w0 + best))
        out["left"].append(not active[i])
    return out


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"choice": "logit", "reward": "clicks", "observe": "history"},
        {"no_click_mass": 0.0, "budget_alpha": 0.5, "interest_step": 0.9},
    ],
    ids=["recsim-defaults", "logit-clicks-history", "strong-dynamics"],
)
def test_vectorised_step_equals_the_per_user_reference(options: dict[str, Any]) -> None:
    env = InterestEvolutionEnv(n_users=6, n_candidates=5, slate_size=3, n_items=60, time_budget=20.0, seed=3, **options)
    obs, _ = env.reset(seed=11)
    interest, budget = env.interests.tolist(), env.budgets.tolist()
    active = [True] * env.n_users
    returns, lengths = np.zeros(env.n_users), np.zeros(env.n_users, dtype=np.int64)
    clicks_by_topic, shown_by_topic = np.zeros((6, env.n_topics)), np.zeros((6, env.n_topics))
    rng = np.random.default_rng(0)
    terminated = truncated = False
    steps = 0
    while not (terminated or truncated):
        slate = rng.integers(0, env.n_candidates, (env.n_users, env.slate_size))  # repeats included
        draws = copy.deepcopy(env.np_random).random((env.n_users, 2))
        before = {key: np.copy(value) for key, value in obs.items()}
        was_active = list(active)
        ref = reference_step(env, interest, budget, active, obs["candidates"].tolist(), slate.tolist(), draws.tolist())
        obs, reward, terminated, truncated, info = env.step(slate)
        steps += 1

        assert np.array_equal(info["clicks"], ref["clicks"]) and np.array_equal(info["shown"], ref["shown"])
        np.testing.assert_allclose(info["rewards"], ref["reward"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(info["watch_time"], ref["watch"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(info["expected_clicks"], ref["p_click"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(info["oracle_clicks"], ref["oracle"], rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(env.interests, interest, rtol=0, atol=1e-12)
        np.testing.assert_allclose(info["time_budget"], budget, rtol=0, atol=1e-9)
        assert info["left"].tolist() == ref["left"] and info["active"].tolist() == was_active
        assert obs["active"].tolist() == [int(a) for a in active]
        assert reward == pytest.approx(sum(ref["reward"]))
        returns += ref["reward"]
        lengths += np.asarray(was_active)
        np.testing.assert_allclose(info["returns"], returns, rtol=1e-12)
        assert np.array_equal(info["session_lengths"], lengths)

        # Sessions that ended are frozen: same observation rows, nothing shown.
        for i in np.flatnonzero(~np.asarray(was_active)):
            for key in obs:
                assert np.array_equal(obs[key][i], before[key][i]) or key == "active"
        if env.observe == "history":
            for u, (row, clicked) in enumerate(zip(ref["shown"], ref["clicks"], strict=True)):
                for doc, hit in zip(row, clicked, strict=True):
                    if doc >= 0:
                        shown_by_topic[u, env.corpus.topic[doc]] += 1
                        clicks_by_topic[u, env.corpus.topic[doc]] += hit
            assert np.array_equal(obs["context"], np.hstack([clicks_by_topic, shown_by_topic]))
        else:
            np.testing.assert_allclose(obs["context"], interest, rtol=0, atol=1e-12)
        assert terminated == (not any(active))
    assert terminated and steps < env.max_steps  # a 20-minute budget ends every session


# ----------------------------------------------------------------------------- the spec, statistically
def _random_slates(rng: np.random.Generator, env: InterestEvolutionEnv) -> IntArray:
    slates: IntArray = np.argsort(rng.random((env.n_users, env.n_candidates)), axis=1)[:, : env.slate_size]
    return slates


def test_clicks_follow_the_choice_model_with_its_no_click_option() -> None:
    """Per position and for 'no click': realised counts match the exact choice probabilities (Z = 5)."""
    env = InterestEvolutionEnv(n_users=2000, seed=0)
    obs, _ = env.reset(seed=1)
    rng = np.random.default_rng(2)
    expected, observed = np.zeros(env.slate_size + 1), np.zeros(env.slate_size + 1)
    variance = np.zeros(env.slate_size + 1)
    for _ in range(10):
        slates = _random_slates(rng, env)
        items = np.take_along_axis(obs["candidates"], slates, axis=1)
        w = np.take_along_axis(env.interests, env.corpus.topic[items], axis=1) + 1.0  # proportional: u + 1
        probs = np.hstack([w, np.full((env.n_users, 1), 2.0)])  # no click: no_click_mass + 1
        probs /= probs.sum(axis=1, keepdims=True)
        live = env.budgets > 0
        _, _, _, _, info = env.step(slates)
        outcome = np.hstack([info["clicks"], ~info["clicks"].any(axis=1, keepdims=True)])
        expected += probs[live].sum(axis=0)
        variance += (probs[live] * (1 - probs[live])).sum(axis=0)
        observed += outcome[live].sum(axis=0)
        assert info["clicks"].sum(axis=1).max() <= 1  # one click at most per slate
    assert np.all(np.abs(observed - expected) <= Z * np.sqrt(variance)), (observed, expected)


def test_interests_move_towards_the_clicked_topic_with_probability_x_plus_one_over_two() -> None:
    env = InterestEvolutionEnv(n_users=2000, seed=0)
    env.reset(seed=3)
    rng = np.random.default_rng(4)
    towards, p_towards = [], []
    for _ in range(15):
        before, slates = env.interests, _random_slates(rng, env)
        _, _, _, _, info = env.step(slates)
        after = env.interests
        rows, pos = np.nonzero(info["clicks"])
        topic = env.corpus.topic[info["shown"][rows, pos]]
        x, y = before[rows, topic], after[rows, topic]
        changed = np.zeros_like(before, dtype=bool)
        changed[rows, topic] = True
        assert np.array_equal(after[~changed], before[~changed])  # only the clicked topic moves
        assert np.array_equal(after[~info["clicks"].any(axis=1)], before[~info["clicks"].any(axis=1)])
        delta = 0.3 * (1 - np.abs(x)) * (1 - x)
        np.testing.assert_allclose(np.abs(y - x), np.minimum(delta, np.where(y > x, 1 - x, x + 1)), atol=1e-12)
        moved = delta > 1e-9
        towards.append(y[moved] > x[moved])
        p_towards.append((x[moved] + 1) / 2)
    hits, p = np.concatenate(towards), np.concatenate(p_towards)
    assert p.mean() > 0.55  # clicks go to liked topics: the test can tell (x + 1) / 2 from 1/2 or (1 - x) / 2
    assert abs(hits.sum() - p.sum()) <= Z * math.sqrt(float((p * (1 - p)).sum()))


def test_budget_pays_watch_time_and_step_penalty_and_earns_a_quality_bonus() -> None:
    env = InterestEvolutionEnv(n_users=500, seed=0)
    env.reset(seed=5)
    rng = np.random.default_rng(6)
    for _ in range(5):
        before = env.budgets
        _, _, _, _, info = env.step(_random_slates(rng, env))
        clicked = info["clicks"].any(axis=1)
        doc = info["shown"][info["clicks"]]
        watch = np.minimum(before[clicked], 4.0)
        assert np.array_equal(info["watch_time"][clicked], watch) and not info["watch_time"][~clicked].any()
        np.testing.assert_allclose(
            info["time_budget"][clicked], before[clicked] - watch + 0.9 / 3.4 * watch * env.corpus.quality[doc]
        )
        np.testing.assert_allclose(info["time_budget"][~clicked], before[~clicked] - 0.5)
        assert np.array_equal(info["rewards"], info["watch_time"])


def test_sessions_end_when_their_budget_is_spent() -> None:
    env = InterestEvolutionEnv(n_users=50, time_budget=6.0, seed=0)
    env.reset(seed=7)
    rng = np.random.default_rng(8)
    ended_at = np.full(env.n_users, -1)
    t = 0
    while True:
        _, _, terminated, truncated, info = env.step(_random_slates(rng, env))
        assert np.array_equal(info["left"], info["active"] & (info["time_budget"] <= 0))
        assert not info["rewards"][~info["active"]].any() and (info["shown"][~info["active"]] == -1).all()
        ended_at[info["left"]] = t
        t += 1
        if terminated or truncated:
            break
    assert terminated and not truncated and (ended_at >= 0).all()
    assert np.array_equal(info["session_lengths"], ended_at + 1)
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.step(_random_slates(rng, env))


def test_a_budget_spent_to_exactly_zero_ends_the_session() -> None:
    """RecSim's ``time_budget <= 0``: two steps without a click spend a one-minute budget exactly."""
    env = InterestEvolutionEnv(n_users=50, time_budget=1.0, no_click_mass=1e9, seed=0)  # P(click) < 1e-8
    env.reset(seed=0)
    _, _, terminated, _, info = env.step(env.myopic_slates())
    assert not terminated and not info["left"].any()
    _, _, terminated, _, info = env.step(env.myopic_slates())
    assert terminated and info["left"].all() and (info["time_budget"] == 0).all()


def test_greedy_on_quality_outlasts_the_myopic_oracle_which_beats_random() -> None:
    """The long-term effect: nutritious videos extend the budget. Means over 400 sessions, 95% CIs apart."""
    env = InterestEvolutionEnv(n_users=400, seed=0)

    def returns(policy: str) -> FloatArray:
        obs, _ = env.reset(seed=9)
        rng = np.random.default_rng(10)
        while True:
            if policy == "random":
                action = _random_slates(rng, env)
            elif policy == "myopic":
                action = env.myopic_slates()
            else:
                action = np.argsort(-env.corpus.quality[obs["candidates"]], axis=1, kind="stable")[:, :2]
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                out: FloatArray = info["returns"]
                return out

    def interval(r: FloatArray) -> tuple[float, float]:
        half = 1.96 * r.std(ddof=1) / math.sqrt(r.size)
        return float(r.mean() - half), float(r.mean() + half)

    random_ci, myopic_ci, quality_ci = (interval(returns(p)) for p in ("random", "myopic", "quality"))
    assert random_ci[1] < myopic_ci[0] and myopic_ci[1] < quality_ci[0], (random_ci, myopic_ci, quality_ci)


# ----------------------------------------------------------------------------- oracle and expectations
@pytest.mark.parametrize("reward", ["watch_time", "clicks"])
def test_myopic_slates_maximise_the_exact_expected_reward(reward: Literal["watch_time", "clicks"]) -> None:
    env = InterestEvolutionEnv(n_users=40, n_candidates=5, slate_size=2, time_budget=3.0, reward=reward, seed=1)
    obs, _ = env.reset(seed=2)
    for _ in range(3):  # later steps have budgets below the video length
        values = np.column_stack(
            [env.expected_rewards(np.tile(perm, (40, 1))) for perm in itertools.permutations(range(5), 2)]
        )
        best = env.expected_rewards(env.myopic_slates())
        np.testing.assert_allclose(best, values.max(axis=1), rtol=1e-12)
        single = np.column_stack([env.expected_rewards(np.full((40, 1), c)) for c in range(5)])
        w = env.interests[np.arange(40)[:, None], env.corpus.topic[obs["candidates"]]] + 1
        per_click = np.minimum(np.maximum(env.budgets, 0), 4.0)[:, None] if reward == "watch_time" else 1.0
        np.testing.assert_allclose(single, np.where(env.budgets[:, None] > 0, w / (2 + w) * per_click, 0), atol=1e-12)
        obs, _, _, _, info = env.step(env.myopic_slates())
        np.testing.assert_allclose(info["expected_rewards"], best, rtol=1e-12)
        np.testing.assert_allclose(info["oracle_rewards"], best, rtol=1e-12)


def test_expected_rewards_rejects_bad_columns() -> None:
    env = InterestEvolutionEnv(n_users=3, seed=0)
    with pytest.raises(gymnasium.error.ResetNeeded):
        env.expected_rewards(np.zeros((3, 1), dtype=np.int64))
    env.reset(seed=0)
    with pytest.raises(InputError, match=r"shape \(3, j\)"):
        env.expected_rewards(np.zeros((2, 1), dtype=np.int64))
    with pytest.raises(InputError, match=r"\[0, 10\)"):
        env.expected_rewards(np.full((3, 1), 10))


# ----------------------------------------------------------------------------- corpus and texts
def test_corpus_follows_recsims_document_sampler_and_its_texts_name_topic_and_quality() -> None:
    env = InterestEvolutionEnv(n_items=2000, seed=4)
    means = env.quality_means_
    np.testing.assert_allclose(means[:14], np.linspace(-3, 0, 14))  # RecSim: int(0.7 * 20) trashy topics
    np.testing.assert_allclose(means[14:], np.linspace(0, 3, 6))
    corpus = env.corpus
    counts = np.bincount(corpus.topic, minlength=20)
    assert np.all(np.abs(counts - 100) <= Z * math.sqrt(2000 * 0.05 * 0.95))
    residual = corpus.quality - means[corpus.topic]
    assert abs(residual.mean()) < Z * 0.1 / math.sqrt(2000) and abs(residual.std() - 0.1) < 0.01
    assert (corpus.length == 4.0).all() and np.array_equal(corpus.ids, np.arange(2000))
    texts = corpus.texts()
    assert texts == env.item_texts() == InterestEvolutionEnv(n_items=2000, seed=4).item_texts()
    words = [word for _, word in QUALITY_WORDS]
    for text, topic, quality in zip(texts, corpus.topic, corpus.quality, strict=True):
        article, word, _, _, name = text.split(" ", 4)
        assert (word, name) == (quality_word(float(quality)), TOPIC_NAMES[topic]) and word in words
        assert article == ("an" if word[0] in "aeiou" else "a")
    assert quality_word(-2.6) == "terrible" and quality_word(2.5) == "outstanding"


def test_candidates_are_distinct_and_uniform_over_the_corpus() -> None:
    env = InterestEvolutionEnv(n_users=1000, n_items=50, seed=0)
    obs, _ = env.reset(seed=1)
    counts = np.zeros(50)
    for _ in range(5):
        cands = obs["candidates"]
        assert (np.sort(cands, axis=1)[:, 1:] != np.sort(cands, axis=1)[:, :-1]).all()
        counts += np.bincount(cands.ravel(), minlength=50)
        obs, *_ = env.step(env.myopic_slates())
    assert obs["active"].all()  # every session is still active after 5 steps: 5 x 1000 draws of 10 of 50
    p = 10 / 50
    assert np.all(np.abs(counts - 5000 * p) <= Z * math.sqrt(5000 * p * (1 - p)))


# ----------------------------------------------------------------------------- gymnasium, registry, seeds
@pytest.mark.parametrize("options", [{}, {"observe": "history", "choice": "logit", "reward": "clicks"}])
def test_gymnasium_check_env(options: dict[str, Any]) -> None:
    check_env(
        InterestEvolutionEnv(n_users=8, time_budget=10.0, max_steps=30, seed=0, **options), skip_render_check=True
    )


def test_registered_and_built_from_a_config_deterministically() -> None:
    assert ENV_ID in ENV_IDS and ENV_ID in gymnasium.registry and ENV_ID in dict(describe_envs())
    config = {"env": ENV_ID, "seed": 5, "view": {"n_users": 4, "n_items": 100, "max_steps": 30}}
    episodes = []
    for _ in range(2):
        env = make_env(config)
        assert isinstance(env.unwrapped, InterestEvolutionEnv) and env.spec is not None
        assert env.spec.max_episode_steps == 30
        obs, _ = env.reset(seed=1)
        trace = [obs["candidates"].copy()]
        for _ in range(5):
            obs, reward, *_ = env.step(np.tile([0, 1], (4, 1)))
            trace += [obs["candidates"].copy(), obs["context"].copy(), np.array(reward)]
        episodes.append(trace)
    assert all(np.array_equal(a, b) for a, b in zip(*episodes, strict=True))
    built: Any = env.unwrapped
    other: Any = make_env({**config, "seed": 6}).unwrapped
    assert not np.array_equal(other.corpus.topic, built.corpus.topic)  # the seed builds the corpus
    small: Any = gymnasium.make(ENV_ID, n_users=3).unwrapped
    assert small.n_users == 3


def test_config_and_parameter_errors_are_clear() -> None:
    with pytest.raises(InputError, match="has no world"):
        make_env({"env": ENV_ID, "world": {"n_items": 10}})
    with pytest.raises(InputError, match="Did you mean 'n_users'"):
        make_env({"env": ENV_ID, "view": {"n_user": 4}})
    with pytest.raises(ParameterError, match="Did you mean 'logit'"):
        InterestEvolutionEnv(choice="logits")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="'n_topics' parameter"):
        InterestEvolutionEnv(n_topics=len(TOPIC_NAMES) + 1)
    with pytest.raises(InputError, match="slate_size <= n_candidates"):
        InterestEvolutionEnv(n_candidates=3, slate_size=4)
    with pytest.raises(InputError, match="n_candidates <= n_items"):
        InterestEvolutionEnv(n_items=5)
