"""LogisticUCB: learns a logistic click model, shares a prior across items, numba == numpy, saves exactly."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from abrec.errors import InputError, ParameterError
from abrec.policies import Feedback, LinUCB, Policy, load_policy, make_policy
from abrec.policies.logistic import LogisticUCB, newton_updates


def _logistic_problem(seed: int, k: int = 6, d: int = 5, t: int = 3000) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contexts, pre-drawn clicks (t, k) and click probabilities of sigmoid(4 x.theta_a - 2)."""
    rng = np.random.default_rng(seed)
    theta = rng.standard_normal((k, d))
    theta /= np.linalg.norm(theta, axis=1, keepdims=True)
    x = rng.standard_normal((t, d))
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    p = 1.0 / (1.0 + np.exp(-(4.0 * x @ theta.T - 2.0)))
    return x, (rng.random((t, k)) < p).astype(np.float64), p


def _online_reward(policy: Policy, x: np.ndarray, clicks: np.ndarray) -> float:
    cands = np.arange(clicks.shape[1])
    total = 0.0
    for t in range(x.shape[0]):
        item = int(policy.decide(cands, x[t : t + 1]).items[0, 0])
        total += clicks[t, item]
        policy.update(Feedback(np.array([item]), np.array([clicks[t, item]]), x[t : t + 1]))
    return total


def test_learns_a_logistic_model_online() -> None:
    ours, theirs, oracle, uniform = [], [], [], []
    for seed in range(4):
        x, clicks, p = _logistic_problem(seed)
        ours.append(_online_reward(LogisticUCB(seed=seed), x, clicks))
        theirs.append(_online_reward(LinUCB(seed=seed), x, clicks))
        oracle.append(clicks[np.arange(x.shape[0]), p.argmax(axis=1)].sum())
        uniform.append(p.mean(axis=1).sum())
    ours_a, oracle_a, uniform_a = np.array(ours), np.array(oracle), np.array(uniform)
    # Most of the gap between uniform and the oracle is closed on every seed ...
    assert ((ours_a - uniform_a) / (oracle_a - uniform_a) > 0.6).all()
    # ... and in total it comes close to LinUCB (it does not beat it on this problem, nor on W1).
    assert ours_a.sum() > 0.9 * sum(theirs)


def test_posterior_recovers_known_coefficients() -> None:
    rng = np.random.default_rng(3)
    d, n = 3, 20_000
    theta = np.array([1.5, -1.0, 0.5, -1.0])  # last = intercept
    x = rng.standard_normal((n, d))
    p = 1.0 / (1.0 + np.exp(-(x @ theta[:d] + theta[d])))
    y = (rng.random(n) < p).astype(np.float64)
    policy = LogisticUCB(empirical_bayes=False, seed=0)
    for start in range(0, n, 1000):
        sl = slice(start, start + 1000)
        policy.update(Feedback(np.zeros(1000, dtype=np.int64), y[sl], x[sl]))
    mean, cov = policy._state["mean"][0], policy._state["cov"][0]
    z = (mean - theta) / np.sqrt(np.diag(cov))
    assert np.abs(z).max() < 4.0, z


def test_empirical_bayes_learns_the_shared_intercept_and_warm_starts_new_items() -> None:
    x, clicks, _ = _logistic_problem(7, k=8, d=4, t=4000)
    rng = np.random.default_rng(0)
    items = rng.integers(0, 8, x.shape[0])
    policy = LogisticUCB(learn_variance=True, seed=0)
    for start in range(0, x.shape[0], 500):
        sl = slice(start, start + 500)
        policy.update(Feedback(items[sl], clicks[sl][np.arange(500), items[sl]], x[sl]))
    assert policy._prior_mean is not None and policy._prior_var is not None
    assert abs(policy._prior_mean[-1] - (-2.0)) < 0.5  # the shared intercept of the problem
    assert policy._prior_var[-1] < 0.2 < policy._prior_var[0]  # intercepts agree across items, slopes do not
    policy.decide(np.array([99]), x[:1])  # a cold item starts from the learned population prior
    row = int(policy._items.lookup(np.array([99]))[0])
    np.testing.assert_allclose(policy._state["mean"][row], policy._prior_mean)
    np.testing.assert_allclose(policy._state["cov"][row], np.diag(policy._prior_var))


def test_numba_and_numpy_updates_agree() -> None:
    rng = np.random.default_rng(1)
    k, d, n = 4, 6, 300
    base = {
        "mean": rng.standard_normal((k, d)) * 0.3,
        "cov": np.stack([np.eye(d)] * k),
        "hess": np.zeros((k, d, d)),
        "eta": np.zeros((k, d)),
        "count": np.zeros(k),
    }
    rows = rng.integers(0, k, n)
    x = rng.standard_normal((n, d))
    r = (rng.random(n) < 0.3).astype(np.float64)
    a = {key: v.copy() for key, v in base.items()}
    b = {key: v.copy() for key, v in base.items()}
    newton_updates(a["mean"], a["cov"], a["hess"], a["eta"], a["count"], rows, x, r, use_numba=True)
    newton_updates(b["mean"], b["cov"], b["hess"], b["eta"], b["count"], rows, x, r, use_numba=False)
    for key in base:
        np.testing.assert_allclose(a[key], b[key], rtol=1e-9, atol=1e-12)


def test_numba_and_numpy_policies_decide_alike() -> None:
    x, clicks, _ = _logistic_problem(2, t=400)
    fast, ref = LogisticUCB(backend="numba", seed=5), LogisticUCB(backend="numpy", seed=5)
    cands = np.arange(clicks.shape[1])
    for t in range(0, 400, 20):
        xs = x[t : t + 20]
        d1, d2 = fast.decide(cands, xs, k=2), ref.decide(cands, xs, k=2)
        np.testing.assert_array_equal(d1.items, d2.items)
        np.testing.assert_allclose(d1.scores, d2.scores, rtol=1e-9, atol=1e-12)
        r = clicks[t : t + 20][np.arange(20)[:, None], d1.items]
        fast.update(d1.feedback(r, xs))
        ref.update(d2.feedback(r, xs))


def test_save_load_round_trip(tmp_path: Path) -> None:
    x, clicks, _ = _logistic_problem(4, t=300)
    ids = np.array([f"item-{i}" for i in range(clicks.shape[1])])
    policy = make_policy("logistic_ucb", alpha=0.7, seed=11)
    for t in range(0, 250, 10):
        dec = policy.decide(ids, x[t : t + 10])
        cols = np.searchsorted(ids, dec.items[:, 0])
        policy.update(dec.feedback(clicks[t : t + 10][np.arange(10), cols], x[t : t + 10]))
    path = str(tmp_path / "logistic.npz")
    policy.save(path)
    loaded = load_policy(path)
    assert isinstance(loaded, LogisticUCB) and loaded.get_params() == policy.get_params()
    assert policy._prior_mean is not None and loaded._prior_mean is not None
    np.testing.assert_array_equal(loaded._prior_mean, policy._prior_mean)
    for t in range(250, 300, 10):
        mask = np.random.default_rng(t).random((10, ids.shape[0])) < 0.8
        mask[:, :2] = True
        cands = np.broadcast_to(ids, mask.shape)
        a = policy.decide(cands, x[t : t + 10], k=2, mask=mask)
        b = loaded.decide(cands, x[t : t + 10], k=2, mask=mask)
        np.testing.assert_array_equal(a.items, b.items)
        np.testing.assert_array_equal(a.propensities, b.propensities)
        fb = a.feedback(np.ones((10, 2)), x[t : t + 10])
        policy.update(fb)
        loaded.update(fb)
    for key, value in policy._state.items():
        np.testing.assert_array_equal(loaded._state[key][: loaded.n_items], value[: policy.n_items])


def test_validation() -> None:
    with pytest.raises(ParameterError, match="'alpha' parameter of LogisticUCB"):
        LogisticUCB(alpha=-1.0)
    with pytest.raises(ParameterError, match="'prior_var'"):
        LogisticUCB(prior_var=0.0)
    with pytest.raises(ParameterError, match="'backend'"):
        LogisticUCB(backend="gpu")
    policy = LogisticUCB(seed=0)
    with pytest.raises(InputError, match=r"rewards in \[0, 1\]"):
        policy.update(Feedback(np.array([1]), np.array([2.0]), np.ones((1, 3))))
