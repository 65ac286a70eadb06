"""Holm and Benjamini-Hochberg against statsmodels' multipletests; FWER under the global null."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.multitest import multipletests

from abrec.abtest import benjamini_hochberg, holm
from abrec.errors import InputError


@pytest.mark.parametrize("seed", range(5))
def test_matches_statsmodels(seed: int) -> None:
    rng = np.random.default_rng(seed)
    p = np.round(rng.beta(0.5, 2.0, (3, 7)), 2)  # rounding makes ties
    np.testing.assert_allclose(holm(p).ravel(), multipletests(p.ravel(), method="holm")[1], rtol=1e-12)
    np.testing.assert_allclose(benjamini_hochberg(p).ravel(), multipletests(p.ravel(), method="fdr_bh")[1], rtol=1e-12)
    assert holm(p).shape == (3, 7) and benjamini_hochberg(p).shape == (3, 7)


def test_family_wise_error_under_the_global_null() -> None:
    rng = np.random.default_rng(20)
    sims, alpha = 4000, 0.05
    p = rng.uniform(size=(sims, 10))
    holm_any = np.mean([(holm(row) <= alpha).any() for row in p])
    bh_any = np.mean([(benjamini_hochberg(row) <= alpha).any() for row in p])
    raw_any = np.mean((p <= alpha).any(axis=1))
    se = math.sqrt(alpha * (1 - alpha) / sims)
    assert holm_any <= alpha + 4.5 * se and abs(bh_any - alpha) <= 4.5 * se  # BH's FDR = FWER under the global null
    assert raw_any > 0.35  # 1 - 0.95**10 = 0.40 without correction


def test_errors() -> None:
    with pytest.raises(InputError, match="drop the NaN"):
        holm([0.1, np.nan])
    with pytest.raises(InputError, match="at least one"):
        benjamini_hochberg([])
