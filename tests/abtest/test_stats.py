"""Sufficient statistics: moments match numpy, shards merge to the whole (hypothesis), bad sums are refused."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from abrec.abtest import CupedStats, Moments, RatioStats, SampleStats
from abrec.errors import InputError

values = st.lists(st.floats(-1e3, 1e3, allow_nan=False), min_size=2, max_size=60)


def _close(a: object, b: object) -> None:
    for name in a.__dataclass_fields__:  # type: ignore[attr-defined]
        assert getattr(a, name) == pytest.approx(getattr(b, name), rel=1e-9, abs=1e-6), name


@settings(max_examples=60, deadline=None)
@given(values, st.data())
def test_shards_add_up_to_the_whole(x: list[float], data: st.DataObject) -> None:
    arr = np.asarray(x)
    pre = np.asarray(data.draw(st.lists(st.floats(-1e3, 1e3), min_size=arr.size, max_size=arr.size)))
    cuts = sorted(data.draw(st.lists(st.integers(0, arr.size), max_size=4)))
    parts = np.split(np.arange(arr.size), cuts)
    _close(sum(SampleStats.from_values(arr[p]) for p in parts), SampleStats.from_values(arr))
    den = np.abs(pre) + 1.0
    _close(sum(RatioStats.from_values(arr[p], den[p]) for p in parts), RatioStats.from_values(arr, den))
    _close(sum(CupedStats.from_values(arr[p], pre[p]) for p in parts), CupedStats.from_values(arr, pre))


def test_moments_match_numpy() -> None:
    rng = np.random.default_rng(1)
    y, x = rng.normal(3, 2, 50), rng.normal(1, 1, 50)
    s = SampleStats.from_values(y)
    assert s.mean == pytest.approx(np.mean(y)) and s.variance == pytest.approx(np.var(y, ddof=1))
    assert s.standard_error == pytest.approx(np.std(y, ddof=1) / np.sqrt(50))
    c = CupedStats.from_values(y, x)
    assert c.covariance == pytest.approx(np.cov(y, x)[0, 1])
    assert c.pre.variance == pytest.approx(np.var(x, ddof=1)) and c.post == s


def test_ratio_delta_method_matches_linearisation() -> None:
    rng = np.random.default_rng(2)
    den = rng.integers(1, 20, 300).astype(float)
    num = rng.binomial(den.astype(int), 0.2).astype(float)
    r = RatioStats.from_values(num, den)
    ratio = num.sum() / den.sum()
    linear = (num - ratio * den) / den.mean()  # the delta method's influence values
    assert r.mean == pytest.approx(ratio)
    assert r.variance == pytest.approx(np.var(linear, ddof=1), rel=1e-9)
    assert r.numerator == SampleStats.from_values(num) and r.denominator.n == 300


def test_edge_cases_and_errors() -> None:
    assert np.isnan(SampleStats(0, 0.0, 0.0).mean) and np.isnan(SampleStats(1, 2.0, 4.0).variance)
    assert np.isnan(RatioStats(3, 0.0, 1.0, 0.0, 1.0, 0.0).mean)
    with pytest.raises(InputError, match="inconsistent"):
        SampleStats(2, 10.0, 1.0)
    with pytest.raises(InputError, match="int >= 0"):
        SampleStats(-1, 0.0, 0.0)
    with pytest.raises(InputError, match="finite"):
        SampleStats.from_values([1.0, np.nan])
    with pytest.raises(InputError, match="one length"):
        RatioStats.from_values([1.0, 2.0], [1.0])
    with pytest.raises(InputError, match="variance"):
        Moments(3, 1.0, -1.0)
    with pytest.raises(TypeError):
        SampleStats(1, 1.0, 1.0) + RatioStats(1, 1.0, 1.0, 1.0, 1.0, 1.0)  # type: ignore[operator]
