"""Item features from a catalog duck type, through cache and reducer, into a policy's decide()."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from abrec.embeddings import (
    CachedEncoder,
    CatalogLike,
    FakeEncoder,
    History,
    ItemFeatures,
    PCAReducer,
    item_features,
    user_contexts,
)
from abrec.errors import InputError
from abrec.policies import HybridLinUCB, LinUCB


class Catalog:
    """The shape of ``abrec.data.Catalog`` that the embeddings package relies on."""

    def __init__(self, ids: list[object], texts: list[str]) -> None:
        self.ids = np.array(ids)
        self._texts = texts

    def texts(self) -> list[str]:
        return list(self._texts)


CATALOG = Catalog([f"m{i}" for i in range(12)], [f"movie {i} about topic {i % 3}" for i in range(12)])


def test_shapes_and_protocol() -> None:
    assert isinstance(CATALOG, CatalogLike)
    feats = item_features(CATALOG, FakeEncoder(dim=8))
    assert isinstance(feats, ItemFeatures) and feats.ids.tolist() == CATALOG.ids.tolist()
    assert feats.vectors.shape == (12, 8) and feats.vectors.dtype == np.float32
    np.testing.assert_array_equal(feats.lookup(["m3", "m0"]), feats.vectors[[3, 0]])
    np.testing.assert_array_equal(feats.rows(["m3", "nope"]), [3, -1])
    np.testing.assert_array_equal(feats.rows([3]), [-1])  # an int never matches a string id
    with pytest.raises(InputError, match=r"item ids \['nope'\] are not in the item features"):
        feats.lookup(["nope"])


def test_cache_reducer_and_progress(tmp_path: Path) -> None:
    fake = FakeEncoder(dim=8)
    seen: list[tuple[int, int]] = []
    reducer = PCAReducer(4)
    first = item_features(
        CATALOG, fake, cache=tmp_path / "c.sqlite", reducer=reducer, progress=lambda *a: seen.append(a)
    )
    assert reducer.fitted and first.vectors.shape == (12, 4) and seen[-1] == (12, 12)
    fake.reset()
    again = item_features(CATALOG, fake, cache=tmp_path / "c.sqlite", reducer=reducer)
    assert fake.calls == []  # every text came from the cache
    np.testing.assert_array_equal(again.vectors, first.vectors)
    seen.clear()
    item_features(CATALOG, FakeEncoder(dim=8), batch_size=5, progress=lambda *a: seen.append(a))
    assert seen == [(0, 12), (5, 12), (10, 12), (12, 12)]


def test_bad_catalogs() -> None:
    with pytest.raises(InputError, match="one text per id"):
        item_features(Catalog([1, 2], ["a"]), FakeEncoder())
    with pytest.raises(InputError, match="unique"):
        item_features(Catalog([1, 1], ["a", "b"]), FakeEncoder())


def test_features_feed_the_policy_protocol(tmp_path: Path) -> None:
    feats = item_features(CATALOG, CachedEncoder(FakeEncoder(dim=8), tmp_path / "c.sqlite"), reducer=PCAReducer(4))
    histories = [History(["m0", "m3"]), History(["m1"]), History([])]
    contexts = user_contexts(histories, feats, half_life=5.0)
    candidates = np.array(["m2", "m5", "m7", "m11"])
    hybrid = HybridLinUCB(seed=0).decide(candidates, contexts, k=2, item_features=feats.lookup(candidates))
    assert hybrid.items.shape == (3, 2) and set(hybrid.items.ravel()) <= set(candidates)
    assert LinUCB(seed=0).decide(candidates, contexts).items.shape == (3, 1)
