"""The one confidence-interval record: a pair that unpacks, knows its level, and is returned by every result."""

from __future__ import annotations

import json
import math
import pickle

import numpy as np
import pytest

from abrec.abtest import (
    ConfidenceInterval,
    CupedStats,
    SampleStats,
    beta_binomial_test,
    cuped_test,
    gaussian_test,
    proportions_ztest,
    sequential_test,
    welch_ttest,
    ztest,
)
from abrec.errors import InputError, ParameterError
from abrec.ope import IPW, LoggedFeedback
from abrec.ope import ConfidenceInterval as OpeConfidenceInterval


def test_unpacks_indexes_and_measures() -> None:
    ci = ConfidenceInterval(1.0, 3.0, 0.9)
    low, high = ci
    assert (low, high) == (1.0, 3.0) == tuple(ci) and (ci[0], ci[1], ci[-1]) == (1.0, 3.0, 3.0) and len(ci) == 2
    assert ci.width == 2.0 and ci.contains(1.0) and ci.contains(3.0) and not ci.contains(3.5)
    assert not ci.contains(math.nan)
    np.testing.assert_array_equal(np.asarray(ci), [1.0, 3.0])
    assert ci == pytest.approx((1.0, 3.0)) and ci != ConfidenceInterval(1.0, 3.0, 0.95)
    assert pickle.loads(pickle.dumps(ci)) == ci and hash(ci) == hash(ConfidenceInterval(1, 3, 0.9))
    assert OpeConfidenceInterval is ConfidenceInterval


def test_one_sided_and_undefined_intervals_are_json_ready() -> None:
    one_sided = ConfidenceInterval(0.5, math.inf, 0.95)
    assert one_sided.width == math.inf and one_sided.contains(1e300)
    assert json.loads(json.dumps(one_sided.as_dict())) == {"low": 0.5, "high": None, "level": 0.95}
    undefined = ConfidenceInterval.undefined(0.95)
    assert math.isnan(undefined.width) and not undefined.contains(0.0)
    assert undefined.as_dict() == {"low": None, "high": None, "level": 0.95}


@pytest.mark.parametrize(
    ("args", "error", "match"),
    [
        ((2.0, 1.0, 0.95), InputError, "low <= high"),
        ((0.0, 1.0, 1.0), ParameterError, r"'level' parameter of ConfidenceInterval must be a float in \(0, 1\)"),
        ((0.0, 1.0, 0.0), ParameterError, "Got 0.0 instead"),
        (("0", 1.0, 0.95), InputError, "low must be a float"),
        ((0.0, True, 0.95), InputError, "high must be a float"),
    ],
)
def test_invalid_intervals_are_refused(args: tuple[object, object, object], error: type, match: str) -> None:
    with pytest.raises(error, match=match):
        ConfidenceInterval(*args)  # type: ignore[arg-type]


def test_every_result_type_returns_the_record_at_its_level() -> None:
    c = SampleStats(1000, 100.0, 100.0)
    t = SampleStats(1000, 130.0, 130.0)
    for result in (welch_ttest(c, t, alpha=0.1), ztest(c, t, alpha=0.1), proportions_ztest(c, t, alpha=0.1)):
        assert result.confidence_interval() == result.ci and result.ci.level == pytest.approx(0.9)
        assert result.confidence_interval(relative=True) == result.relative_ci
        assert result.relative_ci.level == result.ci.level and result.ci.contains(result.effect)
    seq = sequential_test(c, t, alpha=0.1)
    assert seq.confidence_interval().level == pytest.approx(0.9) and seq.ci.width > ztest(c, t, alpha=0.1).ci.width
    greater = ztest(c, t, alternative="greater")
    assert greater.ci.high == math.inf and greater.ci.level == 0.95
    zero = ztest(SampleStats(100, 0.0, 0.0), t)
    assert isinstance(zero.relative_ci, ConfidenceInterval) and math.isnan(zero.relative_ci.low)
    for bayes in (gaussian_test(c, t, ci_level=0.8), beta_binomial_test(c, t, ci_level=0.8)):
        assert bayes.confidence_interval() == bayes.credible_interval() == bayes.ci
        assert bayes.ci.level == bayes.ci_level == 0.8 and bayes.ci.contains(bayes.effect_mean)
    rng = np.random.default_rng(0)
    pre = rng.normal(size=(2, 200))
    cuped = cuped_test(CupedStats.from_values(pre[0] + 1, pre[0]), CupedStats.from_values(pre[1] + 1.2, pre[1]))
    assert cuped.confidence_interval() == cuped.test.ci and isinstance(cuped.test.ci, ConfidenceInterval)
    fb = LoggedFeedback.from_arrays(action=[0, 1, 0, 1], reward=[1.0, 0.0, 1.0, 1.0], propensity=0.5)
    estimate = IPW(n_bootstrap=0).estimate(fb, np.array([[0.5], [0.5]]))
    assert estimate.confidence_interval() == estimate.ci == ConfidenceInterval(estimate.ci_low, estimate.ci_high, 0.95)
