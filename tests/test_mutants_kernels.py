"""Kernels against independent numpy transcriptions: backend checks, packed order, dispatch, ties.

Written to kill the mutmut survivors of ``policies/_kernels.py``: each test checks behaviour against a
plain transcription of the formula (LinUCB ``x . theta + alpha sqrt(x' A^-1 x)``, the Sherman-Morrison
update against ``np.linalg.inv``, the packed order against ``np.triu_indices``, top-1 with propensity
``1 / ties``), and, where a dispatcher chooses numba or numpy, which backend it chose.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest

from abrec.errors import ParameterError
from abrec.policies import _kernels

needs_numba = pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="numba is not installed")


def _state(rng: np.random.Generator, items: int, d: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Items' A (identity + random Gram), A^-1 and theta."""
    m = rng.standard_normal((items, d, d))
    a = np.eye(d) + np.einsum("kij,klj->kil", m, m) / d
    a_inv = np.linalg.inv(a)
    return a, 0.5 * (a_inv + a_inv.transpose(0, 2, 1)), rng.standard_normal((items, d))


def _reference(x: np.ndarray, rows: np.ndarray, a_inv: np.ndarray, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean x . theta and squared width x' A^-1 x, one (request, candidate) at a time."""
    full_rows = np.broadcast_to(rows, (x.shape[0], rows.shape[-1]))
    mean = np.empty(full_rows.shape)
    q = np.empty(full_rows.shape)
    for i in range(x.shape[0]):
        for j in range(full_rows.shape[1]):
            a = full_rows[i, j]
            mean[i, j] = x[i] @ theta[a]
            q[i, j] = max(x[i] @ a_inv[a] @ x[i], 0.0)
    return mean, q


def _spy(monkeypatch: pytest.MonkeyPatch, name: str) -> list[tuple[Any, ...]]:
    """Record the calls of the module function ``name`` (still running it)."""
    calls: list[tuple[Any, ...]] = []
    real: Callable[..., Any] = getattr(_kernels, name)

    def spy(*args: Any) -> Any:
        calls.append(args)
        return real(*args)

    monkeypatch.setattr(_kernels, name, spy)
    return calls


# ---------------------------------------------------------------------------- check_backend
def test_check_backend_names_the_owner_in_its_error() -> None:
    with pytest.raises(ParameterError, match=r"'backend' parameter of LinUCB must be a str among"):
        _kernels.check_backend("LinUCB", "bogus")
    for backend in _kernels.BACKENDS:
        _kernels.check_backend("LinUCB", backend)


def test_check_backend_without_numba(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_kernels, "HAVE_NUMBA", False)
    with pytest.raises(ParameterError, match=r"backend='numba' needs the numba package"):
        _kernels.check_backend("LinUCB", "numba")
    _kernels.check_backend("LinUCB", "numpy")  # numpy and auto need no numba
    _kernels.check_backend("LinUCB", "auto")


# ---------------------------------------------------------------------------- packed order
@pytest.mark.parametrize("d", [1, 2, 5])
def test_triu_is_numpys_upper_triangle_row_by_row(monkeypatch: pytest.MonkeyPatch, d: int) -> None:
    monkeypatch.setattr(_kernels, "_TRIU", {})  # an empty cache: the indices are computed here
    iu, ju = _kernels.triu(d)
    ref_i, ref_j = np.triu_indices(d)
    assert iu.dtype == np.int64 and ju.dtype == np.int64
    np.testing.assert_array_equal(iu, ref_i)
    np.testing.assert_array_equal(ju, ref_j)
    assert iu.shape == (_kernels.packed_dim(d),)
    again = _kernels.triu(d)
    assert again[0] is iu and again[1] is ju  # cached


def test_pack_batch_of_matrices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_kernels, "_TRIU", {})
    rng = np.random.default_rng(1)
    m = rng.standard_normal((2, 3, 4, 4))  # batch dims differ from d = 4
    full = m + m.transpose(0, 1, 3, 2)
    packed = _kernels.pack(full)
    assert packed.shape == (2, 3, 10)
    iu, ju = np.triu_indices(4)
    for a in range(2):
        for b in range(3):
            np.testing.assert_array_equal(packed[a, b], full[a, b][iu, ju])
    np.testing.assert_array_equal(_kernels.unpack(packed, 4), full)


# ---------------------------------------------------------------------------- mean and width
@pytest.mark.parametrize("use_numba", [False, True])
@pytest.mark.parametrize("shared", [True, False])
def test_mean_width_packed_matches_reference(use_numba: bool, shared: bool) -> None:
    rng = np.random.default_rng(2)
    _, a_inv, theta = _state(rng, 9, 4)
    x = rng.standard_normal((5, 4))
    rows = rng.permutation(9)[:4] if shared else rng.integers(0, 9, size=(5, 4))
    ref = _reference(x, rows, a_inv, theta)
    for got in (
        _kernels.mean_width(x, rows, a_inv, theta, use_numba=use_numba),
        _kernels.mean_width_packed(x, rows, _kernels.pack(a_inv), theta, use_numba=use_numba),
        _kernels.mean_width_numpy(x, rows, a_inv, theta),
        _kernels.mean_width_packed_numpy(x, rows, _kernels.pack(a_inv), theta),
    ):
        for r, g in zip(ref, got, strict=True):
            assert g.shape == r.shape
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


@contextlib.contextmanager
def _recording(log: list[str]) -> Iterator[None]:
    log.append("single")
    yield


def _shared_case(rng: np.random.Generator, n: int, width: int, m: int) -> tuple[np.ndarray, ...]:
    x = rng.standard_normal((n, 3))
    weights = rng.standard_normal((n, width))
    packed = rng.standard_normal((m + 2, width))
    theta = rng.standard_normal((m + 2, 3))
    rows = rng.permutation(m + 2)[:m]
    return x, rows, packed, theta, weights


@pytest.mark.parametrize(
    ("n", "width", "m", "single"),
    [
        (1 << 10, 1 << 10, 1 << 7, True),  # exactly _ONE_THREAD_MACS: still one thread
        (1 << 10, 1 << 10, (1 << 7) + 1, False),
        (1000, 528, 256, False),  # 1000 requests, d = 32, 256 items: over the limit
        (40, 15, 6, True),
    ],
)
def test_shared_product_threads_and_values(
    monkeypatch: pytest.MonkeyPatch, n: int, width: int, m: int, single: bool
) -> None:
    log: list[str] = []
    monkeypatch.setattr(_kernels, "single_blas", lambda: _recording(log))
    rng = np.random.default_rng(n + m)
    x, rows, packed, theta, weights = _shared_case(rng, n, width, m)
    mean, q = _kernels._mean_width_shared(x, rows, packed, theta, weights)
    assert log == (["single"] if single else [])
    check = rng.choice(n, size=min(n, 5), replace=False)
    for i in check:
        for j in range(0, m, max(1, m // 7)):
            a = rows[j]
            np.testing.assert_allclose(mean[i, j], x[i] @ theta[a], rtol=1e-9, atol=1e-9)
            np.testing.assert_allclose(q[i, j], max(weights[i] @ packed[a], 0.0), rtol=1e-9, atol=1e-9)
    assert mean.shape == q.shape == (n, m)
    assert q.min() >= 0.0


@needs_numba
@pytest.mark.parametrize(
    ("n", "shared", "compiled"),
    [(1, True, True), (32, True, True), (33, True, False), (33, False, True), (2, False, True)],
)
def test_mean_width_dispatch(monkeypatch: pytest.MonkeyPatch, n: int, shared: bool, compiled: bool) -> None:
    rng = np.random.default_rng(3 + n)
    _, a_inv, theta = _state(rng, 7, 4)  # d = 4 <= 32: the threshold is on requests, not features
    x = rng.standard_normal((n, 4))
    rows = rng.permutation(7)[:5] if shared else rng.integers(0, 7, size=(n, 5))
    ref = _reference(x, rows, a_inv, theta)
    full_calls = _spy(monkeypatch, "_mean_width_nb")
    packed_calls = _spy(monkeypatch, "_mean_width_packed_nb")
    weight_calls = _spy(monkeypatch, "_packed_weights_nb")
    for got in (
        _kernels.mean_width(x, rows, a_inv, theta, use_numba=False),
        _kernels.mean_width_packed(x, rows, _kernels.pack(a_inv), theta, use_numba=False),
    ):
        for r, g in zip(ref, got, strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
    assert not full_calls and not packed_calls and not weight_calls  # use_numba=False: numpy only
    for got in (
        _kernels.mean_width(x, rows, a_inv, theta, use_numba=True),
        _kernels.mean_width_packed(x, rows, _kernels.pack(a_inv), theta, use_numba=True),
    ):
        for r, g in zip(ref, got, strict=True):
            np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)
    assert len(full_calls) == len(packed_calls) == (1 if compiled else 0)
    assert len(weight_calls) == (0 if compiled else 1)  # large shared batches: BLAS on compiled weights
    for call in full_calls + packed_calls:
        assert call[1].shape == (1 if shared else n, 5)


# ---------------------------------------------------------------------------- Sherman-Morrison
def _direct(a: np.ndarray, rows: np.ndarray, x: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, ...]:
    """A^-1, b and theta after adding every x x' to its item's A: by np.linalg.inv."""
    a = a.copy()
    b = np.zeros((a.shape[0], a.shape[1]))
    for i, row in enumerate(rows):
        a[row] += np.outer(x[i], x[i])
        b[row] += r[i] * x[i]
    a_inv = np.linalg.inv(a)
    return a_inv, b, np.einsum("kij,kj->ki", a_inv, b)


@pytest.mark.parametrize("use_numba", [False, True])
def test_sherman_morrison_backend_choice(monkeypatch: pytest.MonkeyPatch, use_numba: bool) -> None:
    rng = np.random.default_rng(4)
    a, a_inv, _ = _state(rng, 3, 4)
    packed, b, theta = _kernels.pack(a_inv), np.zeros((3, 4)), np.zeros((3, 4))
    rows, x, r = rng.integers(0, 3, 12), rng.standard_normal((12, 4)), rng.random(12)
    calls = _spy(monkeypatch, "_sherman_morrison_nb") if _kernels.HAVE_NUMBA else []
    _kernels.sherman_morrison(packed, b, theta, rows, x, r, use_numba=use_numba)
    assert len(calls) == (1 if use_numba and _kernels.HAVE_NUMBA else 0)
    ref_inv, ref_b, ref_theta = _direct(a, rows, x, r)
    np.testing.assert_allclose(_kernels.unpack(packed, 4), ref_inv, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b, ref_b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(theta, ref_theta, rtol=1e-8, atol=1e-10)


@needs_numba
@pytest.mark.parametrize("size", [1, 3])
def test_sherman_morrison_ids_updates_through_the_table(size: int) -> None:
    rng = np.random.default_rng(5 + size)
    a, a_inv, _ = _state(rng, 2, 3)
    packed, b, theta = _kernels.pack(a_inv), np.zeros((2, 3)), np.zeros((2, 3))
    table = np.array([1, -1, 0][:size], dtype=np.int64)  # id 0 -> row 1 (id 2 -> row 0)
    ids = np.array([0, 0, 2][: 2 if size == 1 else 3], dtype=np.int64)
    x, r = rng.standard_normal((ids.shape[0], 3)), rng.random(ids.shape[0])
    assert _kernels.sherman_morrison_ids(packed, b, theta, table, ids, x, r) is True
    ref_inv, ref_b, ref_theta = _direct(a, table[ids], x, r)
    np.testing.assert_allclose(_kernels.unpack(packed, 3), ref_inv, rtol=1e-8, atol=1e-10)
    np.testing.assert_allclose(b, ref_b, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(theta, ref_theta, rtol=1e-8, atol=1e-10)


@needs_numba
def test_sherman_morrison_ids_rejects_ids_without_rows() -> None:
    rng = np.random.default_rng(6)
    _, a_inv, _ = _state(rng, 2, 3)
    packed, b, theta = _kernels.pack(a_inv), np.zeros((2, 3)), np.zeros((2, 3))
    before = (packed.copy(), b.copy(), theta.copy())
    x, r = rng.standard_normal((1, 3)), np.ones(1)
    for table, ids in [
        (np.empty(0, dtype=np.int64), np.array([0])),  # empty table: no id has a row (not "ids are rows")
        (np.array([0, -1]), np.array([1])),
        (np.array([0, 1]), np.array([2])),
    ]:
        assert _kernels.sherman_morrison_ids(packed, b, theta, table, ids.astype(np.int64), x, r) is False
    for now, then in zip((packed, b, theta), before, strict=True):
        np.testing.assert_array_equal(now, then)


# ---------------------------------------------------------------------------- top-1
def _top1_reference(scores: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    slots = np.empty((scores.shape[0], 1), dtype=np.int64)
    props = np.empty((scores.shape[0], 1))
    for i, row in enumerate(scores):
        tied = np.flatnonzero(row == row.max())
        slots[i, 0] = tied[min(int(np.floor(u[i] * len(tied))), len(tied) - 1)]
        props[i, 0] = 1.0 / len(tied)
    return slots, props


@pytest.mark.parametrize("have_numba", [False, True])
def test_top1_ties_and_propensities(monkeypatch: pytest.MonkeyPatch, have_numba: bool) -> None:
    if have_numba and not _kernels.HAVE_NUMBA:
        pytest.skip("numba is not installed")
    monkeypatch.setattr(_kernels, "HAVE_NUMBA", have_numba)
    scores = np.array(
        [
            [0.0, 2.0, 1.0, 2.0, 2.0],  # three tied best: columns 1, 3, 4
            [5.0, 1.0, 1.0, 1.0, 1.0],
            [1.0, 1.0, 1.0, 1.0, 1.0],
            [3.0, 1.0, 3.0, 0.0, 0.0],
        ]
    )
    for u in (
        np.array([0.0, 0.5, 0.99, 0.5]),
        np.array([0.34, 0.1, 0.2, 0.49]),
        np.array([0.67, 0.9, 0.6, 0.5]),
        np.array([1.0, 1.0, 1.0, 1.0]),  # u = 1 exactly: the last tied column
    ):
        slots, props = _kernels.top1(scores, u)
        ref_slots, ref_props = _top1_reference(scores, u)
        assert slots.dtype == np.int64 and slots.shape == (4, 1) and props.shape == (4, 1)
        np.testing.assert_array_equal(slots, ref_slots)
        np.testing.assert_array_equal(props, ref_props)
        np.testing.assert_array_equal(props[:, 0], [1 / 3, 1.0, 1 / 5, 1 / 2])
        numpy_slots, numpy_props = _kernels.top1_numpy(scores, u)
        assert numpy_slots.dtype == np.int64
        np.testing.assert_array_equal(numpy_slots, ref_slots)
        np.testing.assert_array_equal(numpy_props, ref_props)
    last = _kernels.top1(scores, np.ones(4))[0][:, 0]
    np.testing.assert_array_equal(last, [4, 0, 4, 2])


# ---------------------------------------------------------------------------- ucb_top1
@needs_numba
@pytest.mark.parametrize("n", [1, 2, 3])
@pytest.mark.parametrize("shared", [True, False])
@pytest.mark.parametrize("tied", [False, True])
def test_ucb_top1_against_linucb_formula(n: int, shared: bool, tied: bool) -> None:
    rng = np.random.default_rng(7 + n)
    d, items, m, alpha = 3, 6, 4, 0.7
    _, a_inv, theta = _state(rng, items, d)
    if tied:  # every item the same model: all scores tie exactly, the uniforms pick
        a_inv[:] = a_inv[0]
        theta[:] = theta[0]
    x = rng.standard_normal((n, d))
    rows = rng.permutation(items)[:m] if shared else np.stack([rng.permutation(items)[:m] for _ in range(n)])
    mean, q = _reference(x, rows, a_inv, theta)
    ref_scores = mean + alpha * np.sqrt(q)
    draws = np.random.default_rng(99)
    result = _kernels.ucb_top1(x, rows, _kernels.pack(a_inv), theta, alpha, draws)
    assert result is not None
    slots, props, scores = result
    expected = np.random.default_rng(99)
    u = expected.random(n)  # the tie-breaking uniforms, one per request, drawn after the scores
    assert draws.random() == expected.random()  # exactly n uniforms were drawn
    assert slots.shape == props.shape == (n, 1) and scores.shape == (n, m)
    assert slots.dtype == np.int64
    np.testing.assert_allclose(scores, ref_scores, rtol=1e-10, atol=1e-12)
    if tied:
        np.testing.assert_array_equal(scores, scores[:, :1].repeat(m, axis=1))
        np.testing.assert_array_equal(slots[:, 0], np.floor(u * m).astype(np.int64))
        np.testing.assert_array_equal(props, np.full((n, 1), 1.0 / m))
    else:
        np.testing.assert_array_equal(slots[:, 0], ref_scores.argmax(axis=1))
        np.testing.assert_array_equal(props, np.ones((n, 1)))


@needs_numba
def test_ucb_top1_non_finite_context_draws_nothing() -> None:
    rng = np.random.default_rng(8)
    _, a_inv, theta = _state(rng, 4, 3)
    x = rng.standard_normal((2, 3))
    x[1, 2] = np.nan
    draws = np.random.default_rng(5)
    assert _kernels.ucb_top1(x, np.arange(4), _kernels.pack(a_inv), theta, 1.0, draws) is None
    assert draws.random() == np.random.default_rng(5).random()
