"""LLM simulated users: personas from real histories, the LLMUserWorld behind the Gymnasium bandit view,
and the fidelity protocol (Agent4Rec's) on held-out MovieLens users.

The protocol's own numbers are checked on scorers whose answer is known (an oracle, a coin, a scorer
that inverts the truth); the world with the fake model (planted "likes Action" users). Real SmolLM2
runs are in the benchmark (``make bench BENCH=llm``) and in one short test of the local model.
"""

from __future__ import annotations

import os

import numpy as np
import pandas as pd
import pytest

from _shared import shared_path
from abrec.data import Catalog, MovieLens, load_movielens
from abrec.envs import LLMUserWorld, MovieLensWorld, RecBanditEnv
from abrec.llm import BudgetExhaustedError, CachedGenerator, CallBudget, FakeGenerator
from abrec.llm.fidelity import evaluate_fidelity, fidelity_cases
from abrec.llm.persona import Persona, watch_probabilities


def _toy() -> MovieLens:
    rng = np.random.default_rng(0)
    genres = ["Action", "Drama"]
    texts = [f"Movie {i} (1990). Genres: {genres[i % 2]}." for i in range(1, 61)]
    catalog = Catalog(pd.DataFrame({"item_id": range(1, 61), "text": texts}), text_columns=["text"])
    n = 3000
    ratings = pd.DataFrame(
        {
            "user_id": rng.integers(1, 41, n),
            "item_id": rng.integers(1, 61, n),
            "rating": rng.integers(1, 6, n).astype(float),
            "timestamp": pd.Timestamp("2000-01-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 10**6, n), unit="s"),
        }
    )
    return MovieLens("toy", catalog, ratings, None)


def _action_fan(prompt: str, answers: list[str]) -> list[float]:
    """Planted taste: every persona wants Action movies and rates them 5 stars."""
    shown = (
        prompt.split("watch this movie:")[-1] if "watch this movie:" in prompt else prompt.split("just watched:")[-1]
    )
    action = "Action" in shown.split("\n")[0]
    if answers == ["Yes", "No"]:
        return [3.0, 0.0] if action else [0.0, 3.0]
    return [0, 0, 0, 0, 5.0] if action else [5.0, 0, 0, 0, 0]


def test_persona_keeps_the_most_recent_ratings_and_phrases_them() -> None:
    p = Persona.from_history([f"m{i}" for i in range(20)], list(range(20)), max_items=3)
    assert p.items == ("m17", "m18", "m19") and p.stars == (17, 18, 19)
    prompt = p.watch_prompt("Heat (1995).")
    assert (
        prompt.endswith("Would you watch this movie: Heat (1995).?\nAnswer Yes or No.") and "- m19 19 stars" in prompt
    )


def test_llm_world_runs_in_the_bandit_view_with_budget_and_cache(tmp_path: object) -> None:
    data = _toy()
    base = MovieLensWorld(data, rank=4, horizon=5, cold_share=0.1, seed=1)
    inner = FakeGenerator(scores=_action_fan, budget=CallBudget(10_000))
    world = LLMUserWorld(base, data.ratings, CachedGenerator(inner, os.path.join(str(tmp_path), "c.sqlite")))
    assert len(world.personas) == base.n_users and world.n_items == base.n_items
    env = RecBanditEnv(world, n_users=4, n_candidates=6, slate_size=2, horizon=5, seed=0)
    obs, _ = env.reset(seed=3)
    texts = world.item_texts()
    action_rows = np.array(["Action" in t for t in texts])
    clicks_action, clicks_drama = 0, 0
    for _ in range(5):
        cand = obs["candidates"]
        # Show the first two candidates; count clicks by genre.
        obs, _, _, _, info = env.step(np.tile(np.arange(2), (4, 1)))
        shown = info["items"]
        clicks_action += int(info["clicks"][action_rows[shown]].sum())
        clicks_drama += int(info["clicks"][~action_rows[shown]].sum())
        assert info["oracle_clicks"].shape == (4,) and cand.shape == (4, 6)
    assert clicks_action > clicks_drama, "the simulated users ignore the model's answers"
    users = world.sample_users(2, np.random.default_rng(0))
    rows = np.array([[0, 1], [0, 1]])  # Movie 1 is Drama, Movie 2 Action
    assert (
        np.allclose(world.ratings(users, rows)[:, 1], 5.0, atol=0.1) and (world.purchase(users, rows)[:, 0] < 0.1).all()
    )
    calls = inner.usage.calls
    env.reset(seed=3)
    for _ in range(5):
        env.step(np.tile(np.arange(2), (4, 1)))
    assert inner.usage.calls == calls, "a replayed episode asked the model again (answers are cached)"
    tight = LLMUserWorld(base, data.ratings, FakeGenerator(scores=_action_fan, budget=CallBudget(30)))
    env = RecBanditEnv(tight, n_users=4, n_candidates=6, slate_size=2, horizon=5, seed=0)
    env.reset(seed=0)
    with pytest.raises(BudgetExhaustedError):
        for _ in range(5):
            env.step(np.tile(np.arange(2), (4, 1)))
    assert tight.generator.budget.used <= 30


@pytest.fixture(scope="module")
def held_out() -> tuple[list, pd.DataFrame, MovieLens]:
    ml = load_movielens(shared_path("data", "ml-100k"))
    texts = dict(zip(ml.catalog.ids.tolist(), ml.catalog.texts(), strict=True))
    cases, train = fidelity_cases(ml.ratings, texts, n_users=60, seed=0)
    return cases, train, ml


def test_fidelity_cases_hold_the_test_out_of_the_training_ratings(held_out: tuple) -> None:
    cases, train, ml = held_out
    assert len(cases) == 60 and len(train) < len(ml.ratings)
    seen = set(zip(train["user_id"].tolist(), train["item_id"].tolist(), strict=True))
    rated = ml.ratings.groupby("user_id")["item_id"].apply(set).to_dict()
    for case in cases:
        assert case.positives.shape == case.negatives.shape and 1 <= case.positives.shape[0] <= 5
        assert not any((case.user_id, int(i)) in seen for i in case.positives), "a test item is in the training data"
        assert not set(case.negatives.tolist()) & rated[case.user_id], "a negative was rated by the user"
        assert len(case.persona.items) <= 12


def test_fidelity_metrics_on_scorers_with_known_answers(held_out: tuple) -> None:
    cases = held_out[0]
    oracle = evaluate_fidelity(cases, lambda c, items: np.isin(items, c.positives).astype(float), n_boot=200)
    assert (oracle.accuracy, oracle.f1, oracle.auc_watch) == (1.0, 1.0, 1.0)
    inverted = evaluate_fidelity(cases, lambda c, items: 1.0 - np.isin(items, c.positives), n_boot=200)
    assert (inverted.accuracy, inverted.f1, inverted.auc_watch) == (0.0, 0.0, 0.0)
    rng = np.random.default_rng(0)
    coin = evaluate_fidelity(cases, lambda c, items: rng.random(items.shape[0]), threshold="half", n_boot=200)
    lo, hi = coin.confidence_interval("accuracy")
    assert lo <= 0.5 <= hi and abs(coin.auc_watch - 0.5) < 0.1
    always = evaluate_fidelity(cases, lambda c, items: np.ones(items.shape[0]), n_boot=200)
    assert always.accuracy == 0.5 and always.f1 == pytest.approx(2 / 3)


def test_llm_user_scorer_with_the_fake_model(held_out: tuple) -> None:
    cases, _, ml = held_out
    texts = dict(zip(ml.catalog.ids.tolist(), ml.catalog.texts(), strict=True))
    fake = FakeGenerator(scores=lambda p, a: [1.0, 0.0] if "Drama" in p.split("watch this movie:")[-1] else [0.0, 1.0])

    def scorer(case: object, items: np.ndarray) -> np.ndarray:
        return watch_probabilities(fake, [case.persona] * len(items), [texts[int(i)] for i in items])  # type: ignore[attr-defined]

    result = evaluate_fidelity(cases[:10], scorer, n_boot=100)
    assert 0.0 <= result.accuracy <= 1.0 and fake.usage.calls == sum(len(c.shown) + len(c.disliked) for c in cases[:10])


def test_llm_users_gymnasium_id_builds_from_a_generator_spec(tmp_path: object) -> None:
    import gymnasium

    from abrec.envs import ENV_IDS, make_env
    from abrec.errors import InputError, UnknownNameError

    path = str(shared_path("data", "ml-100k"))
    assert "abrec/LLMUsers-Bandit-v0" in ENV_IDS and "abrec/LLMUsers-Session-v0" not in ENV_IDS
    world_args = {"path": path, "generator": "fake", "cache_dir": str(tmp_path), "max_calls": 1000}
    env = gymnasium.make(
        "abrec/LLMUsers-Bandit-v0",
        world_args={**world_args, "movielens": {"horizon": 4}},
        seed=0,
        n_users=2,
        n_candidates=3,
        slate_size=2,
        horizon=4,
    )
    world = env.unwrapped.world  # type: ignore[attr-defined]
    assert isinstance(world, LLMUserWorld) and isinstance(world.generator, CachedGenerator)
    assert world.generator.identity == FakeGenerator().identity and world.base.horizon == 4
    env.reset(seed=0)
    env.step(np.tile(np.arange(2), (2, 1)))
    assert 0 < world.generator.budget.used <= 1000 and world.generator.misses == world.generator.budget.used
    with pytest.raises(InputError, match=r"Unknown key 'horizn' in env\.world\.movielens\. Did you mean 'horizon'"):
        make_env({"env": "abrec/LLMUsers-Bandit-v0", "world": {**world_args, "movielens": {"horizn": 4}}})
    with pytest.raises(UnknownNameError, match="Unknown environment 'abrec/LLMUsers-Session-v0'"):
        make_env({"env": "abrec/LLMUsers-Session-v0", "world": world_args})
    with pytest.raises(UnknownNameError, match="Unknown generator 'fak'"):
        make_env({"env": "abrec/LLMUsers-Bandit-v0", "world": {**world_args, "generator": "fak"}})
