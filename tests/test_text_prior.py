"""TextPriorThompson: feature-based Beta priors for cold-start items."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from abrec.errors import InputError, ParameterError
from abrec.policies import BernoulliThompson, Feedback, Policy, TextPriorThompson, make_policy

FloatArray = npt.NDArray[np.float64]

P = 4  # informative feature dimensions (plus a constant column)


def _problem(seed: int, n_items: int) -> tuple[FloatArray, FloatArray]:
    """Item features (with a constant column) and true click rates sigmoid(w . f) for a known w."""
    rng = np.random.default_rng(seed)
    f = np.hstack([rng.normal(size=(n_items, P)), np.ones((n_items, 1))])
    w = np.array([0.8, -0.6, 0.5, 0.4, -2.0])
    return f, 1.0 / (1.0 + np.exp(-(f @ w)))


def _spearman(a: FloatArray, b: FloatArray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def test_registered_and_validated() -> None:
    assert isinstance(make_policy("text_prior_ts", seed=0), TextPriorThompson)
    for bad in ({"prior_strength": 0.0}, {"ridge": -1.0}, {"propensity_draws": 0}):
        with pytest.raises(ParameterError):
            TextPriorThompson(**bad)


def test_needs_features_and_clicks() -> None:
    p = TextPriorThompson(seed=0)
    with pytest.raises(InputError):
        p.decide(np.arange(3))
    with pytest.raises(InputError):
        p.update(Feedback(items=np.array([0]), rewards=np.array([2.0]), item_features=np.ones((1, 2))))


def test_ranks_unseen_items_by_true_rate() -> None:
    correlations = []
    for seed in range(5):
        rng = np.random.default_rng(100 + seed)
        f, rate = _problem(seed, 200)
        warm, cold = np.arange(100), np.arange(100, 200)
        policy = TextPriorThompson(propensity_draws=10, seed=seed)
        for _ in range(20):  # 20 impressions of every warm item
            policy.update(
                Feedback(items=warm, rewards=(rng.random(100) < rate[warm]).astype(float), item_features=f[warm])
            )
        scores = policy.decide(cold, item_features=f[cold]).scores[0]
        correlations.append(_spearman(scores, rate[cold]))
    # Chance is 0 (sd about 0.1 for 100 items); observed about 0.97-0.99.
    assert min(correlations) > 0.9, correlations


def _cold_click_rate(policy: Policy, seed: int) -> float:
    """Online: each step 10 old and 10 brand-new candidates, 20 users, slates of 3; click rate on new items."""
    rng = np.random.default_rng(1000 + seed)
    steps, n_old, n_new = 30, 10, 10
    f, rate = _problem(seed, 100 + steps * n_new)
    clicks = shown = 0
    for t in range(steps):
        new = 100 + t * n_new + np.arange(n_new)
        cands = np.concatenate([rng.choice(100, n_old, replace=False), new])
        feats = f[cands] if policy.uses_item_features else None
        decision = policy.decide(np.tile(cands, (20, 1)), k=3, item_features=feats)
        items = decision.items.ravel().astype(np.int64)
        rewards = (rng.random(items.shape[0]) < rate[items]).astype(float)
        policy.update(Feedback(items=items, rewards=rewards, item_features=f[items] if feats is not None else None))
        is_new = items >= 100
        if t >= 5:
            clicks += int(rewards[is_new].sum())
            shown += int(is_new.sum())
    return clicks / max(shown, 1)


def test_beats_context_free_thompson_on_new_items() -> None:
    seeds = range(6)
    ours = np.array([_cold_click_rate(TextPriorThompson(propensity_draws=10, seed=s), s) for s in seeds])
    base = np.array([_cold_click_rate(BernoulliThompson(propensity_draws=10, seed=s), s) for s in seeds])
    diff = ours - base
    stderr = diff.std(ddof=1) / np.sqrt(len(diff))
    assert diff.mean() > 5 * stderr and diff.mean() > 0.1, (ours, base)


def test_save_load_round_trip(tmp_path: Path) -> None:
    f, rate = _problem(0, 30)
    rng = np.random.default_rng(0)
    policy = TextPriorThompson(prior_strength=5.0, seed=0)
    items = np.arange(20)
    policy.update(Feedback(items=items, rewards=(rng.random(20) < rate[items]).astype(float), item_features=f[items]))
    path = str(tmp_path / "p.npz")
    policy.save(path)
    loaded = TextPriorThompson.load(path)
    assert isinstance(loaded, TextPriorThompson)
    assert loaded.get_params() == policy.get_params()
    cands = np.arange(30)
    np.testing.assert_allclose(
        loaded.decide(cands, item_features=f).scores, policy.decide(cands, item_features=f).scores
    )
