"""Edges of abrec.abtest.best that the closed-form and Monte Carlo tests leave open (mutation testing, issue 20).

The reference is an independent transcription of the definitions, integrated with ``scipy.integrate.quad`` on the
plain (not log) scale with scipy.stats' densities and CDFs:

    P(best = i) = int f_i(x) prod_{j != i} F_j(x) dx,
    P(best = b, second = i) = int f_i(x) (1 - F_b(x)) prod_{j != i, b} F_j(x) dx.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import pytest
from scipy import integrate, stats

from abrec.abtest.best import (
    prob_best_beta,
    prob_best_gaussian,
    prob_best_student_t,
    top_two_beta,
    top_two_gaussian,
    top_two_student_t,
)
from abrec.errors import InputError


def reference(dists: list[Any], second: bool) -> tuple[np.ndarray, np.ndarray]:
    """P(best = i) and joint[b, i] by scipy quad over each density's 1e-14 .. 1 - 1e-14 quantiles, broken at
    quantiles of every variant."""
    k = len(dists)
    best, joint = np.zeros(k), np.zeros((k, k))
    for i, d in enumerate(dists):
        lo, hi = d.ppf(1e-14), d.ppf(1 - 1e-14)
        quantiles = [float(e.ppf(q)) for e in dists for q in (1e-6, 0.01, 0.1, 0.5, 0.9, 0.99, 1 - 1e-6)]
        cut = sorted({q for q in quantiles if lo < q < hi})

        def term(x: float, i: int = i, d: Any = d, b: int | None = None) -> float:
            out = float(d.pdf(x))
            for j, other in enumerate(dists):
                if j != i:
                    out *= float(other.sf(x)) if j == b else float(other.cdf(x))
            return out

        best[i] = integrate.quad(term, lo, hi, epsabs=1e-14, epsrel=1e-12, points=cut, limit=500)[0]
        for b in range(k) if second else ():
            if b != i:
                joint[b, i] = integrate.quad(
                    lambda x, b=b: term(x, b=b), lo, hi, epsabs=1e-14, epsrel=1e-12, points=cut, limit=500
                )[0]
    return best, joint


def check(r: Any, dists: list[Any]) -> None:
    best, joint = reference(dists, second=True)
    np.testing.assert_allclose(r.best, best, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(r.joint, joint, rtol=1e-8, atol=1e-11)
    np.testing.assert_allclose(r.second, joint.sum(axis=0), rtol=1e-8, atol=1e-11)


MEANS, SDS = [0.10, 0.12, 0.11, 0.095], [0.01, 0.012, 0.02, 0.004]


def test_gaussian_against_direct_integration() -> None:
    dists = [stats.norm(m, s) for m, s in zip(MEANS, SDS, strict=True)]
    np.testing.assert_allclose(prob_best_gaussian(MEANS, SDS), reference(dists, second=False)[0], atol=1e-11)
    check(top_two_gaussian(MEANS, SDS), dists)


def test_beta_against_direct_integration() -> None:
    a, b = [31.0, 45.5, 2.0, 38.0], [270.0, 301.0, 9.0, 250.0]  # one wide posterior (a = 2) among narrow ones
    dists = [stats.beta(x, y) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(prob_best_beta(a, b), reference(dists, second=False)[0], atol=1e-11)
    check(top_two_beta(a, b), dists)


def test_student_t_against_direct_integration() -> None:
    dfs = [3.0, 7.0, 2.5, 40.0]
    dists = [stats.t(df, loc=m, scale=s) for m, s, df in zip(MEANS, SDS, dfs, strict=True)]
    np.testing.assert_allclose(prob_best_student_t(MEANS, SDS, dfs), reference(dists, second=False)[0], atol=1e-11)
    check(top_two_student_t(MEANS, SDS, dfs), dists)
    # one df for every variant broadcasts
    same = [stats.t(5.0, loc=m, scale=s) for m, s in zip(MEANS, SDS, strict=True)]
    np.testing.assert_allclose(prob_best_student_t(MEANS, SDS, 5.0), reference(same, second=False)[0], atol=1e-11)


def test_student_t_with_scales_above_one_integrates_its_whole_bulk() -> None:
    # Heavy tails and scales of 40 to 100: the bulk is +-h * scale around each centre (h ~ 1e5 at df = 2.5).
    means, scales, dfs = [0.0, 50.0, 20.0], [40.0, 60.0, 100.0], [3.0, 4.0, 2.5]
    dists = [stats.t(df, loc=m, scale=s) for m, s, df in zip(means, scales, dfs, strict=True)]
    np.testing.assert_allclose(prob_best_student_t(means, scales, dfs), reference(dists, second=False)[0], atol=1e-10)
    check(top_two_student_t(means, scales, dfs), dists)


def test_student_t_cdfs_that_underflow_to_zero_raise_no_warning() -> None:
    # df = 1e9 is the normal case: 100 scales apart, stdtr underflows to 0 and its log is -inf, silently
    # (pytest runs with -W error, so a divide-by-zero RuntimeWarning would fail here).
    np.testing.assert_allclose(prob_best_student_t([0.0, 100.0], [1.0, 1.0], 1e9), [0.0, 1.0], atol=1e-12)
    r = top_two_student_t([0.0, 100.0, 3.0], [1.0, 1.0, 1.0], 1e9)
    np.testing.assert_allclose(r.best, [0.0, 1.0, 0.0], atol=1e-12)
    phi = float(stats.norm.cdf(3.0 / math.sqrt(2.0)))  # P(N(3, 1) > N(0, 1)): the runner-up behind variant 1
    np.testing.assert_allclose(r.runner_up(1), [1.0 - phi, 0.0, phi], atol=1e-8)


def test_a_variant_that_cannot_lead_has_no_runner_up() -> None:
    # P(best = 0) and P(best = 2) underflow to exactly 0: their challenger distributions are zeros, not 0 / 0.
    r = top_two_gaussian([0.0, 100.0, 50.0], [1.0, 1.0, 1.0])
    assert r.best[0] == 0.0 and r.best[2] == 0.0 and r.best[1] == pytest.approx(1.0, abs=1e-12)
    assert r.runner_up(0).tolist() == [0.0, 0.0, 0.0] and r.runner_up(2).tolist() == [0.0, 0.0, 0.0]
    np.testing.assert_allclose(r.runner_up(1), [0.0, 0.0, 1.0], atol=1e-12)
    np.testing.assert_allclose(r.second, [0.0, 0.0, 1.0], atol=1e-12)


def quantile_reference(a: list[float], b: list[float]) -> np.ndarray:
    """P(best = i) = int_0^1 prod_{j != i} F_j(Q_i(u)) du: the same integral in the quantile u = F_i(x), whose
    integrand is bounded where a Beta density with a < 1 or b < 1 is infinite at 0 or 1."""
    d = [stats.beta(x, y) for x, y in zip(a, b, strict=True)]

    def g(u: float, i: int) -> float:
        x = d[i].ppf(u)
        return float(np.prod([d[j].cdf(x) for j in range(len(d)) if j != i]))

    return np.array(
        [integrate.quad(g, 0.0, 1.0, args=(i,), epsabs=1e-13, epsrel=1e-12, limit=500)[0] for i in range(len(d))]
    )


def test_beta_with_a_jeffreys_prior_arm_that_has_no_data() -> None:
    # Beta(0.5, 0.5) (Jeffreys prior, no units yet): the density is infinite at 0 and 1, and the quadrature reaches
    # x = 1.0 exactly, where the log density must be -inf (not a math domain error, not +inf). Tolerance 5e-8: the
    # arm's mass within one ulp (1.1e-16) of 1, 2 sqrt(1.1e-16) / pi = 6.7e-9, is beyond double precision in x.
    a, b = [0.5, 3.5], [0.5, 20.5]
    ref = quantile_reference(a, b)
    np.testing.assert_allclose(prob_best_beta(a, b), ref, atol=5e-8)
    r = top_two_beta(a, b)
    np.testing.assert_allclose(r.best, ref, atol=5e-8)
    np.testing.assert_allclose(r.second, ref[::-1], atol=5e-8)  # two variants: second = the other one's best


def test_float32_inputs_are_integrated_in_double_precision() -> None:
    # float32 means and sds, as read from a float32 column: the result is that of their float64 values, to the
    # quadrature's 1e-11 (float32 arithmetic inside the integrand would be off by ~1e-7).
    m, s = np.array([0.10, 0.12], dtype=np.float32), np.array([0.01, 0.013], dtype=np.float32)
    m64, s64 = m.astype(np.float64), s.astype(np.float64)
    closed = float(stats.norm.cdf((m64[1] - m64[0]) / math.hypot(*s64)))  # Phi((m2 - m1) / sqrt(s1^2 + s2^2))
    np.testing.assert_allclose(prob_best_gaussian(m, s), [1.0 - closed, closed], atol=1e-11)
    np.testing.assert_allclose(top_two_gaussian(m, s).best, [1.0 - closed, closed], atol=1e-11)
    dists = [stats.t(4.0, loc=x, scale=y) for x, y in zip(m64, s64, strict=True)]
    np.testing.assert_allclose(
        prob_best_student_t(m, s, np.float32(4.0)), reference(dists, second=False)[0], atol=1e-10
    )
    a, b = np.array([31.0, 45.5], dtype=np.float32), np.array([270.0, 301.0], dtype=np.float32)
    ref = quantile_reference(a.astype(np.float64).tolist(), b.astype(np.float64).tolist())
    np.testing.assert_allclose(prob_best_beta(a, b), ref, atol=1e-10)


ERRORS = [
    (
        lambda: prob_best_gaussian([1.0], [1.0]),
        "prob_best_gaussian needs means as a 1-D array with one value per variant (at least 2); got (1,).",
    ),
    (
        lambda: prob_best_gaussian([0.0, 1.0], [[1.0, 1.0]]),
        "prob_best_gaussian needs sds as a 1-D array with one value per variant (at least 2); got (1, 2).",
    ),
    (
        lambda: top_two_gaussian([0.0, np.inf], [1.0, 1.0]),
        "top_two_gaussian needs every means finite; got [0.0, inf].",
    ),
    (
        lambda: top_two_gaussian([0.0, 1.0], [1.0, 0.0]),
        "top_two_gaussian needs every sds positive and finite; got [1.0, 0.0].",
    ),
    (
        lambda: prob_best_beta([1.0, 2.0], [1.0, 2.0, 3.0]),
        "prob_best_beta needs a and b of one length; got 2 and 3.",
    ),
    (
        lambda: prob_best_beta([1.0, -2.0], [1.0, 2.0]),
        "prob_best_beta needs every a positive and finite; got [1.0, -2.0].",
    ),
    (
        lambda: top_two_beta([1.0, 2.0], [0.0, 1.0]),
        "top_two_beta needs every b positive and finite; got [0.0, 1.0].",
    ),
    (lambda: top_two_beta([0.0, 2.0], [1.0, 1.0]), "top_two_beta needs every a positive and finite; got [0.0, 2.0]."),
    (
        lambda: prob_best_beta([1.0, 2.0], [1.0, 0.0]),
        "prob_best_beta needs every b positive and finite; got [1.0, 0.0].",
    ),
    (
        lambda: prob_best_gaussian([0.0, 1.0], [-1.0, 1.0]),
        "prob_best_gaussian needs every sds positive and finite; got [-1.0, 1.0].",
    ),
    (
        lambda: top_two_beta([[1.0, 2.0]], [[1.0, 2.0]]),
        "top_two_beta needs a as a 1-D array with one value per variant (at least 2); got (1, 2).",
    ),
    (
        lambda: prob_best_student_t([0.0, 1.0, 2.0], [1.0, 1.0], 3.0),
        "prob_best_student_t needs means and scales of one length; got 3 and 2.",
    ),
    (
        lambda: prob_best_student_t([0.0, 1.0], [1.0, np.nan], 3.0),
        "prob_best_student_t needs every scales positive and finite; got [1.0, nan].",
    ),
    (
        lambda: top_two_student_t([0.0, 1.0], [1.0, 1.0], [1.0, -1.0]),
        "top_two_student_t needs every dfs positive and finite; got [1.0, -1.0].",
    ),
    (
        lambda: top_two_student_t([np.nan, 1.0], [1.0, 1.0], 2.0),
        "top_two_student_t needs every means finite; got [nan, 1.0].",
    ),
]


@pytest.mark.parametrize(("call", "message"), ERRORS, ids=[f"error{i}" for i in range(len(ERRORS))])
def test_errors_name_the_function_and_the_argument(call: Any, message: str) -> None:
    with pytest.raises(InputError, match=f"^{re.escape(message)}$"):
        call()


def test_beta_parameters_below_the_floor_are_refused_not_integrated_wrongly() -> None:
    # Beta(1, 0.01) holds ~eps**0.01 of its mass within one double step of 1: the quadrature in x summed the two
    # arms' probabilities of being best to 0.16 (Monte Carlo: 0.776 and 0.224). Refused below 0.5, exact from there.
    from abrec.abtest.allocation import TopTwoThompsonAllocator
    from abrec.errors import InputError, ParameterError

    for call in (prob_best_beta, top_two_beta):
        with pytest.raises(InputError, match=r"at least 0.5 \(got 0.01\)"):
            call([1.0, 1.0], [0.01, 0.02])
    with pytest.raises(ParameterError, match=r"at least 0\.5"):
        TopTwoThompsonAllocator(["a", "b"], prior=(0.1, 0.1))
    a, b = [0.5, 1.0], [0.5, 0.5]  # at the floor: the quantile-space reference, to 5e-8
    np.testing.assert_allclose(prob_best_beta(a, b), quantile_reference(a, b), atol=5e-8)
