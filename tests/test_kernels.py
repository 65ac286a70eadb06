"""The numba kernels agree with their numpy references."""

from __future__ import annotations

import numpy as np
import pytest

from abrec.envs import make_linear_bandit, run_bandit
from abrec.policies import Feedback, LinearThompson, LinUCB, _kernels

pytestmark = pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="numba is not installed")


def _state(rng: np.random.Generator, items: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    m = rng.standard_normal((items, d, d))
    a = np.eye(d) + np.einsum("kij,klj->kil", m, m) / d
    a_inv = np.linalg.inv(a)
    return 0.5 * (a_inv + a_inv.transpose(0, 2, 1)), rng.standard_normal((items, d))


@pytest.mark.parametrize("n", [1, 7, 40])
@pytest.mark.parametrize("shared", [True, False])
def test_mean_width(n: int, shared: bool) -> None:
    rng = np.random.default_rng(n)
    a_inv, theta = _state(rng, 12, 5)
    x = rng.standard_normal((n, 5))
    rows = rng.permutation(12)[:6] if shared else rng.integers(0, 12, size=(n, 6))
    ref = _kernels.mean_width_numpy(x, rows, a_inv, theta)
    fast = _kernels.mean_width(x, rows, a_inv, theta, use_numba=True)
    for r, f in zip(ref, fast, strict=True):
        np.testing.assert_allclose(f, r, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("n", [1, 7, 40])
@pytest.mark.parametrize("shared", [True, False])
def test_packed_mean_width_equals_full(n: int, shared: bool) -> None:
    rng = np.random.default_rng(10 + n)
    a_inv, theta = _state(rng, 12, 5)
    packed = _kernels.pack(a_inv)
    np.testing.assert_array_equal(_kernels.unpack(packed, 5), a_inv)
    x = rng.standard_normal((n, 5))
    rows = rng.permutation(12)[:6] if shared else rng.integers(0, 12, size=(n, 6))
    ref = _kernels.mean_width_numpy(x, rows, a_inv, theta)
    for use_numba in (True, False):
        got = _kernels.mean_width_packed(x, rows, packed, theta, use_numba=use_numba)
        for r, g in zip(ref, got, strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


def test_sherman_morrison() -> None:
    rng = np.random.default_rng(0)
    a_inv, _ = _state(rng, 4, 6)
    states = [(_kernels.pack(a_inv), np.zeros((4, 6)), np.zeros((4, 6))) for _ in range(2)]
    rows, x, r = rng.integers(0, 4, 30), rng.standard_normal((30, 6)), rng.random(30)
    _kernels.sherman_morrison(*states[0], rows, x, r, use_numba=True)
    _kernels.sherman_morrison(*states[1], rows, x, r, use_numba=False)
    for fast, ref in zip(states[0], states[1], strict=True):
        np.testing.assert_allclose(fast, ref, rtol=1e-9, atol=1e-12)
    # And both equal the direct ridge solution, theta = A^-1 b.
    for a in range(4):
        xa = x[rows == a]
        direct = np.linalg.inv(np.linalg.inv(a_inv[a]) + xa.T @ xa)
        np.testing.assert_allclose(_kernels.unpack(states[0][0][a], 6), direct, rtol=1e-8, atol=1e-10)
        np.testing.assert_allclose(states[0][2][a], direct @ (xa.T @ r[rows == a]), rtol=1e-8, atol=1e-10)


def test_batch_update_equals_rank_one_updates() -> None:
    rng = np.random.default_rng(5)
    x, items, r = rng.standard_normal((300, 4)), rng.integers(0, 5, 300), rng.random(300)
    for backend in ("numpy", "numba"):
        batch, single = LinUCB(backend=backend, seed=0), LinUCB(backend=backend, seed=0)
        batch.update(Feedback(items, r, x))
        for i in range(300):
            single.update(Feedback(items[i : i + 1], r[i : i + 1], x[i : i + 1]))
        for key in ("a_inv", "b", "theta"):
            np.testing.assert_allclose(batch._state[key], single._state[key], rtol=1e-8, atol=1e-10)


@pytest.mark.parametrize("cls", [LinUCB, LinearThompson])
@pytest.mark.parametrize("batch", [1, 50])
def test_backends_take_the_same_decisions(cls: type[LinUCB], batch: int) -> None:
    bandit = make_linear_bandit(arms=8, dim=6, rounds=600, seed=3)
    kwargs = {"propensity_draws": 50} if cls is LinearThompson else {}
    runs = [run_bandit(cls(backend=b, seed=1, **kwargs), bandit, batch=batch) for b in ("numba", "numpy")]
    assert np.array_equal(runs[0].cumulative_reward, runs[1].cumulative_reward)
