"""Counting Monte Carlo slates by a rank test (``_bts_distribution``'s compiled kernels, ``_slates.sampled``).

Thompson-style propensities count, over posterior draws, how often each chosen candidate lands at its
position. The compiled kernels never build those slates: candidate ``c`` is at position ``j`` exactly when
``j`` candidates rank ahead of it. The counts must be exactly those of the numpy references (ties and -inf
included): ``slate_match_counts_numpy`` for one draw per item, and ``topk_of`` (whatever order it gives
exact ties) for ``sampled``, so that a policy's decisions and propensities do not depend on numba.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from abrec.policies import _bts_distribution as bts
from abrec.policies import _slates
from abrec.policies.records import Feedback
from abrec.policies.registry import make_policy

pytestmark = pytest.mark.skipif(not bts.HAVE_NUMBA, reason="compares the compiled kernels with numpy")

# (S draws, n requests, m candidates): k runs over 1, 2, 3 and m (where <= m) for each.
SHAPES = [(1, 1, 1), (5, 1, 2), (40, 3, 3), (30, 4, 5), (25, 33, 20), (12, 6, 40), (9, 2, 70)]


def _ks(m: int) -> list[int]:
    return sorted({k for k in (1, 2, 3, m) if k <= m})


def _scores(rng: np.random.Generator, shape: tuple[int, ...], kind: str) -> np.ndarray:
    """Continuous draws; ``ties``: rounded to a grid of 5 values; ``inf``: ties and a third of them -inf."""
    x = rng.random(shape)
    if kind == "continuous":
        return x
    x = np.round(x * 4) / 4
    if kind == "inf":
        x[rng.random(shape) < 0.35] = -np.inf
    return x


def _slots(rng: np.random.Generator, n: int, m: int, k: int, first: np.ndarray) -> np.ndarray:
    """Half the requests get the top-k of one draw ``first`` (n, m), the others a random slate."""
    top = np.argsort(-first, axis=-1, kind="stable")[:, :k]
    rand = np.stack([rng.permutation(m)[:k] for _ in range(n)])
    return np.where((np.arange(n) % 2 == 0)[:, None], top, rand).astype(np.int64)


def _topk_of_counts(samples: np.ndarray, slots: np.ndarray) -> np.ndarray:
    """The reference ``sampled`` counted with: ``topk_of`` over each draw, compared with the slots."""
    counts = np.zeros(slots.shape)
    counts += (_slates.topk_of(samples, slots.shape[1]) == slots[None]).sum(axis=0)
    return counts


@pytest.mark.parametrize("kind", ["continuous", "ties", "inf"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_slate_match_counts_equal_the_numpy_reference(shape: tuple[int, int, int], kind: str) -> None:
    s, n, m = shape
    for k in _ks(m):
        rng = np.random.default_rng([s, n, m, k, len(kind)])
        u = m + 7
        index = np.stack([rng.choice(u, m, replace=False) for _ in range(n)])
        samples = _scores(rng, (s, u), kind)
        slots = _slots(rng, n, m, k, samples[0, index])
        compiled, reference = np.zeros((n, k)), np.zeros((n, k))
        bts.slate_match_counts(samples, index, slots, compiled, use_numba=True)
        bts.slate_match_counts_numpy(samples, index, slots, reference)
        np.testing.assert_array_equal(compiled, reference, err_msg=f"k={k}")
        assert compiled[::2].sum() >= min(n, 2) // 2 * k  # the slates of draw 0 count at least once


def test_slate_match_counts_rank_ties_by_column() -> None:
    # Every draw ties everything: the slate is always candidates 0, 1, 2 in column order; -inf ties too.
    index = np.array([[3, 1, 2, 0], [0, 1, 2, 3]])
    slots = np.array([[0, 1, 2], [2, 1, 0]])
    for value in (0.5, -np.inf):
        counts = np.zeros((2, 3))
        bts.slate_match_counts(np.full((6, 4), value), index, slots, counts)
        assert counts.tolist() == [[6.0, 6.0, 6.0], [0.0, 6.0, 0.0]]
    # A finite candidate always beats a -inf one, whatever their columns.
    counts = np.zeros((1, 2))
    bts.slate_match_counts(np.array([[-np.inf, -np.inf, 0.1, -np.inf]]), index[1:], np.array([[2, 0]]), counts)
    assert counts.tolist() == [[1.0, 1.0]]


@pytest.mark.parametrize("contiguous", [True, False], ids=["contiguous", "strided"])
@pytest.mark.parametrize("kind", ["continuous", "ties", "inf"])
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_sampled_count_equals_topk_of(shape: tuple[int, int, int], kind: str, contiguous: bool) -> None:
    s, n, m = shape
    for k in _ks(m):
        rng = np.random.default_rng([s, n, m, k, len(kind), contiguous])
        samples = _scores(rng, (s, n, m), kind)
        if not contiguous:  # the same values in a transposed layout
            samples = np.ascontiguousarray(samples.transpose(2, 1, 0)).transpose(2, 1, 0)
        slots = _slots(rng, n, m, k, samples[0])
        counts = np.zeros((n, k))
        _slates.count_topk_matches(samples, slots, counts)
        np.testing.assert_array_equal(counts, _topk_of_counts(samples, slots), err_msg=f"k={k}")


@pytest.mark.parametrize("k", [2, 3, 8])
def test_sampled_count_follows_topk_of_through_whole_ties(k: int) -> None:
    # Every candidate ties (or all but one): topk_of's order of the tie decides, whatever it is.
    rng = np.random.default_rng(k)
    samples = np.zeros((50, 4, 8))
    samples[:, 1, 5] = 1.0
    samples[:, 2, :] = -np.inf
    samples[:, 3, :4] = -np.inf
    slots = np.concatenate([_slates.topk_of(samples[0], k)[:2], np.stack([rng.permutation(8)[:k] for _ in range(2)])])
    counts = np.zeros((4, k))
    _slates.count_topk_matches(samples, slots, counts)
    np.testing.assert_array_equal(counts, _topk_of_counts(samples, slots))
    assert (counts[:2] == 50).all()


@pytest.mark.parametrize("k", [1, 2, 3, 6])
def test_rank_match_counts_with_column_ties(k: int) -> None:
    """``defer_ties=False``: ties rank the lower column ahead (a stable sort), and no draw is left over."""
    rng = np.random.default_rng(k)
    samples = _scores(rng, (60, 9, 6), "inf")
    slots = _slots(rng, 9, 6, k, samples[0])
    counts = np.zeros((9, k))
    assert bts.rank_match_counts(samples, slots, counts, defer_ties=False).shape == (0,)
    stable = np.argsort(-samples, axis=-1, kind="stable")[..., :k]
    np.testing.assert_array_equal(counts, (stable == slots[None]).sum(axis=0))


def test_rank_match_counts_defers_only_the_deciding_ties() -> None:
    samples = np.array(
        [
            [[0.9, 0.5, 0.5, 0.1]],  # slot 1 (candidate 1) ties candidate 2 for positions 1-2: deferred
            [[0.5, 0.9, 0.5, 0.1]],  # slot 0 (candidate 0) ties candidate 2 for positions 1-2, slot 0 can't be 1st
            [[0.9, 0.7, 0.1, 0.1]],  # the tie is below both slots: counted
            [[0.2, 0.1, 0.9, 0.9]],  # two candidates above both slots: nothing, no tie of a slot
        ]
    )
    slots = np.array([[0, 1]])
    counts = np.zeros((1, 2))
    unsure = bts.rank_match_counts(samples, slots, counts, defer_ties=True)
    assert unsure.tolist() == [0]
    assert counts.tolist() == [[1.0, 1.0]]  # only draw 2; draw 1 puts candidate 0 third at best


def test_continuous_scores_defer_nothing() -> None:
    rng = np.random.default_rng(5)
    samples = rng.random((200, 33, 20))
    slots = _slots(rng, 33, 20, 3, samples[0])
    counts = np.zeros((33, 3))
    assert bts.rank_match_counts(samples, slots, counts, defer_ties=True).shape == (0,)
    np.testing.assert_array_equal(counts, _topk_of_counts(samples, slots))


# ----------------------------------------------------------------------------------- sampled end to end
def _recording(rng: np.random.Generator, n: int, m: int, kind: str, calls: list[int]) -> Callable[[int], np.ndarray]:
    def draw(s: int) -> np.ndarray:
        calls.append(s)
        return _scores(rng, (s, n, m), kind)

    return draw


@pytest.mark.parametrize("kind", ["continuous", "ties", "inf"])
@pytest.mark.parametrize("n_draws", [0, 1, 5, 300])
def test_sampled_propensities_and_draws_do_not_depend_on_numba(
    monkeypatch: pytest.MonkeyPatch, kind: str, n_draws: int
) -> None:
    n, m, k = 7, 9, 3
    slots = _slots(np.random.default_rng(0), n, m, k, np.random.default_rng(1).random((n, m)))
    runs = []
    for compiled in (True, False):
        monkeypatch.setattr(bts, "HAVE_NUMBA", compiled)
        calls: list[int] = []
        props = _slates.sampled(_recording(np.random.default_rng(9), n, m, kind, calls), slots, n_draws)
        runs.append((props, calls))
    (a, calls_a), (b, calls_b) = runs
    np.testing.assert_array_equal(a, b)
    assert calls_a == calls_b == ([1, n_draws - 1] if n_draws > 1 else [1] if n_draws else [])


# ------------------------------------------------------------------------------------ Bernoulli Thompson
def _policy(**params: float) -> object:
    policy = make_policy("bernoulli_ts", seed=0, propensity_draws=100, **params)
    rng = np.random.default_rng(11)
    shown = rng.integers(0, 300, 4000)  # items 300-499 keep their prior
    rewards = (rng.random(4000) < 0.05 + 0.4 * (shown % 9) / 9).astype(float)
    policy.update(Feedback(items=shown, rewards=rewards))
    return policy


def _decisions(params: dict[str, float]) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(4)
    one = rng.choice(500, 20, replace=False)
    many = np.stack([rng.choice(500, 20, replace=False) for _ in range(33)])
    mask = rng.random((33, 20)) < 0.8
    mask[:, :3] = True
    policy = _policy(**params)
    out = []
    for cand, kwargs in [(one, {}), (many, {}), (one, {}), (many, {"mask": mask}), (many, {})]:
        d = policy.decide(cand, k=3, **kwargs)  # type: ignore[attr-defined]
        out.append((d.slots, d.propensities))
    return out


@pytest.mark.parametrize(
    "params",
    [{}, {"prior_alpha": 0.01, "prior_beta": 0.01}],
    ids=["default", "tiny-priors"],  # Beta(0.01, 0.01) draws are often exactly 0 or 1: tied slots
)
def test_bernoulli_thompson_decisions_do_not_depend_on_numba(
    monkeypatch: pytest.MonkeyPatch, params: dict[str, float]
) -> None:
    compiled = _decisions(params)
    monkeypatch.setattr(bts, "HAVE_NUMBA", False)
    reference = _decisions(params)
    for (slots_a, props_a), (slots_b, props_b) in zip(compiled, reference, strict=True):
        np.testing.assert_array_equal(slots_a, slots_b)
        np.testing.assert_array_equal(props_a, props_b)
    assert all(props.shape == (slots.shape[0], 3) for slots, props in compiled)
    assert compiled[1][1].max() > 0.1  # the 33 requests' counts are not all empty


def test_a_deterministic_slate_with_tied_scores_keeps_propensity_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """LinTS with ``v = 0`` ranks by its means: unseen items all score 0, and topk_of orders that tie its own
    way (not by column, with argpartition). Every draw repeats the decision, so each propensity is 1."""

    def decide() -> tuple[np.ndarray, np.ndarray]:
        policy = make_policy("lin_ts", seed=0, propensity_draws=200, v=0.0)
        rng = np.random.default_rng(1)
        items = rng.integers(0, 10, 300)
        policy.update(Feedback(items=items, rewards=(items % 3 == 0).astype(float), contexts=rng.random((300, 4))))
        d = policy.decide(np.tile(np.arange(40), (4, 1)), rng.random((4, 4)), k=12)
        return d.slots, d.propensities

    slots, props = decide()
    assert (props == 1.0).all()
    monkeypatch.setattr(bts, "HAVE_NUMBA", False)
    slots_ref, props_ref = decide()
    np.testing.assert_array_equal(slots, slots_ref)
    np.testing.assert_array_equal(props, props_ref)


def test_a_slot_outside_the_candidates_is_never_counted() -> None:
    # As with the references (a slate never holds such a column), and no memory outside a row is read.
    rng = np.random.default_rng(8)
    samples = rng.random((30, 2, 4))
    slots = np.array([[-1, 0], [1, 4]])
    counts = np.zeros((2, 2))
    _slates.count_topk_matches(samples, slots, counts)
    np.testing.assert_array_equal(counts, _topk_of_counts(samples, slots))
    assert counts[0, 0] == counts[1, 1] == 0
    index = np.array([[0, 1, 2, 3], [3, 2, 1, 0]])
    compiled, reference = np.zeros((2, 2)), np.zeros((2, 2))
    bts.slate_match_counts(samples[:, 0], index, slots, compiled)
    bts.slate_match_counts_numpy(samples[:, 0], index, slots, reference)
    np.testing.assert_array_equal(compiled, reference)
    assert compiled[0, 0] == compiled[1, 1] == 0
