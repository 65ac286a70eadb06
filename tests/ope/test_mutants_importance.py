"""SNIPW: edges that mutation testing (``make mutate``) found untested.

The delta-method standard error at a mean weight of exactly 1 (on-policy), and rows or resamples
where every weight is 0, where ``sum(w r) / sum(w)`` is 0 / 0: no estimate, and no warning.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from abrec.ope import SNIPW, LoggedFeedback

REWARD = np.array([1.0, 0.0, 1.0, 1.0, 0.0, 0.0])


def test_on_policy_standard_error_is_the_rewards_standard_error() -> None:
    # Weights all 1 (mean weight exactly 1): the delta method gives std(r, ddof=1) / sqrt(n).
    # Mutant: `_gradient` returned None when the mean weight was 1 (`b == 0` -> `b == 1`).
    fb = LoggedFeedback.from_arrays(action=[0, 1, 1, 1, 0, 1], reward=REWARD, propensity=0.5)
    r = SNIPW(n_bootstrap=0).estimate(fb, [[0.5], [0.5]])
    assert r.value == pytest.approx(0.5, rel=1e-12)
    assert r.standard_error == pytest.approx(REWARD.std(ddof=1) / math.sqrt(REWARD.size), rel=1e-12)


def test_no_weight_at_all_gives_no_estimate_and_no_warning() -> None:
    # The target never takes a logged action: 0 / 0. The point estimate and the SE are NaN, quietly
    # (pytest turns warnings into errors). Mutants: the `b == 0` guard dropped from `_gradient`, the
    # `invalid="ignore"` dropped from `_combine`.
    fb = LoggedFeedback.from_arrays(action=[0, 0, 0], reward=[1.0, 0.0, 1.0], propensity=0.5, n_actions=2)
    for n_bootstrap in (0, 50):
        r = SNIPW(n_bootstrap=n_bootstrap, ess_threshold=0.0).estimate(fb, [[0.0], [1.0]])
        assert math.isnan(r.value) and math.isnan(r.standard_error) and math.isnan(r.ci_low)


def test_resamples_without_weight_are_skipped_quietly() -> None:
    # One row of three carries all the weight: about 30% of bootstrap resamples miss it (0 / 0);
    # they are dropped from the interval without a RuntimeWarning.
    fb = LoggedFeedback.from_arrays(action=[0, 1, 1], reward=[1.0, 0.0, 1.0], propensity=0.5)
    r = SNIPW(n_bootstrap=200, seed=0).estimate(fb, [[1.0], [0.0]])
    assert r.value == 1.0 and r.ci_low == 1.0 and r.ci_high == 1.0
