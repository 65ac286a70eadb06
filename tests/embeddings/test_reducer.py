"""PCA reducer: agrees with scikit-learn's PCA, round-trips through its pickle-free file, refuses bad files."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from abrec.embeddings import PCAReducer
from abrec.errors import InputError, ParameterError, StateError


@pytest.fixture
def data() -> np.ndarray:
    rng = np.random.default_rng(0)
    return (rng.normal(size=(200, 3)) @ rng.normal(size=(3, 12)) + 0.01 * rng.normal(size=(200, 12))).astype(np.float32)


def test_matches_scikit_learn_pca(data: np.ndarray) -> None:
    from sklearn.decomposition import PCA

    ours = PCAReducer(3, renormalize=False).fit(data)
    reference = PCA(3, svd_solver="full").fit(data.astype(np.float64))  # the engine the numbers are checked against
    np.testing.assert_allclose(ours.explained_variance_ratio_, reference.explained_variance_ratio_, rtol=1e-6)
    np.testing.assert_allclose(np.abs(ours.components_), np.abs(reference.components_), atol=1e-6)
    np.testing.assert_allclose(np.abs(ours.transform(data)), np.abs(reference.transform(data)), atol=1e-4)
    biggest = np.abs(ours.components_).argmax(axis=1)
    assert (ours.components_[np.arange(3), biggest] > 0).all()  # fixed signs: the same components every run


def test_round_trip_and_renormalise(data: np.ndarray, tmp_path: Path) -> None:
    reducer = PCAReducer(2).fit(data)
    out = reducer.transform(data)
    assert out.dtype == np.float32 and out.shape == (200, 2)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-6)
    reducer.save(tmp_path / "pca.npz")
    loaded = PCAReducer.load(tmp_path / "pca.npz")
    assert (loaded.n_components, loaded.renormalize) == (2, True)
    np.testing.assert_array_equal(loaded.transform(data), out)
    with zipfile.ZipFile(tmp_path / "pca.npz") as z:
        assert sorted(z.namelist()) == ["__header__.npy", "components.npy", "explained_variance_ratio.npy", "mean.npy"]


def test_bad_files_raise_state_error(data: np.ndarray, tmp_path: Path) -> None:
    (tmp_path / "garbage.npz").write_bytes(b"not a zip")
    with pytest.raises(StateError, match="not a readable abrec reducer file"):
        PCAReducer.load(tmp_path / "garbage.npz")
    np.savez(tmp_path / "foreign.npz", x=np.ones(3))
    with pytest.raises(StateError, match="no readable header"):
        PCAReducer.load(tmp_path / "foreign.npz")
    np.savez(tmp_path / "other.npz", __header__=np.array('{"format": "abrec.policy"}'))
    with pytest.raises(StateError, match=r"format 'abrec\.policy'"):
        PCAReducer.load(tmp_path / "other.npz")


def test_bad_use_is_refused(data: np.ndarray) -> None:
    with pytest.raises(ParameterError, match="'n_components' parameter of PCAReducer"):
        PCAReducer(0)
    with pytest.raises(InputError, match="not fitted"):
        PCAReducer(2).transform(data)
    with pytest.raises(InputError, match="needs at least that many rows and columns"):
        PCAReducer(13).fit(data)
    with pytest.raises(InputError, match="fitted on 12-dimensional"):
        PCAReducer(2).fit(data).transform(data[:, :5])
    assert PCAReducer(2).fit(data).transform(np.zeros((0, 12))).shape == (0, 2)
