"""The fast paths under the service give the results of the general ones: small item lookups, policies as bytes."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest

from abrec.errors import StateError
from abrec.policies import make_policy
from abrec.policies._items import _SMALL, ItemIndex
from abrec.policies.records import Feedback
from abrec.policies.state import load_policy, load_policy_from, save_policy, save_policy_to
from abrec.service.snapshots import policy_from_bytes, policy_to_bytes


def _general(index: ItemIndex, ids: np.ndarray, add: bool) -> np.ndarray:
    """The vectorised lookup (the path above _SMALL ids), for any array: tiled past the threshold, cut back."""
    reps = _SMALL // max(ids.size, 1) + 1
    big = np.concatenate([ids.ravel()] * reps)
    return index.lookup(big, add=add)[: ids.size].reshape(ids.shape)


def _ids(rng: np.random.Generator, kind: str, shape: tuple[int, ...]) -> np.ndarray:
    n = int(np.prod(shape))
    if kind == "int":
        return rng.integers(0, 50, size=n).reshape(shape)
    if kind == "bigint":
        return rng.integers(-(2**40), 2**40, size=n).reshape(shape)
    words = ["a", "b", "é", "ユーザー", "item7", "x" * 30, "7", "42", "z z"]
    return np.array([words[i] for i in rng.integers(0, len(words), size=n)], dtype=str).reshape(shape)


@pytest.mark.parametrize("kind", ["int", "bigint", "str"])
def test_small_lookups_give_the_rows_of_the_vectorised_path(kind: str) -> None:
    rng = np.random.default_rng(len(kind))
    fast, slow = ItemIndex(), ItemIndex()
    for _ in range(300):
        shape = [(int(rng.integers(0, 6)),), (int(rng.integers(1, 4)), int(rng.integers(1, 5)))][int(rng.integers(2))]
        ids = _ids(rng, kind, shape)
        add = bool(rng.random() < 0.7)
        got = fast.lookup(ids, add=add)
        expected = _general(slow, ids, add)
        assert got.shape == ids.shape and got.dtype == np.int64
        np.testing.assert_array_equal(got, expected)
        assert fast.ids.tolist() == slow.ids.tolist() and fast.size == slow.size  # same rows, same order
    assert fast.size >= 9


def test_policies_as_bytes_are_the_policy_file_read_and_written_in_memory(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for name in ("linucb", "bernoulli_ts", "uniform"):
        policy = make_policy(name, seed=3)
        policy.decide(np.array(["a", "b", "c", "d"]), rng.normal(size=(2, 4)), k=2)
        if policy.learns:
            n = 6
            policy.update(
                Feedback(
                    np.array(["a", "b", "c"] * 2),
                    rng.integers(0, 2, size=n).astype(float),
                    rng.normal(size=(n, 4)),
                    np.zeros(n, dtype=np.int64),
                    np.full(n, 0.5),
                    None,
                )
            )
        path = tmp_path / f"{name}.npz"
        save_policy(policy, path)
        from_file = load_policy(path)
        from_bytes = policy_from_bytes(policy_to_bytes(policy))
        from_disk_bytes = load_policy_from(io.BytesIO(path.read_bytes()))  # the file format is unchanged
        buffer = io.BytesIO()
        save_policy_to(policy, buffer)
        (tmp_path / "again.npz").write_bytes(buffer.getvalue())
        from_written = load_policy(tmp_path / "again.npz")
        for other in (from_file, from_bytes, from_disk_bytes, from_written):
            assert type(other) is type(policy) and other.item_ids.tolist() == policy.item_ids.tolist()
            assert other._rng.bit_generator.state == policy._rng.bit_generator.state
            for key, value in policy._state.items():
                np.testing.assert_array_equal(other._state[key][: policy.n_items], value[: policy.n_items])
            x = rng.normal(size=(3, 4))
            cand = np.array(["a", "b", "c", "e"])
            a, b = policy.clone(keep_state=True, seed=1), other.clone(keep_state=True, seed=1)
            np.testing.assert_array_equal(a.decide(cand, x, k=2).items, b.decide(cand, x, k=2).items)
    with pytest.raises(StateError, match="policy snapshot"):
        policy_from_bytes(b"not a policy")


def test_a_failed_save_leaves_no_temporary_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    policy = make_policy("uniform", seed=0)
    monkeypatch.setattr(policy, "get_params", lambda: {"weights": object()})  # a value a file cannot hold
    with pytest.raises(TypeError):
        save_policy(policy, tmp_path / "p.npz")
    assert list(tmp_path.iterdir()) == []
