from __future__ import annotations

import numpy as np
import pytest

from abrec.errors import InputError
from abrec.policies._items import ItemIndex


def test_int_ids_dense_and_dict_paths_agree() -> None:
    index = ItemIndex()
    rows = index.lookup(np.array([5, 3, 5, 10**12, -4]))
    assert rows.tolist() == [0, 1, 0, 2, 3]
    # One-at-a-time path, dense path and dict path see the same rows.
    assert index.lookup(np.array([3])).tolist() == [1]
    assert index.lookup(np.array([[10**12, 5], [3, -4]])).tolist() == [[2, 0], [1, 3]]
    assert index.lookup(np.arange(100, 164)).tolist() == list(range(4, 68))
    assert len(index) == 68


def test_string_ids_and_no_add() -> None:
    index = ItemIndex()
    assert index.lookup(np.array(["b", "a", "b"])).tolist() == [0, 1, 0]
    assert index.lookup(np.array(["zz", "a"]), add=False).tolist() == [-1, 1]
    assert index.ids.tolist() == ["b", "a"]
    assert ItemIndex.from_ids(index.ids).lookup(np.array(["a"])).tolist() == [1]


def test_float_ids_rejected() -> None:
    with pytest.raises(InputError, match="integers or strings"):
        ItemIndex().lookup(np.array([1.5, 2.5, 3.5, 4.5, 5.5]))
