"""MovieLensWorld on MovieLens 100K: calibration, a meaningful factorisation, cold start, users.

MovieLens is never in the repository: the tests read it from ``$ABREC_SHARED/data/ml-100k`` (or
``<repo>/../shared/data/ml-100k``) and are skipped when it is not there.
"""

from __future__ import annotations

import math
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy.stats import rankdata

from _shared import shared_path
from abrec.data import MovieLens, load_movielens
from abrec.envs._factorize import implicit_svd, score_moments
from abrec.envs.movielens import MIN_COLD_RATINGS, MovieLensWorld, gini, top_share
from abrec.envs.world import Users
from abrec.errors import ParameterError

REPO = Path(__file__).resolve().parents[2]


def _folder() -> Path:
    return shared_path("data", "ml-100k")


@pytest.fixture(scope="module")
def ml() -> MovieLens:
    return load_movielens(_folder())


@pytest.fixture(scope="module")
def world(ml: MovieLens) -> MovieLensWorld:
    return MovieLensWorld(ml, seed=0)


def _auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """Mann-Whitney AUC: P(score of a positive > score of a negative), ties counting one half."""
    ranks = rankdata(np.concatenate([positive, negative]))
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


# --- calibration -----------------------------------------------------------------------------------


def test_default_target_is_the_like_density(ml: MovieLens, world: MovieLensWorld) -> None:
    r = ml.ratings
    likes = int((r["rating"] >= 4).sum())  # ml-100k: no duplicate (user, movie) pair
    density = likes / (r["user_id"].nunique() * len(ml.catalog))
    assert world.calibration.target_click_rate == pytest.approx(density, rel=1e-12)
    assert density == pytest.approx(0.034912, abs=1e-6)  # 55,375 likes / (943 * 1,682)
    assert world.calibration.click_rate == pytest.approx(density, rel=1e-9)


def test_mean_attraction_over_random_pairs_matches_the_target(world: MovieLensWorld) -> None:
    rng = np.random.default_rng(11)
    n, m = 4000, 50
    users = world.sample_users(n, rng)
    p = world.attraction(users, rng.integers(0, world.n_items, (n, m)))
    target = world.calibration.target_click_rate
    # Users are drawn with replacement, so the estimate's error is that of n * m (nearly) independent
    # pairs; the binomial standard error bounds the spread of a mean of probabilities.
    se = math.sqrt(target * (1 - target) / (n * m))
    assert abs(p.mean() - target) < 4 * se
    clicks = rng.random(p.shape) < p
    assert abs(clicks.mean() - target) < 4 * se
    assert np.all((p >= 0) & (p <= 1))


def test_popularity_skew_matches_the_data(ml: MovieLens, world: MovieLensWorld) -> None:
    likes = ml.ratings[ml.ratings["rating"] >= 4].groupby("item_id").size()
    counts = likes.reindex(world.item_ids, fill_value=0).to_numpy()
    c = world.calibration
    assert c.data_gini == pytest.approx(gini(counts), abs=1e-12)
    assert c.data_gini == pytest.approx(0.7115, abs=1e-4)
    assert c.gini == pytest.approx(c.data_gini, abs=1e-4)  # fitted
    assert c.top_share == pytest.approx(c.data_top_share, abs=0.06)  # not fitted: measured 0.562 vs 0.520
    # Simulated clicks when every user is shown every movie once: the realised skew (with its
    # sampling noise, as in the data) is within 0.02 of the data's.
    users = Users(world.user_contexts, world.user_factors)
    p = world.attraction(users, np.tile(np.arange(world.n_items), (world.n_users, 1)))
    clicks = (np.random.default_rng(5).random(p.shape) < p).sum(axis=0)
    assert gini(clicks) == pytest.approx(c.data_gini, abs=0.02)
    assert top_share(clicks) == pytest.approx(c.data_top_share, abs=0.07)


def test_an_explicit_target_is_met(ml: MovieLens) -> None:
    w = MovieLensWorld(ml, target_click_rate=0.1, affinity_scale=0.0, cold_share=0.0)
    assert w.calibration.click_rate == pytest.approx(0.1, rel=1e-9)
    assert w.calibration.gini == pytest.approx(w.calibration.data_gini, abs=1e-4)
    assert not (w.arrival > 0).any()


# --- the factorisation -----------------------------------------------------------------------------


def test_factorisation_ranks_held_out_ratings_better_than_chance(ml: MovieLens) -> None:
    r = ml.ratings
    user_ids = np.unique(r["user_id"].to_numpy())
    users = np.searchsorted(user_ids, r["user_id"].to_numpy()).astype(np.int64)
    items = pd.Index(ml.catalog.ids).get_indexer(r["item_id"].to_numpy()).astype(np.int64)
    liked = r["rating"].to_numpy() >= 4
    shape = (len(user_ids), len(ml.catalog))
    rng = np.random.default_rng(0)
    held = rng.random(len(r)) < 0.1
    fit = ~held & liked
    U, V = implicit_svd(users[fit], items[fit], shape, rank=16)

    def score(u: np.ndarray, i: np.ndarray) -> np.ndarray:
        return np.einsum("nk,nk->n", U[u], V[i])

    pos, low = held & liked, held & ~liked
    rated = np.zeros(shape, dtype=bool)
    rated[users, items] = True
    ru, ri = rng.integers(0, shape[0], 100_000), rng.integers(0, shape[1], 100_000)
    unrated = ~rated[ru, ri]
    auc_low = _auc(score(users[pos], items[pos]), score(users[low], items[low]))
    auc_unrated = _auc(score(users[pos], items[pos]), score(ru[unrated], ri[unrated]))
    # Measured: 0.723 (liked vs rated < 4) and 0.93 (liked vs unrated); chance is 0.5.
    assert auc_low > 0.68
    assert auc_unrated > 0.88


def test_factors_are_unit_scaled(world: MovieLensWorld) -> None:
    assert world.item_vectors.shape == (1682, 16) and world.user_factors.shape == (943, 16)
    assert score_moments(world.user_factors, world.item_vectors)[1] == pytest.approx(1.0, rel=1e-9)


# --- reproducibility, cold start -------------------------------------------------------------------


def test_same_seed_same_world(ml: MovieLens, world: MovieLensWorld) -> None:
    again = MovieLensWorld(ml, seed=0)
    np.testing.assert_array_equal(again.arrival, world.arrival)
    np.testing.assert_array_equal(again.user_contexts, world.user_contexts)
    assert again.calibration == world.calibration
    u1, u2 = world.sample_users(50, np.random.default_rng(3)), again.sample_users(50, np.random.default_rng(3))
    slates = np.random.default_rng(4).integers(0, world.n_items, (50, 5))
    np.testing.assert_array_equal(world.attraction(u1, slates), again.attraction(u2, slates))
    other = MovieLensWorld(ml, seed=1)
    assert not np.array_equal(other.arrival, world.arrival)
    np.testing.assert_array_equal(other.user_factors, world.user_factors)  # the seed does not touch the fit
    np.testing.assert_array_equal(other.item_vectors, world.item_vectors)


def test_cold_items_arrive_later_and_are_not_available_before(ml: MovieLens, world: MovieLensWorld) -> None:
    cold = np.flatnonzero(world.arrival > 0)
    assert len(cold) == round(0.2 * 1682)
    assert world.arrival.min() == 0 and world.arrival.max() == world.horizon
    n_ratings = ml.ratings.groupby("item_id").size().reindex(world.item_ids, fill_value=0).to_numpy()
    assert (n_ratings[cold] >= MIN_COLD_RATINGS).all()
    # Evenly spread over (0, horizon]: each tenth of the horizon gets about a tenth of the cold movies.
    per_tenth = np.bincount((world.arrival[cold] - 1) * 10 // world.horizon, minlength=10)
    assert per_tenth.min() >= len(cold) // 10 - 1
    for step in (0, 1, 37, world.horizon - 1, world.horizon):
        available = world.available(step)
        np.testing.assert_array_equal(available, np.flatnonzero(world.arrival <= step))
        assert not np.isin(cold[world.arrival[cold] > step], available).any()
    assert len(world.available(0)) == world.n_items - len(cold)
    assert len(world.available(world.horizon)) == world.n_items


def test_cold_share_beyond_the_eligible_movies_is_refused(ml: MovieLens) -> None:
    with pytest.raises(ParameterError, match=r"'cold_share' parameter of MovieLensWorld must be at most 0\.558"):
        MovieLensWorld(ml, cold_share=0.7)


# --- users, items ----------------------------------------------------------------------------------


def test_sampled_users_are_real_users(world: MovieLensWorld) -> None:
    users = world.sample_users(300, np.random.default_rng(1))
    assert users.taste.shape == (300, 16) and users.context.shape == (300, world.context_dim) == (300, 16)
    assert np.isfinite(users.context).all() and np.isfinite(users.taste).all()
    # Each taste is a row of U, and the context is that same user's context.
    match = (users.taste[:, None, :] == world.user_factors[None, :, :]).all(axis=2)
    assert (match.sum(axis=1) == 1).all()
    rows = match.argmax(axis=1)
    np.testing.assert_array_equal(users.context, world.user_contexts[rows])


def test_context_is_the_history_profile(ml: MovieLens, world: MovieLensWorld) -> None:
    row = 10
    uid = int(world.user_ids[row])
    r = ml.ratings
    mine = r[(r["user_id"] == uid) & (r["rating"] >= 4)].copy()
    mine["row"] = pd.Index(world.item_ids).get_indexer(mine["item_id"])
    mine = mine[world.arrival[mine["row"].to_numpy()] == 0].sort_values("timestamp", kind="stable")
    first_half = mine["row"].to_numpy()[: math.ceil(len(mine) / 2)]
    expected = world.item_vectors[first_half].mean(axis=0)
    np.testing.assert_allclose(world.user_contexts[row], expected, rtol=1e-10, atol=1e-12)


def test_context_dim_projects_the_profile(ml: MovieLens) -> None:
    w = MovieLensWorld(ml, context_dim=8, seed=2)
    users = w.sample_users(20, np.random.default_rng(0))
    assert w.context_dim == 8 and users.context.shape == (20, 8) and np.isfinite(users.context).all()


def test_items_prices_purchases_and_oracle(ml: MovieLens, world: MovieLensWorld) -> None:
    np.testing.assert_array_equal(world.item_ids, ml.catalog.ids)
    assert world.item_texts() == ml.catalog.texts()
    assert world.item_texts()[0] == "Toy Story (1995). Genres: Animation, Children's, Comedy."
    assert (world.price == 1.0).all() and world.n_positions == 3
    np.testing.assert_allclose(world.examination, [1.0, 2**-0.8, 3**-0.8])
    rng = np.random.default_rng(2)
    users = world.sample_users(200, rng)
    candidates = np.stack([rng.choice(world.available(0), 30, replace=False) for _ in range(200)])
    buy = world.purchase(users, candidates)
    assert np.all((buy >= 0) & (buy <= 1))
    best = world.best_slates(users, candidates, 3)
    assert (world.expected_clicks(users, best) >= world.expected_clicks(users, candidates[:, :3]) - 1e-12).all()
    assert (world.expected_revenue(users, best) >= world.expected_revenue(users, candidates[:, :3]) - 1e-12).all()


def test_loads_from_a_path_and_does_not_mutate_its_input(ml: MovieLens) -> None:
    before = ml.ratings.copy()
    w = MovieLensWorld(str(_folder()), rank=4, cold_share=0.05, horizon=10)
    pd.testing.assert_frame_equal(ml.ratings, before)
    assert w.n_items == 1682 and w.n_users == 943 and w.arrival.max() == 10


def test_bad_parameters_are_refused(ml: MovieLens) -> None:
    with pytest.raises(ParameterError, match=r"The 'rank' parameter of MovieLensWorld must be an int in \[1, inf\)"):
        MovieLensWorld(ml, rank=0)
    with pytest.raises(ParameterError, match=r"must be below min\(n_users, n_items\) = 943"):
        MovieLensWorld(ml, rank=943)
    with pytest.raises(ParameterError, match="'target_click_rate'"):
        MovieLensWorld(ml, target_click_rate=1.0)
    with pytest.raises(ParameterError, match="'affinity_scale'"):
        MovieLensWorld(ml, affinity_scale=-1.0)


def test_attraction_is_fast(world: MovieLensWorld) -> None:
    rng = np.random.default_rng(0)
    users = world.sample_users(1000, rng)
    items = rng.integers(0, world.n_items, (1000, 50))
    world.attraction(users, items)
    times = []
    for _ in range(20):
        start = time.perf_counter()
        world.attraction(users, items)
        times.append(time.perf_counter() - start)
    assert float(np.median(times)) < 0.05  # measured ~1.3 ms; a loop over users would take far longer
