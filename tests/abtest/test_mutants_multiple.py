"""Holm and Benjamini-Hochberg: edges that mutation testing (``make mutate``) found untested.

The p-value check's bounds (1 is a valid p-value, 1.5 is not), error messages that name the
correction, and p-values given as an object array (a pandas object column).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import numpy.typing as npt
import pytest
from statsmodels.stats.multitest import multipletests

from abrec.abtest import benjamini_hochberg, holm
from abrec.errors import InputError

Correction = Callable[[npt.ArrayLike], npt.NDArray[np.float64]]
CORRECTIONS: list[tuple[Correction, str, str]] = [
    (holm, "holm", "holm"),
    (benjamini_hochberg, "benjamini_hochberg", "fdr_bh"),
]


@pytest.mark.parametrize(("correction", "name", "method"), CORRECTIONS)
def test_a_p_value_of_one_is_valid(correction: Correction, name: str, method: str) -> None:
    # `p > 1` -> `p >= 1`. Reference: statsmodels' multipletests(p, method=...).
    p = [1.0, 0.2, 0.01]
    np.testing.assert_allclose(correction(p), multipletests(p, method=method)[1], rtol=1e-12)


@pytest.mark.parametrize(("correction", "name", "method"), CORRECTIONS)
def test_p_values_above_one_are_rejected_by_name(correction: Correction, name: str, method: str) -> None:
    # `or` -> `and` and `> 1` -> `> 2` in the range check; the owner's name in the message.
    with pytest.raises(InputError, match=f"^{name} needs p-values in \\[0, 1\\]"):
        correction([0.5, 1.5])
    with pytest.raises(InputError, match=f"^{name} needs at least one p-value"):
        correction([])


@pytest.mark.parametrize(("correction", "name", "method"), CORRECTIONS)
def test_object_arrays_are_read_as_numbers(correction: Correction, name: str, method: str) -> None:
    # dtype=np.float64 dropped from np.asarray.
    p = np.array([0.01, 0.04, 0.03, 0.5], dtype=object)
    np.testing.assert_allclose(correction(p), correction(p.astype(float)), rtol=0)
