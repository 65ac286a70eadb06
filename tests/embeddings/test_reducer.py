"""PCA reducer: agrees with scikit-learn's PCA, round-trips through its pickle-free file, refuses bad files."""

from __future__ import annotations

import json
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
    with pytest.raises(StateError, match=r"is not an abrec 'pca-reducer' file \(no header\)"):
        PCAReducer.load(tmp_path / "foreign.npz")
    np.savez(tmp_path / "other.npz", __header__=np.array('{"format": "abrec.policy"}'))
    with pytest.raises(StateError, match=r"holds an abrec 'policy' file, not an abrec 'pca-reducer' file"):
        PCAReducer.load(tmp_path / "other.npz")


def _with_header(src: Path, dst: Path, header: str) -> Path:
    with np.load(src) as z:
        arrays = {k: z[k] for k in z.files}
    np.savez(dst, **{**arrays, "__header__": np.array(header)})
    return dst


def test_header_round_trip_version_and_corruption(data: np.ndarray, tmp_path: Path) -> None:
    from abrec import __version__

    PCAReducer(2).fit(data).save(tmp_path / "pca.npz")
    with np.load(tmp_path / "pca.npz") as z:
        header = json.loads(str(z["__header__"]))
    assert header == {
        "format": "abrec.pca-reducer",
        "format_version": 1,
        "abrec_version": __version__,
        "params": {"n_components": 2, "renormalize": True},
    }  # the layout written before the shared header, key for key: old files load
    newer = _with_header(tmp_path / "pca.npz", tmp_path / "newer.npz", json.dumps({**header, "format_version": 2}))
    with pytest.raises(StateError, match=r"'pca-reducer' file of version 2; this abrec reads version 1: upgrade abrec"):
        PCAReducer.load(newer)
    corrupt = _with_header(tmp_path / "pca.npz", tmp_path / "corrupt.npz", '{"format": "abrec.pca-reducer",')
    with pytest.raises(StateError, match="has a corrupt abrec header"):
        PCAReducer.load(corrupt)
    bad = _with_header(
        tmp_path / "pca.npz", tmp_path / "bad.npz", json.dumps({**header, "params": {"n_components": 0}})
    )
    with pytest.raises(StateError, match=r"bad\.npz is corrupt: its header holds the parameters"):
        PCAReducer.load(bad)
    zero = {**header, "params": {"n_components": 0, "renormalize": True}}
    with pytest.raises(StateError, match=r"is corrupt: The 'n_components' parameter of PCAReducer"):
        PCAReducer.load(_with_header(tmp_path / "pca.npz", tmp_path / "zero.npz", json.dumps(zero)))


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
