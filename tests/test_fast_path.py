"""The lean one-request paths of the linear policies (``_decide_one``, ``_update_one``) answer exactly as
the full path would, and hand everything else to it.

A subclass that overrides ``_choose`` and ``_update`` (to call the same code) takes the full path every
time, so a policy and its full-path twin with the same seed must produce bit-identical decisions, draws
and learned state over many rounds. The lean path is checked to have answered (the full path's entry
points are replaced by ones that fail), and every input it must not accept is checked to reach the full
path: the same errors, and nothing drawn or learned on the way.
"""

from __future__ import annotations

import pickle
from typing import Any

import numpy as np
import pytest

from abrec.envs import make_linear_bandit
from abrec.errors import InputError
from abrec.policies import Decision, Feedback, LinearThompson, LinUCB, _kernels
from abrec.policies.base import Request

pytestmark = pytest.mark.skipif(not _kernels.HAVE_NUMBA, reason="the lean paths need numba")


class FullPathLinUCB(LinUCB):
    """LinUCB through the full path only: overriding these methods (with the same code) turns the lean path off."""

    def _choose(self, req: Request, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        return super()._choose(req, k)

    def _update(self, *args: Any) -> None:
        super()._update(*args)


def _fail(*args: Any, **kwargs: Any) -> None:
    raise AssertionError("the full path ran where the lean path should have answered")


def _assert_same_decision(lean: Decision, full: Decision) -> None:
    assert type(lean) is Decision
    for name in ("items", "slots", "propensities", "scores"):
        a, b = getattr(lean, name), getattr(full, name)
        assert a.dtype == b.dtype and a.shape == b.shape, name
        assert a.tobytes() == b.tobytes(), name  # bit for bit
    assert (lean.policy, lean.version, lean.propensity_draws) == (full.policy, full.version, full.propensity_draws)


def _assert_same_state(a: LinUCB, b: LinUCB) -> None:
    assert a.item_ids.tolist() == b.item_ids.tolist()
    for key in ("a_inv", "b", "theta"):
        assert a._state[key][: a.n_items].tobytes() == b._state[key][: b.n_items].tobytes(), key
    assert a._rng.bit_generator.state == b._rng.bit_generator.state


def test_only_unchanged_classes_take_the_lean_paths() -> None:
    assert LinUCB._lean_decide and LinUCB._lean_update and LinearThompson._lean_update
    assert not LinearThompson._lean_decide  # it samples: no lean decide
    assert not FullPathLinUCB._lean_decide and not FullPathLinUCB._lean_update

    class ScoresDifferently(LinUCB):
        def _mean_width(self, req: Request) -> tuple[np.ndarray, np.ndarray]:
            mean, q = super()._mean_width(req)
            return -mean, q

    class OwnPrior(LinUCB):
        def _on_new_items(self, start: int, stop: int) -> None:
            pass

    class OnlyDecideWrapped(LinUCB):  # overriding decide itself keeps the lean path behind super().decide
        def decide(self, *args: Any, **kwargs: Any) -> Decision:
            return super().decide(*args, **kwargs)

    assert not ScoresDifferently._lean_decide and ScoresDifferently._lean_update
    assert not OwnPrior._lean_decide and not OwnPrior._lean_update
    assert OnlyDecideWrapped._lean_decide and OnlyDecideWrapped._lean_update


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_lean_online_loop_is_bit_identical_to_the_full_path(seed: int) -> None:
    # W1's protocol (decide one context, observe, update one row) on a W1-shaped bandit: every decision,
    # every generator draw and the learned state are the same bits, and the lean paths did answer.
    bandit = make_linear_bandit(arms=50, dim=32, rounds=1500, seed=seed)
    cands = np.arange(50, dtype=np.int64)
    lean, full = LinUCB(seed=seed), FullPathLinUCB(seed=seed)
    lean.__dict__["_request"] = _fail
    lean.__dict__["_update"] = _fail
    ties = 0
    for t in range(bandit.X.shape[0]):
        x = bandit.X[t : t + 1]
        if t == 0:  # the first request fills the row cache: the full path, as the lean one defers to it
            del lean.__dict__["_request"]
        d_lean, d_full = lean.decide(cands, x), full.decide(cands, x)
        if t == 0:
            lean.__dict__["_request"] = _fail
        _assert_same_decision(d_lean, d_full)
        ties += int(d_full.propensities[0, 0] < 1.0)
        a = d_lean.items[:, 0]
        r = bandit.R[np.arange(t, t + 1), a].astype(np.float64)
        lean.update(Feedback(a, r, x))
        full.update(Feedback(a, r, x))
    _assert_same_state(lean, full)
    assert ties >= 1  # the first rounds tie every item (all start from the prior): tie-breaking was exercised


def test_lean_batches_and_other_alphas_match() -> None:
    # Batches of requests take the full decide, lean updates; alpha 0 (ties everywhere) and an int alpha.
    bandit = make_linear_bandit(arms=7, dim=4, rounds=400, seed=5)
    for alpha in (0.0, 2, 0.3):
        lean, full = LinUCB(alpha=alpha, seed=9), FullPathLinUCB(alpha=alpha, seed=9)
        cands = np.array([10, 20, 30, 40, 50, 60, 70])
        for t in range(0, 400, 20):
            size = 1 if t % 40 else 20
            for s in range(t, t + 20, size):
                x = bandit.X[s : s + size]
                d1, d2 = lean.decide(cands, x), full.decide(cands, x)
                _assert_same_decision(d1, d2)
                r = bandit.R[np.arange(s, s + size), d1.slots[:, 0]].astype(np.float64)
                lean.update(d1.feedback(r, x))
                full.update(d2.feedback(r, x))
        _assert_same_state(lean, full)


def _trained(cls: type[LinUCB] = LinUCB, seed: int = 0) -> LinUCB:
    policy = cls(seed=seed)
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((60, 3))
    policy.update(Feedback(rng.integers(0, 5, 60), rng.random(60), x))
    policy.decide(np.arange(5), x[:1])  # fills the candidate cache
    return policy


def _pair() -> tuple[LinUCB, LinUCB]:
    return _trained(), _trained(FullPathLinUCB)


def _same_outcome(lean: LinUCB, full: LinUCB, call: Any) -> None:
    """``call(policy)`` raises the same error, or returns the same decision, for both; then the next round agrees."""
    outcomes = []
    for policy in (lean, full):
        try:
            outcomes.append(("ok", call(policy)))
        except InputError as exc:
            outcomes.append(("error", str(exc)))
    assert outcomes[0][0] == outcomes[1][0]
    if outcomes[0][0] == "error":
        assert outcomes[0][1] == outcomes[1][1].replace("FullPathLinUCB", "LinUCB")
    elif isinstance(outcomes[0][1], Decision):
        _assert_same_decision(outcomes[0][1], outcomes[1][1])
    _assert_same_state(lean, full)
    x = np.array([[0.3, -0.2, 0.9]])
    _assert_same_decision(lean.decide(np.arange(5), x), full.decide(np.arange(5), x))


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(lambda p: p.decide(np.arange(5), np.array([[np.nan, 0.0, 1.0]])), id="nan-context"),
        pytest.param(lambda p: p.decide(np.arange(5), np.array([[np.inf, 0.0, 1.0]])), id="inf-context"),
        pytest.param(lambda p: p.decide(np.arange(5), np.ones((1, 4))), id="wrong-dimension"),
        pytest.param(lambda p: p.decide(np.arange(5), np.ones(3) * 0.5), id="one-dimensional-context"),
        pytest.param(lambda p: p.decide(np.arange(5), np.ones((1, 1, 3))), id="three-dimensional-context"),
        pytest.param(lambda p: p.decide(np.arange(5), np.array(0.5)), id="scalar-context"),
        pytest.param(lambda p: p.decide(np.arange(5), [[0.1, 0.2, 0.3]]), id="list-context"),
        pytest.param(lambda p: p.decide(np.arange(5), np.ones((1, 3), dtype=np.float32)), id="float32-context"),
        pytest.param(lambda p: p.decide(np.arange(5), np.ones((2, 3))), id="two-requests"),
        pytest.param(lambda p: p.decide(np.arange(6), np.ones((1, 3))), id="a-new-item"),
        pytest.param(lambda p: p.decide(np.arange(5)[::-1], np.ones((1, 3))), id="other-order"),
        pytest.param(lambda p: p.decide(np.arange(5).astype(np.int32), np.ones((1, 3))), id="int32-candidates"),
        pytest.param(lambda p: p.decide([0, 1, 2, 3, 4], np.ones((1, 3))), id="list-candidates"),
        pytest.param(lambda p: p.decide(np.arange(5)[None, :], np.ones((1, 3))), id="per-request-candidates"),
        pytest.param(lambda p: p.decide(np.arange(5), np.ones((1, 3)), k=2), id="k2"),
        pytest.param(lambda p: p.decide(np.arange(5), np.ones((1, 3)), k=True), id="k-true"),
        pytest.param(lambda p: p.decide(np.arange(5), np.ones((1, 3)), k=0), id="k0"),
        pytest.param(lambda p: p.decide(np.arange(5), np.ones((1, 3)), mask=np.ones((1, 5), bool)), id="mask"),
        pytest.param(lambda p: p.decide(np.array([0, 1, 1, 3, 4]), np.ones((1, 3))), id="duplicates"),
    ],
)
def test_decide_cases_the_lean_path_hands_over(case: Any) -> None:
    lean, full = _pair()
    _same_outcome(lean, full, case)


def test_candidates_changed_in_place_are_looked_up_again() -> None:
    lean, full = _pair()
    cands = np.arange(5)
    x = np.array([[0.5, 0.1, -0.4]])
    for policy in (lean, full):
        policy.decide(cands, x)
    cands[2] = 99  # the same array object, new contents: a new item in the middle
    _assert_same_decision(lean.decide(cands, x), full.decide(cands, x))
    assert 99 in lean.item_ids.tolist()
    _assert_same_state(lean, full)


def test_lean_decision_owns_its_arrays() -> None:
    # Items are a copy of the candidates, not a view: changing one decision changes nothing else.
    lean = _trained()
    cands = np.arange(5)
    x = np.array([[0.5, 0.1, -0.4]])
    first = lean.decide(cands, x)
    item = int(first.items[0, 0])
    second = lean.decide(cands, x)
    first.items[0, 0] = -1
    first.scores[:] = 0.0
    assert cands.tolist() == [0, 1, 2, 3, 4] and int(second.items[0, 0]) == item and second.scores.any()


@pytest.mark.parametrize(
    "case",
    [
        pytest.param(lambda p: p.update(Feedback(np.array([2]), np.array([np.nan]), np.ones((1, 3)))), id="nan-reward"),
        pytest.param(
            lambda p: p.update(Feedback(np.array([2]), np.array([1.0]), np.array([[0.0, np.inf, 1.0]]))),
            id="inf-context",
        ),
        pytest.param(lambda p: p.update(Feedback(np.array([7]), np.array([1.0]), np.ones((1, 3)))), id="new-item"),
        pytest.param(lambda p: p.update(Feedback(np.array([-3]), np.array([1.0]), np.ones((1, 3)))), id="negative-id"),
        pytest.param(lambda p: p.update(Feedback(np.array([1 << 40]), np.array([1.0]), np.ones((1, 3)))), id="huge-id"),
        pytest.param(lambda p: p.update(Feedback(np.array(["a"]), np.array([1.0]), np.ones((1, 3)))), id="str-id"),
        pytest.param(lambda p: p.update(Feedback([2], [1.0], [[0.1, 0.2, 0.3]])), id="lists"),
        pytest.param(lambda p: p.update(Feedback(np.array([2]), np.array([1.0]), np.ones(3))), id="1d-context"),
        pytest.param(lambda p: p.update(Feedback(np.array([2]), np.array([1.0]), np.ones((1, 4)))), id="wrong-dim"),
        pytest.param(lambda p: p.update(Feedback(np.array([2]), np.array([1.0]), None)), id="no-context"),
        pytest.param(lambda p: p.update(Feedback(np.array([2, 3]), np.array([1.0]), np.ones((2, 3)))), id="lengths"),
        pytest.param(lambda p: p.update(Feedback(np.zeros(0, np.int64), np.zeros(0), np.ones((0, 3)))), id="empty"),
        pytest.param(
            lambda p: p.update(Feedback(np.array([[2, 3]])[:, 1], np.array([1.0]), np.ones((1, 3)))),
            id="strided-ids",
        ),
        pytest.param(
            lambda p: p.update(Feedback(np.arange(10)[::3], np.ones(4), np.ones((4, 3)))), id="strided-ids-new"
        ),
        pytest.param(lambda p: p.update(Feedback(np.array([2, 4, 2]), np.ones(3), np.ones((3, 3)))), id="batch"),
    ],
)
def test_update_cases(case: Any) -> None:
    lean, full = _pair()
    _same_outcome(lean, full, case)


def test_large_int_ids_have_no_table_rows() -> None:
    # Ids of 2**20 and more live in the item index's dict only (its dense table stays empty): the lean
    # update must not read them as rows.
    ids = np.array([5_000_000, 7_000_000, 5_000_000])
    x = np.array([[0.1, 0.2, 0.3], [0.3, -0.1, 0.0], [1.0, 0.5, -0.5]])
    lean, full = LinUCB(seed=0), FullPathLinUCB(seed=0)
    for policy in (lean, full):
        policy.update(Feedback(ids, np.array([1.0, 0.0, 1.0]), x))
    for i in range(3):
        fb = Feedback(ids[i : i + 1], np.array([0.5]), x[i : i + 1])
        lean.update(fb)
        full.update(fb)
        _assert_same_decision(lean.decide(ids[:2], x[i]), full.decide(ids[:2], x[i]))
    _assert_same_state(lean, full)
    assert not _kernels.sherman_morrison_ids(
        lean._state["a_inv"],
        lean._state["b"],
        lean._state["theta"],
        np.zeros(0, np.int64),
        np.array([0]),
        x[:1],
        np.ones(1),
    )


def test_readonly_inputs() -> None:
    lean, full = _pair()
    x = np.array([[0.2, 0.4, -0.1]])
    x.flags.writeable = False
    items = np.array([3])
    items.flags.writeable = False
    _same_outcome(lean, full, lambda p: p.decide(np.arange(5), x))
    _same_outcome(lean, full, lambda p: p.update(Feedback(items, np.array([1.0]), x)))


def test_numpy_backend_and_thompson_update(monkeypatch: pytest.MonkeyPatch) -> None:
    # backend="numpy" never runs a compiled kernel; LinearThompson's lean update equals its full one.
    rng = np.random.default_rng(4)
    x, items, r = rng.standard_normal((200, 3)), rng.integers(0, 6, 200), rng.random(200)
    p = LinUCB(backend="numpy", seed=0)
    with monkeypatch.context() as patch:
        patch.setattr(_kernels, "ucb_top1", _fail)
        patch.setattr(_kernels, "sherman_morrison_ids", _fail)
        for i in range(3):
            p.update(Feedback(items[i : i + 1], r[i : i + 1], x[i : i + 1]))
            p.decide(np.arange(6), x[i : i + 1])

    class FullPathThompson(LinearThompson):
        def _update(self, *args: Any) -> None:
            super()._update(*args)

    lean, full = LinearThompson(seed=1), FullPathThompson(seed=1)
    lean.update(Feedback(items[:1], r[:1], x[:1]))
    full.update(Feedback(items[:1], r[:1], x[:1]))
    lean.__dict__["_update"] = _fail
    for i in range(1, 200):
        fb = Feedback(items[i : i + 1], r[i : i + 1], x[i : i + 1])
        if items[i] not in lean.item_ids:
            del lean.__dict__["_update"]
            lean.update(fb)
            lean.__dict__["_update"] = _fail
        else:
            lean.update(fb)
        full.update(fb)
    for key in ("a_inv", "b", "theta"):
        assert lean._state[key][: lean.n_items].tobytes() == full._state[key][: full.n_items].tobytes()


def test_clones_and_pickles_continue_identically() -> None:
    lean, full = _pair()
    x = np.array([[0.1, 0.9, 0.3]])
    copies = [lean.clone(keep_state=True, seed=5), pickle.loads(pickle.dumps(lean))]
    references = [full.clone(keep_state=True, seed=5), pickle.loads(pickle.dumps(full))]
    for copy, ref in zip(copies, references, strict=True):
        for t in range(30):
            xt = x * (t + 1) / 10
            d1, d2 = copy.decide(np.arange(5), xt), ref.decide(np.arange(5), xt)
            _assert_same_decision(d1, d2)
            copy.update(d1.feedback(np.array([t % 2], dtype=float), xt))
            ref.update(d2.feedback(np.array([t % 2], dtype=float), xt))
        _assert_same_state(copy, ref)


def test_kernel_entry_points_refuse_without_changing_anything() -> None:
    rng = np.random.default_rng(0)
    d = 4
    packed = np.tile(_kernels.pack(np.eye(d)), (3, 1))
    theta, b = rng.standard_normal((3, d)), np.zeros((3, d))
    x = rng.standard_normal((1, d))
    gen = np.random.default_rng(1)
    state = gen.bit_generator.state
    bad = x.copy()
    bad[0, 2] = np.nan
    assert _kernels.ucb_top1(bad, np.arange(3), packed, theta, 1.0, gen) is None
    assert gen.bit_generator.state == state  # nothing drawn
    table = np.array([2, -1, 0, 1])
    before = [a.copy() for a in (packed, b, theta)]
    for ids, xx, r in (
        (np.array([1]), x, np.array([1.0])),  # id 1 has no row
        (np.array([4]), x, np.array([1.0])),  # beyond the table
        (np.array([-1]), x, np.array([1.0])),
        (np.array([0]), bad, np.array([1.0])),
        (np.array([0]), x, np.array([np.inf])),
        (np.array([0, 1]), np.vstack([x, x]), np.array([1.0, 0.0])),  # one good row, one bad: nothing changes
    ):
        assert not _kernels.sherman_morrison_ids(packed, b, theta, table, ids, xx, r)
        for a, a0 in zip((packed, b, theta), before, strict=True):
            assert a.tobytes() == a0.tobytes()
    assert _kernels.sherman_morrison_ids(packed, b, theta, table, np.array([3]), x, np.array([1.0]))
    ref = [a.copy() for a in before]
    _kernels.sherman_morrison(*ref, np.array([1]), x, np.array([1.0]), use_numba=True)  # id 3 -> row 1
    for a, a0 in zip((packed, b, theta), ref, strict=True):
        assert a.tobytes() == a0.tobytes()
    with pytest.raises(InputError, match="finite"):
        _kernels.sherman_morrison(packed, b, theta, np.array([0]), bad, np.array([1.0]), use_numba=True)


def test_compiled_packed_weights_are_numpys_bits() -> None:
    # The batch path builds x_u x_v (doubled off the diagonal) in numba: the very numbers of the numpy
    # reference, at every scale (overflow to inf, subnormals, signed zeros, NaN), so the BLAS product is too.
    rng = np.random.default_rng(3)
    x = rng.standard_normal((200, 9)) * 10.0 ** rng.integers(-170, 170, size=(200, 9))
    x[0, :3] = [0.0, -0.0, np.nan]
    x[1, :2] = [1e308, 1e-320]
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        ref = _kernels.packed_weights_numpy(x)
    fast = _kernels._packed_weights_nb(x)
    assert fast.shape == ref.shape and fast.flags.c_contiguous
    np.testing.assert_array_equal(np.isnan(fast), np.isnan(ref))
    assert np.array_equal(np.signbit(fast), np.signbit(ref))
    assert np.array_equal(np.nan_to_num(fast), np.nan_to_num(ref))


@pytest.mark.parametrize("n", [33, 1000])
def test_batch_scores_equal_across_backends(n: int) -> None:
    # Shared candidates, more than 32 requests: both backends run the same BLAS product on the same numbers.
    rng = np.random.default_rng(n)
    d, items = 6, 9
    m = rng.standard_normal((items, d, d))
    packed = _kernels.pack(np.linalg.inv(np.eye(d) + np.einsum("kij,klj->kil", m, m)))
    theta = rng.standard_normal((items, d))
    x = rng.standard_normal((n, d))
    rows = rng.permutation(items)[:7]
    fast = _kernels.mean_width_packed(x, rows, packed, theta, use_numba=True)
    ref = _kernels.mean_width_packed(x, rows, packed, theta, use_numba=False)
    for f, r in zip(fast, ref, strict=True):
        assert f.tobytes() == r.tobytes()
