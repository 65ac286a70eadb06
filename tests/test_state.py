"""Saved policies: exact round trip and clear errors for anything else."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import numpy as np
import pytest

from abrec.errors import StateError
from abrec.policies import UCB1, BernoulliThompson, Feedback, HybridLinUCB, LinUCB, Policy, load_policy


def _trained() -> LinUCB:
    rng = np.random.default_rng(0)
    p = LinUCB(alpha=0.7, seed=3)
    p.update(Feedback(np.array(["a", "b", "a"]), rng.random(3), rng.standard_normal((3, 4))))
    return p


def test_round_trip_continues_identically(tmp_path: Path) -> None:
    p = _trained()
    p.save(tmp_path / "p.npz")
    q = LinUCB.load(str(tmp_path / "p.npz"))
    assert q.get_params() == p.get_params() and q.item_ids.tolist() == ["a", "b"]
    x = np.random.default_rng(1).standard_normal((5, 4))
    cands = np.array(["a", "b", "c"])
    np.testing.assert_array_equal(p.decide(cands, x, k=2).items, q.decide(cands, x, k=2).items)


def test_per_item_priors_survive(tmp_path: Path) -> None:
    p = BernoulliThompson(priors={7: (5.0, 2.0), 9: (1.0, 8.0)}, seed=0)
    p.decide(np.array([7, 8, 9]))
    p.save(tmp_path / "ts.npz")
    q = load_policy(tmp_path / "ts.npz")
    assert isinstance(q, BernoulliThompson) and q.priors == p.priors == {7: (5.0, 2.0), 9: (1.0, 8.0)}
    np.testing.assert_array_equal(q._state["alpha0"][:3], [5.0, 1.0, 1.0])


def test_hybrid_shared_state_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    p = HybridLinUCB(seed=0)
    p.update(Feedback(np.array([1, 2]), np.array([1.0, 0.0]), rng.random((2, 3)), item_features=rng.random((2, 2))))
    p.save(tmp_path / "h.npz")
    q = load_policy(tmp_path / "h.npz")
    assert isinstance(q, HybridLinUCB)
    np.testing.assert_array_equal(q.a0, p.a0)


def test_wrong_class(tmp_path: Path) -> None:
    _trained().save(tmp_path / "p.npz")
    with pytest.raises(StateError, match="holds a LinUCB, not a UCB1"):
        UCB1.load(str(tmp_path / "p.npz"))


def test_not_a_zip(tmp_path: Path) -> None:
    (tmp_path / "bad.npz").write_bytes(b"definitely not numpy")
    with pytest.raises(StateError, match="not a readable abrec policy file"):
        Policy.load(str(tmp_path / "bad.npz"))


def test_truncated(tmp_path: Path) -> None:
    _trained().save(tmp_path / "p.npz")
    data = (tmp_path / "p.npz").read_bytes()
    (tmp_path / "t.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(StateError):
        Policy.load(str(tmp_path / "t.npz"))


def test_foreign_npz(tmp_path: Path) -> None:
    np.savez(tmp_path / "f.npz", weights=np.zeros(3))
    with pytest.raises(StateError, match="no header"):
        Policy.load(str(tmp_path / "f.npz"))


def test_pickled_arrays_are_refused(tmp_path: Path) -> None:
    header = np.array(json.dumps({"format": "abrec.policy"}))
    np.savez(tmp_path / "o.npz", __header__=header, __item_ids__=np.array([{"x": 1}], dtype=object))
    with pytest.raises(StateError):
        Policy.load(str(tmp_path / "o.npz"))


def _rewrite_header(src: Path, dst: Path, **changes: object) -> None:
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays["__header__"]))
    header.update(changes)
    arrays["__header__"] = np.array(json.dumps(header))
    np.savez(dst, **arrays)


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"format_version": 99}, r"holds an abrec 'policy' file of version 99; this abrec reads version 1: upgrade"),
        ({"format": "abrec.pca-reducer"}, r"holds an abrec 'pca-reducer' file, not an abrec 'policy' file"),
        ({"format_version": "1"}, r"corrupt abrec header \(version '1' is not an int >= 1\)"),
        ({"policy_version": "0"}, "version 0"),
        ({"policy": "linucbx"}, "Did you mean 'linucb'"),
        ({"n_items": 5}, "corrupt"),
    ],
)
def test_bad_headers(tmp_path: Path, changes: dict[str, object], message: str) -> None:
    _trained().save(tmp_path / "p.npz")
    _rewrite_header(tmp_path / "p.npz", tmp_path / "x.npz", **changes)
    with pytest.raises(StateError, match=message):
        Policy.load(str(tmp_path / "x.npz"))


def test_corrupt_array_shape(tmp_path: Path) -> None:
    _trained().save(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["item:theta"] = np.zeros((2, 3))
    np.savez(tmp_path / "c.npz", **arrays)
    with pytest.raises(StateError, match="'theta' has shape"):
        Policy.load(str(tmp_path / "c.npz"))


def test_file_is_a_plain_zip_of_npy(tmp_path: Path) -> None:
    _trained().save(tmp_path / "p.npz")
    with zipfile.ZipFile(tmp_path / "p.npz") as zf:
        assert "__header__.npy" in zf.namelist()


def test_header_is_abrecs_file_header(tmp_path: Path) -> None:
    from abrec import __version__

    _trained().save(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as z:
        header = json.loads(str(z["__header__"]))
    assert (header["format"], header["format_version"], header["abrec_version"]) == ("abrec.policy", 1, __version__)
    assert header["policy"] == "linucb" and header["n_items"] == 2


def test_file_of_the_previous_layout_loads(tmp_path: Path) -> None:
    """Files written before the shared header had the same keys; written in their order, they still load."""
    p = _trained()
    p.save(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as z:
        arrays = {k: z[k] for k in z.files}
    header = json.loads(str(arrays["__header__"]))
    order = ["format", "format_version", "abrec_version", "policy", "policy_version", "params", "seed", "dim"]
    old = {k: header[k] for k in order} | {k: v for k, v in header.items() if k not in order}
    arrays["__header__"] = np.array(json.dumps(old))
    np.savez(tmp_path / "old.npz", **arrays)
    assert load_policy(tmp_path / "old.npz").get_params() == p.get_params()


def test_corrupt_header_text(tmp_path: Path) -> None:
    _trained().save(tmp_path / "p.npz")
    with np.load(tmp_path / "p.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["__header__"] = np.array('{"format": "abrec.policy", "format_version": 1')
    np.savez(tmp_path / "c.npz", **arrays)
    with pytest.raises(StateError, match=r"c\.npz has a corrupt abrec header"):
        Policy.load(str(tmp_path / "c.npz"))
    del arrays["__item_ids__"]
    arrays["__header__"] = np.array(json.dumps({"format": "abrec.policy", "format_version": 1}))
    np.savez(tmp_path / "n.npz", **arrays)
    with pytest.raises(StateError, match="no item ids"):
        Policy.load(str(tmp_path / "n.npz"))


def test_other_abrec_file_is_named(tmp_path: Path) -> None:
    from abrec.embeddings import PCAReducer

    PCAReducer(2).fit(np.random.default_rng(0).normal(size=(10, 4))).save(tmp_path / "pca.npz")
    with pytest.raises(StateError, match=r"pca\.npz holds an abrec 'pca-reducer' file, not an abrec 'policy' file\.$"):
        Policy.load(str(tmp_path / "pca.npz"))
