"""DR and SNDR: edges that mutation testing (``make mutate``) found untested.

SNDR's delta-method standard error against its linearisation written out independently (off
policy, and on policy where the mean weight is exactly 1); rows or resamples where the weights'
mean is 0 (every weight 0: 0 / 0), which give no estimate and no warning; subnormal weights whose
mean used to underflow (x / 0 = inf), which now give the finite estimate; and the InputError of
``_terms`` on rows without a reward model.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from abrec.errors import InputError
from abrec.ope import IPW, DoublyRobust, LoggedFeedback, SelfNormalizedDoublyRobust


def _random_log(seed: int = 0, n: int = 60, n_actions: int = 3):  # type: ignore[no-untyped-def]
    # Uniform logging over all but the last action, which the target also takes: mean weight ~ 2/3.
    rng = np.random.default_rng(seed)
    action = rng.integers(0, n_actions - 1, n)
    propensity = np.full(n, 1.0 / (n_actions - 1))
    reward = rng.normal(1.0, 2.0, n)
    fb = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=propensity, n_actions=n_actions)
    pi = rng.dirichlet(np.ones(n_actions), size=n)
    q = rng.normal(0.5, 1.0, (n, n_actions))
    return fb, pi, q


def test_standard_error_is_the_ratio_linearisation() -> None:
    # SE of mean(dm) + C / B (C = mean(w (r - q)), B = mean(w)): the mean of the linearised terms
    # (dm_i - mean dm) + (c_i - (C / B) w_i) / B. The mean weight is far from 1 and 1/2, C and the spread
    # of dm are not 0. Mutants: each component of `_gradient` (1.0 -> 2.0, 1/b -> 1*b, -c/b**2 -> -c*b**2,
    # -c/b*2, -c/b**3).
    fb, pi, q = _random_log()
    n = fb.n_rows
    w = pi[np.arange(n), fb.action] / fb.propensity
    c = w * (fb.reward - q[np.arange(n), fb.action])
    dm = (pi * q).sum(axis=1)
    big_b, big_c = w.mean(), c.mean()
    assert abs(big_b - 1.0) > 0.1 and abs(big_b - 0.5) > 0.1 and abs(big_c) > 0.1
    psi = (dm - dm.mean()) + (c - big_c / big_b * w) / big_b
    r = SelfNormalizedDoublyRobust(n_bootstrap=0).estimate(fb, pi, q)
    assert r.value == pytest.approx(dm.mean() + big_c / big_b, rel=1e-12)
    assert r.standard_error == pytest.approx(psi.std(ddof=1) / math.sqrt(n), rel=1e-10)


def test_on_policy_standard_error_is_that_of_dr_terms() -> None:
    # Weights all exactly 1 (mean weight 1): the SE is std(dm + r - q, ddof=1) / sqrt(n), as DR's.
    # Mutant: `_gradient` returned None when the mean weight was 1 (`b == 0` -> `b == 1`).
    fb = LoggedFeedback.from_arrays(action=[0, 1, 1, 1, 0, 1], reward=[1.0, 0.0, 1.0, 1.0, 0.0, 0.0], propensity=0.5)
    q = np.array([[0.2, 0.7], [0.1, 0.4], [0.3, 0.3], [0.5, 0.6], [0.9, 0.0], [0.4, 0.8]])
    dr_terms = q.mean(axis=1) + fb.reward - q[np.arange(6), fb.action]
    sndr = SelfNormalizedDoublyRobust(n_bootstrap=0).estimate(fb, [[0.5], [0.5]], q)
    dr = DoublyRobust(n_bootstrap=0).estimate(fb, [[0.5], [0.5]], q)
    assert sndr.value == pytest.approx(dr_terms.mean(), rel=1e-12)
    assert sndr.standard_error == pytest.approx(dr_terms.std(ddof=1) / math.sqrt(6), rel=1e-12)
    assert sndr.standard_error == pytest.approx(dr.standard_error, rel=1e-12)


def test_no_weight_at_all_gives_no_estimate_and_no_warning() -> None:
    # The target never takes a logged action: 0 / 0. Value and SE are NaN, quietly (pytest turns
    # warnings into errors). Mutants: the `b == 0` guard dropped from `_gradient` (1.0 / 0 warns),
    # `invalid="ignore"` dropped from `_combine`.
    fb = LoggedFeedback.from_arrays(action=[0, 0, 0], reward=[1.0, 0.0, 1.0], propensity=0.5, n_actions=2)
    q = np.full((3, 2), 0.25)
    for n_bootstrap in (0, 50):
        r = SelfNormalizedDoublyRobust(n_bootstrap=n_bootstrap, ess_threshold=0.0).estimate(fb, [[0.0], [1.0]], q)
        assert math.isnan(r.value) and math.isnan(r.standard_error) and math.isnan(r.ci_low)


def test_underflowing_mean_weight_gives_the_finite_estimate_quietly() -> None:
    # One row's target probability of its logged action is the smallest subnormal (what a softmax of
    # scores ~745 apart gives), the others' 0: mean(w) = 5e-324 / 3 rounded to 0 while mean(w (r - q))
    # = 5e-323 / 3 did not, so C / B was x / 0: inf (a bug). The weights are now rescaled by a power
    # of two (the ratio does not change): all the weight is on row 0, so C / B = r_0 - q_0 = 10 (to rounding),
    # with no warning. Mutants: the rescaling dropped or bounded on one side only.
    tiny = math.ulp(0.0)
    fb = LoggedFeedback.from_arrays(action=[0, 0, 0], reward=[10.0, 0.0, 0.0], propensity=1.0, n_actions=2)
    pi = np.array([[tiny, 1.0 - tiny], [0.0, 1.0], [0.0, 1.0]])
    r = SelfNormalizedDoublyRobust(n_bootstrap=0, ess_threshold=0.0).estimate(fb, pi, np.zeros((3, 2)))
    assert r.value == pytest.approx(10.0, rel=1e-14) and math.isfinite(r.standard_error)


def test_terms_without_a_reward_model_name_the_estimator() -> None:
    # Mutants: `rows.model(self.name)` -> `rows.model(None)` in both `_terms`.
    fb = LoggedFeedback.from_arrays(action=[0, 1, 1], reward=[1.0, 0.0, 1.0], propensity=0.5)
    rows = IPW().rows(fb, [[0.5], [0.5]])
    for cls in (DoublyRobust, SelfNormalizedDoublyRobust):
        with pytest.raises(InputError, match=rf"^{cls.name} needs a reward model"):
            cls()._terms(rows)
