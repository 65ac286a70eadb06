"""Every score-based policy's ``Decision.scores`` equal a plain numpy transcription of its paper's formula.

The references below recompute each model from the raw feedback, observation by observation, with
dense matrix inverses and no shared code with ``abrec.policies`` (no packed matrices, no
Sherman-Morrison, no numba), then score the candidates:

- LinUCB (Li et al. 2010, Algorithm 1): ``A_a = ridge I + sum x x'``, ``b_a = sum r x``,
  ``theta_a = A_a^-1 b_a``; score ``x . theta_a + alpha * sqrt(x' A_a^-1 x)``.
- Linear Thompson sampling (Agrawal & Goyal 2013): the same ridge model; the decision's score is the
  posterior mean ``x . theta_a``, and with two candidates the chosen one's propensity is
  ``P(N(mu_c, v^2 q_c) > N(mu_o, v^2 q_o))``, ``q = x' A^-1 x``.
- Hybrid LinUCB (Li et al. 2010, Algorithm 2, its updates and score line by line).
- LogisticUCB: online Laplace (Newton) updates of a Gaussian posterior ``N(m_a, S_a)`` per item under a
  fixed ``N(0, prior_var I)`` prior; score ``x~ . m_a + alpha * sqrt(x~' S_a x~)``, ``x~ = (x, 1)``.

Every path a policy scores through is covered: both backends, the fused compiled k = 1 LinUCB kernel,
small and large batches (numba or BLAS), shared and per-request candidates with a mask, new items.
The contexts are not unit vectors, so ``x' A^-1 x`` is never 1 for a new item, where ``q`` and
``sqrt(q)`` would agree.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
import pytest

from abrec.policies import Feedback, HybridLinUCB, LinearThompson, LinUCB, LogisticUCB, Policy, registered_policies

FloatArray = npt.NDArray[np.float64]
D, N_ITEMS = 4, 6
ITEMS = np.arange(N_ITEMS)  # items 0..4 get feedback; 5 never does (a new item: the prior)


def _history(seed: int) -> list[Feedback]:
    """Batches of feedback on items 0..4, of sizes below and above the context dimension."""
    rng = np.random.default_rng(seed)
    batches = []
    for size in (1, 3, 40, 2, 120, 1):
        x = rng.normal(0.3, 1.0, (size, D))
        items = rng.integers(0, N_ITEMS - 1, size)
        rewards = (rng.random(size) < 0.3 + 0.4 * (x[:, 0] > 0)).astype(float)
        batches.append(Feedback(items, rewards, x))
    return batches


def _observations(history: list[Feedback]) -> tuple[npt.NDArray[np.int64], FloatArray, FloatArray]:
    items = np.concatenate([f.items for f in history]).astype(np.int64)
    contexts = np.concatenate([f.contexts for f in history if f.contexts is not None])
    return items, contexts, np.concatenate([f.rewards for f in history])


def _ridge(history: list[Feedback], item: int, ridge: float) -> tuple[FloatArray, FloatArray]:
    """``(theta_a, A_a^-1)`` of item ``item``'s ridge regression on all its feedback."""
    items, x, r = _observations(history)
    xa, ra = x[items == item], r[items == item]
    a_inv = np.linalg.inv(ridge * np.eye(D) + xa.T @ xa)
    return a_inv @ (xa.T @ ra), a_inv


def linucb_reference(
    history: list[Feedback], x: FloatArray, rows: FloatArray, alpha: float, ridge: float
) -> FloatArray:
    """Li et al. (2010), Algorithm 1: ``p = x . theta_a + alpha * sqrt(x' A_a^-1 x)`` for every (request, candidate)."""
    rows = np.broadcast_to(rows, (x.shape[0], rows.shape[-1]))
    scores = np.empty(rows.shape)
    for i in range(rows.shape[0]):
        for j in range(rows.shape[1]):
            theta, a_inv = _ridge(history, int(rows[i, j]), ridge)
            scores[i, j] = x[i] @ theta + alpha * math.sqrt(x[i] @ a_inv @ x[i])
    return scores


def _learned(policy: Policy, history: list[Feedback]) -> Policy:
    for feedback in history:
        policy.update(feedback)
    return policy


# ---------------------------------------------------------------------------------------------- LinUCB
# (backend, requests, k): the fused compiled k = 1 kernel (n <= 32), the compiled scores with k = 2, BLAS in
# numpy for a large batch, and the numpy reference backend.
LINUCB_PATHS = [("numba", 5, 1), ("numba", 5, 2), ("auto", 50, 1), ("numpy", 5, 1), ("numpy", 50, 2)]


@pytest.mark.parametrize(("backend", "n", "k"), LINUCB_PATHS)
@pytest.mark.parametrize(("alpha", "ridge"), [(1.0, 1.0), (0.4, 2.5)])
def test_linucb_scores_follow_li_et_al(backend: str, n: int, k: int, alpha: float, ridge: float) -> None:
    history = _history(0)
    policy = _learned(LinUCB(alpha=alpha, ridge=ridge, backend=backend, seed=0), history)
    x = np.random.default_rng(1).normal(0.2, 1.5, (n, D))
    decision = policy.decide(ITEMS, x, k=k)
    expected = linucb_reference(history, x, ITEMS, alpha, ridge)
    np.testing.assert_allclose(decision.scores, expected, rtol=1e-9, atol=1e-12)
    best = np.sort(expected, axis=1)[:, ::-1][:, :k]
    np.testing.assert_allclose(np.take_along_axis(expected, decision.slots, axis=1), best, rtol=1e-12)


@pytest.mark.parametrize("backend", ["numba", "numpy"])
def test_linucb_scores_per_request_candidates_with_a_mask(backend: str) -> None:
    history = _history(2)
    policy = _learned(LinUCB(alpha=0.7, backend=backend, seed=0), history)
    rng = np.random.default_rng(3)
    x = rng.normal(0.0, 1.3, (7, D))
    candidates = np.stack([rng.permutation(N_ITEMS)[:4] for _ in range(7)])
    mask = np.ones((7, 4), dtype=bool)
    mask[[0, 3], [1, 2]] = False
    decision = policy.decide(candidates, x, mask=mask)
    expected = np.where(mask, linucb_reference(history, x, candidates, 0.7, 1.0), np.nan)
    np.testing.assert_allclose(decision.scores, expected, rtol=1e-9, atol=1e-12)


# ------------------------------------------------------------------------------------------ linear TS
@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("n", [5, 50])
def test_linear_thompson_mean_and_width_follow_the_ridge_posterior(backend: str, n: int) -> None:
    history = _history(4)
    v, ridge = 0.6, 1.5
    policy = _learned(LinearThompson(v=v, ridge=ridge, propensity_draws=20_000, backend=backend, seed=0), history)
    x = np.random.default_rng(5).normal(0.2, 1.5, (n, D))
    decision = policy.decide(ITEMS, x)
    mean = linucb_reference(history, x, ITEMS, 0.0, ridge)  # alpha = 0: the posterior mean x . theta_a
    np.testing.assert_allclose(decision.scores, mean, rtol=1e-9, atol=1e-12)
    # Two candidates: the chosen one's propensity is a Gaussian race with scales v * sqrt(x' A^-1 x).
    pair = np.array([1, 5])
    race = policy.decide(pair, x)
    (t1, a1), (t5, a5) = _ridge(history, 1, ridge), _ridge(history, 5, ridge)
    mu = np.stack([x @ t1, x @ t5], axis=1)
    var = v**2 * np.stack([np.einsum("nd,de,ne->n", x, a, x) for a in (a1, a5)], axis=1)
    chosen = race.slots[:, 0]
    other = 1 - chosen
    rows = np.arange(n)
    z = (mu[rows, chosen] - mu[rows, other]) / np.sqrt(var[rows, 0] + var[rows, 1])
    exact = np.array([0.5 * math.erfc(-float(t) / math.sqrt(2.0)) for t in z])
    # Rao-Blackwellised Monte Carlo over 20,000 draws: its SE is below 0.5 / sqrt(20,000) = 0.0035.
    np.testing.assert_allclose(race.propensities[:, 0], exact, atol=4.5 * 0.5 / math.sqrt(20_000))


# ------------------------------------------------------------------------------------------ hybrid
def _z(x: FloatArray, f: FloatArray) -> FloatArray:
    """Shared features of (context, item features): the item's features and every product x_u f_j."""
    return np.concatenate([f, np.kron(x, f)])


def hybrid_reference(
    history: list[tuple[int, FloatArray, FloatArray, float]],
    x: FloatArray,
    candidates: list[int],
    features: FloatArray,
    alpha: float,
    ridge: float,
) -> FloatArray:
    """Li et al. (2010), Algorithm 2, one observation at a time, then its score for every (request, candidate)."""
    p = features.shape[1]
    k = p + D * p
    a0, b0 = ridge * np.eye(k), np.zeros(k)
    a: dict[int, FloatArray] = {}
    bm: dict[int, FloatArray] = {}
    b: dict[int, FloatArray] = {}

    def item(i: int) -> tuple[FloatArray, FloatArray, FloatArray]:
        return a.get(i, ridge * np.eye(D)), bm.get(i, np.zeros((D, k))), b.get(i, np.zeros(D))

    for i, xt, ft, r in history:  # lines 17-22
        zt = _z(xt, ft)
        a_i, bm_i, b_i = item(i)
        a0 = a0 + bm_i.T @ np.linalg.inv(a_i) @ bm_i
        b0 = b0 + bm_i.T @ np.linalg.inv(a_i) @ b_i
        a[i], bm[i], b[i] = a_i + np.outer(xt, xt), bm_i + np.outer(xt, zt), b_i + r * xt
        a0 = a0 + np.outer(zt, zt) - bm[i].T @ np.linalg.inv(a[i]) @ bm[i]
        b0 = b0 + r * zt - bm[i].T @ np.linalg.inv(a[i]) @ b[i]
    a0_inv = np.linalg.inv(a0)
    beta = a0_inv @ b0  # line 4
    scores = np.empty((x.shape[0], len(candidates)))
    for n, xn in enumerate(x):
        for j, c in enumerate(candidates):  # lines 5-13
            a_i, bm_i, b_i = item(c)
            a_inv = np.linalg.inv(a_i)
            theta = a_inv @ (b_i - bm_i @ beta)
            zt = _z(xn, features[j])
            s = (
                zt @ a0_inv @ zt
                - 2.0 * zt @ a0_inv @ bm_i.T @ a_inv @ xn
                + xn @ a_inv @ xn
                + xn @ a_inv @ bm_i @ a0_inv @ bm_i.T @ a_inv @ xn
            )
            scores[n, j] = zt @ beta + xn @ theta + alpha * math.sqrt(s)
    return scores


@pytest.mark.parametrize(("alpha", "ridge"), [(1.0, 1.0), (0.3, 2.0)])
def test_hybrid_linucb_scores_follow_li_et_al(alpha: float, ridge: float) -> None:
    rng = np.random.default_rng(6)
    features = rng.normal(0.0, 0.8, (N_ITEMS, 3))
    policy = HybridLinUCB(alpha=alpha, ridge=ridge, seed=0)
    observations: list[tuple[int, FloatArray, FloatArray, float]] = []
    for size in (1, 2, 30, 60):
        x = rng.normal(0.2, 1.0, (size, D))
        shown = rng.integers(0, N_ITEMS - 1, size)
        r = (rng.random(size) < 0.5 + 0.4 * np.tanh(np.einsum("nd,nd->n", x[:, :3], features[shown]))).astype(float)
        policy.update(Feedback(shown, r, x, item_features=features[shown]))
        observations += [(int(shown[i]), x[i], features[shown[i]], float(r[i])) for i in range(size)]
    x = rng.normal(0.0, 1.4, (5, D))
    decision = policy.decide(ITEMS, x, k=2, item_features=features)
    expected = hybrid_reference(observations, x, list(ITEMS), features, alpha, ridge)
    np.testing.assert_allclose(decision.scores, expected, rtol=1e-8, atol=1e-10)


# ------------------------------------------------------------------------------------------ logistic
def logistic_reference(history: list[Feedback], x: FloatArray, alpha: float, prior_var: float) -> FloatArray:
    """Online Laplace: per observation ``S <- (S^-1 + w x~ x~')^-1``, ``m <- m + (r - p) S x~``; then the score."""
    items, contexts, rewards = _observations(history)
    aug = np.hstack([contexts, np.ones((len(items), 1))])
    mean = {i: np.zeros(D + 1) for i in ITEMS}
    cov = {i: prior_var * np.eye(D + 1) for i in ITEMS}
    for i, xt, r in zip(items, aug, rewards, strict=True):
        p = 1.0 / (1.0 + math.exp(-float(xt @ mean[i])))
        cov[i] = np.linalg.inv(np.linalg.inv(cov[i]) + p * (1.0 - p) * np.outer(xt, xt))
        mean[i] = mean[i] + (r - p) * cov[i] @ xt
    xa = np.hstack([x, np.ones((x.shape[0], 1))])
    return np.stack(
        [[xn @ mean[i] + alpha * math.sqrt(xn @ cov[i] @ xn) for i in ITEMS] for xn in xa],
    )


@pytest.mark.parametrize("backend", ["numba", "numpy"])
@pytest.mark.parametrize("n", [5, 50])
def test_logistic_ucb_scores_follow_the_laplace_posterior(backend: str, n: int) -> None:
    history = _history(7)
    alpha, prior_var = 0.8, 2.0
    policy = LogisticUCB(alpha=alpha, prior_var=prior_var, empirical_bayes=False, backend=backend, seed=0)
    _learned(policy, history)
    x = np.random.default_rng(8).normal(0.2, 1.5, (n, D))
    decision = policy.decide(ITEMS, x, k=2)
    np.testing.assert_allclose(decision.scores, logistic_reference(history, x, alpha, prior_var), rtol=1e-8)


def test_every_contextual_policy_is_checked_here() -> None:
    # The contextual policies are the ones with a model to transcribe; a new one must be added above.
    checked = {"linucb", "lin_ts", "hybrid_linucb", "logistic_ucb"}
    # Agents (abrec.agents, registered once imported) score a session state with a Q-function: tests/agents checks them.
    contextual = {
        name
        for name, cls in registered_policies().items()
        if cls.contextual and cls.__module__.startswith("abrec.policies.")
    }
    assert contextual == checked, contextual ^ checked
