"""SRM: edges that mutation testing (``make mutate``) found untested.

Each test names the mutants of ``abrec.abtest.srm`` it kills: input validation that let negative or
empty inputs through, the certain-mismatch and no-variance branches, the ``mismatch`` threshold, and
inputs given as object arrays (pandas' object columns).
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from abrec.abtest import srm_test
from abrec.abtest.srm import SRMResult
from abrec.errors import InputError


def test_mismatch_threshold_is_strict_and_defaults_to_growthbooks() -> None:
    # default 0.001 -> 1.001; `<` -> `<=`
    result = SRMResult(statistic=5.0, p_value=0.01, df=1, observed=(1, 2), expected=(1.5, 1.5))
    assert not result.mismatch()
    at_threshold = SRMResult(statistic=10.0, p_value=0.001, df=1, observed=(1, 2), expected=(1.5, 1.5))
    assert not at_threshold.mismatch() and at_threshold.mismatch(0.0011)


def test_one_unit_is_enough_and_matches_pearson() -> None:
    # `totals.sum() <= 0` -> `<= 1`. scipy.stats.chisquare([1, 0], [0.5, 0.5]) = (1.0, 0.31731050786291115).
    r = srm_test([1, 0], [0.5, 0.5])
    assert r.statistic == pytest.approx(1.0, rel=1e-9) and r.p_value == pytest.approx(0.31731050786291115, rel=1e-9)
    assert r.df == 1 and r.observed == (1, 0) and r.expected == (0.5, 0.5)


@pytest.mark.parametrize(
    ("counts", "weights", "match"),
    [
        ([-1, 5], [0.5, 0.5], "non-negative integers"),  # `or` -> `and` in the counts check
        ([5, 5], [-0.5, 1.5], "finite, >= 0"),  # `or` -> `and` in the weights check
        ([[5, 5], [5, 5]], [[0.0, 0.0], [0.5, 0.5]], "positive somewhere"),  # row sums -> grand sum
        ([0, 0], [0.5, 0.5], "no units"),  # `<= 0` -> `< 0`
    ],
)
def test_rejects_invalid_input(counts: list[int], weights: list[float], match: str) -> None:
    with pytest.raises(InputError, match=match):
        srm_test(counts, weights)


def test_certain_mismatch_reports_df_counts_and_expectations() -> None:
    # One unit where the weight is 0 (`observed > 0` -> `> 1`), with df = variants with expected
    # traffic minus one, at least 1 (each constant and comparison in that line mutated).
    r = srm_test([[3, 1, 0, 0]], [[0.5, 0.0, 0.25, 0.25]])
    assert r.statistic == math.inf and r.p_value == 0.0 and r.mismatch()
    assert r.df == 2 and r.observed == (3, 1, 0, 0) and r.expected == (2.0, 0.0, 1.0, 1.0)
    r = srm_test([[5, 1]], [[1.0, 0.0]])
    assert r.statistic == math.inf and r.df == 1 and r.observed == (5, 1) and r.expected == (6.0, 0.0)


def test_all_traffic_on_one_variant_has_no_variance() -> None:
    # The df == 0 branch: every field of its result.
    r = srm_test([10, 0], [1.0, 0.0])
    assert (r.statistic, r.p_value, r.df, r.observed, r.expected) == (0.0, 1.0, 0, (10, 0), (10.0, 0.0))
    assert not r.mismatch()


def test_expected_counts_follow_the_periods_weights() -> None:
    # The returned `expected` of the main branch: sum_p N_p w_p.
    r = srm_test([[900, 100], [1000, 1000]], [[0.9, 0.1], [0.5, 0.5]])
    assert r.expected == pytest.approx((1900.0, 1100.0), rel=1e-12) and r.observed == (1900, 1100)


def test_object_arrays_are_read_as_numbers() -> None:
    # dtype=np.float64 dropped from either np.asarray call.
    counts = np.array([5050, 4950], dtype=object)
    weights = np.array([0.5, 0.5], dtype=object)
    r = srm_test(counts, weights)
    ref = srm_test([5050, 4950], [0.5, 0.5])
    assert (r.statistic, r.p_value, r.df) == (ref.statistic, ref.p_value, ref.df)
