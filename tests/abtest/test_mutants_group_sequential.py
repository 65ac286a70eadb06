"""Edges of abrec.abtest.group_sequential that the published-table tests leave open (mutation testing, issue 20).

References are independent of the recursion: rpact's published boundaries
(tests/testthat/test-f_design_group_sequential.R, compared there at 1e-7), scipy's multivariate normal CDF (Genz)
for the crossing probabilities of the joint law ``corr(Z_j, Z_k) = sqrt(t_j / t_k)``, the closed-form spending
functions, and the fixed-horizon z test.

``_boundaries`` is memoised (lru_cache): every test here starts from an empty cache, so that the recursion itself
runs under the test (a cached design computed earlier in the process would hide a change to it).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pytest
import scipy.stats
from scipy import special

from abrec.abtest import Moments, SampleStats, ztest
from abrec.abtest import group_sequential as gs
from abrec.abtest.group_sequential import alpha_spending, group_sequential_boundaries, group_sequential_test
from abrec.errors import InputError, ParameterError


@pytest.fixture(autouse=True)
def _fresh_designs() -> Iterator[None]:
    gs._boundaries.cache_clear()
    yield
    gs._boundaries.cache_clear()


# rpact getDesignGroupSequential, one-sided (typeOfDesign, gamma, alpha, informationRates, criticalValues)
RPACT = [
    ("obrien-fleming", 2.0, 0.13, [0.4, 0.75, 0.85, 1], [2.1280732, 1.4368565, 1.422873, 1.2970881]),
    ("pocock", 2.0, 0.13, [0.35, 0.7, 1], [1.5446617, 1.4828682, 1.4620058]),
    ("power", 2.2, 0.03, [0.3, 0.7, 1], [2.8594012, 2.2435708, 1.9735737]),
]


@pytest.mark.parametrize(("spending", "rho", "alpha", "t", "z"), RPACT)
def test_recursion_reproduces_rpact(spending: str, rho: float, alpha: float, t: list[float], z: list[float]) -> None:
    for alternative in ("greater", "less"):
        gs._boundaries.cache_clear()
        b = group_sequential_boundaries(t, alpha=alpha, alternative=alternative, spending=spending, rho=rho)  # type: ignore[arg-type]
        np.testing.assert_allclose(b.z, z, rtol=2e-7)
        np.testing.assert_allclose(b.nominal_alpha, scipy.stats.norm.sf(z), rtol=1e-5)


def _joint_cov(t: np.ndarray) -> np.ndarray:
    return np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))


@pytest.mark.parametrize("spending", ["obrien-fleming", "pocock", "power"])
def test_every_look_spends_its_increment_two_sided(spending: str) -> None:
    # P(cross first at look k) = a(t_k) - a(t_{k-1}): the probability of crossing by look k is a(t_k) at every k,
    # by Genz's integration (abs error ~1e-6 at these dimensions; tolerance 2e-5).
    t = np.array([0.2, 0.45, 0.7, 1.0])
    b = group_sequential_boundaries(t, alpha=0.05, spending=spending)  # type: ignore[arg-type]
    c = np.array(b.z)
    cov = _joint_cov(t)
    for k in range(1, 5):
        mvn = scipy.stats.multivariate_normal(np.zeros(k), cov[:k, :k])
        crossed = 1.0 - mvn.cdf(c[:k], lower_limit=-c[:k], rng=np.random.default_rng(k))
        assert crossed == pytest.approx(b.cumulative_alpha[k - 1], abs=2e-5), (k, crossed)
    spent = 2.0 * alpha_spending(t, alpha=0.025, spending=spending)  # type: ignore[arg-type]
    np.testing.assert_allclose(b.cumulative_alpha, spent, rtol=1e-12)
    np.testing.assert_allclose(b.nominal_alpha, 2.0 * scipy.stats.norm.sf(c), rtol=1e-9)


def test_every_look_spends_its_increment_one_sided_many_looks() -> None:
    # Eight looks, unevenly spaced (a tiny first one): the recursion carries the density over seven increments.
    t = np.array([0.05, 0.1, 0.3, 0.35, 0.6, 0.8, 0.9, 1.0])
    for spending in ("obrien-fleming", "pocock"):
        gs._boundaries.cache_clear()
        b = group_sequential_boundaries(t, alpha=0.025, alternative="greater", spending=spending)  # type: ignore[arg-type]
        c = np.array(b.z)
        finite = np.isfinite(c)
        cov = _joint_cov(t[finite])
        for k in range(1, int(finite.sum()) + 1):
            mvn = scipy.stats.multivariate_normal(np.zeros(k), cov[:k, :k])
            crossed = 1.0 - mvn.cdf(c[finite][:k], rng=np.random.default_rng(k))
            assert crossed == pytest.approx(np.asarray(b.cumulative_alpha)[finite][k - 1], abs=2e-5), (spending, k)


def test_first_look_boundary_is_the_normal_quantile_of_its_spend() -> None:
    for alternative, side in (("two-sided", 0.025), ("greater", 0.05)):
        gs._boundaries.cache_clear()
        b = group_sequential_boundaries([0.3, 1.0], alpha=0.05, alternative=alternative, spending="pocock")  # type: ignore[arg-type]
        first = side * math.log1p((math.e - 1.0) * 0.3)
        assert b.z[0] == pytest.approx(scipy.stats.norm.isf(first), rel=1e-12)


def test_a_look_after_all_alpha_is_spent_has_an_infinite_boundary() -> None:
    # Power spending with a huge rho spends nothing before t = 1 (a(0.5) = alpha 0.5**400 underflows to 0): the early
    # look never rejects, the last one is the fixed-horizon boundary.
    b = group_sequential_boundaries([0.5, 1.0], alpha=0.05, alternative="greater", spending="power", rho=1200.0)
    assert b.z[0] == math.inf and b.nominal_alpha[0] == 0.0
    assert b.z[1] == pytest.approx(scipy.stats.norm.isf(0.05), abs=1e-7)


def test_alpha_near_one_rejects_at_every_later_look() -> None:
    # alpha 0.999 two-sided: the first look spends almost everything; what is left is spent at the next look, and the
    # recursion stops carrying a continuation region narrower than 1e-9.
    b = group_sequential_boundaries([0.999999, 1.0], alpha=0.999, spending="pocock")
    assert b.cumulative_alpha[-1] == pytest.approx(0.999)
    assert all(math.isfinite(c) or c == math.inf for c in b.z) and b.z[0] > 0
    assert b.z[0] == pytest.approx(scipy.stats.norm.isf(0.999 / 2 * math.log1p((math.e - 1.0) * 0.999999)), rel=1e-9)


def test_alpha_spending_closed_forms() -> None:
    t = np.array([0.0, 0.1, 0.5, 1.0])
    z = scipy.stats.norm.isf(0.025 / 2)
    of = np.array([0.0] + [2.0 * scipy.stats.norm.sf(z / math.sqrt(x)) for x in t[1:]])
    np.testing.assert_allclose(alpha_spending(t, alpha=0.025), of, rtol=1e-12, atol=0)
    np.testing.assert_allclose(alpha_spending(t, alpha=0.025, spending="pocock"), 0.025 * np.log(1 + (math.e - 1) * t))
    np.testing.assert_allclose(alpha_spending(t, alpha=0.025, spending="power"), 0.025 * t**2.0)  # default rho 2
    np.testing.assert_allclose(alpha_spending(t, alpha=0.025, spending="power", rho=0.5), 0.025 * t**0.5)
    # float32 fractions are computed in double precision (float32 arithmetic would be off by ~1e-8 relative)
    t32 = np.array([0.1, 0.3, 0.7], dtype=np.float32)
    t64 = t32.astype(np.float64)
    ref = 2.0 * scipy.stats.norm.sf(scipy.stats.norm.isf(0.025) / np.sqrt(t64))
    out = alpha_spending(t32)
    assert out.dtype == np.float64
    np.testing.assert_allclose(out, ref, rtol=1e-12)


def test_rejects_at_the_boundary_itself() -> None:
    for alternative in ("greater", "less", "two-sided"):
        gs._boundaries.cache_clear()
        b = group_sequential_boundaries([0.5, 1.0], alternative=alternative)  # type: ignore[arg-type]
        c = b.z[1]
        sign = -1.0 if alternative == "less" else 1.0
        assert b.rejects(2, sign * c) and not b.rejects(2, sign * np.nextafter(c, 0.0))
        assert b.rejects(2, sign * (c + 1.0))
        assert b.rejects(2, -sign * c) == (alternative == "two-sided")


def _look(n: int, mean: float, variance: float) -> Moments:
    return Moments(n, mean, variance)


def test_result_fields_equal_the_fixed_horizon_z_test_with_the_looks_boundary() -> None:
    c1, t1 = _look(500, 1.0, 2.0), _look(520, 1.2, 2.2)
    c2, t2 = _look(1000, 1.05, 2.1), _look(1010, 1.16, 2.3)
    for alternative in ("two-sided", "greater", "less"):
        gs._boundaries.cache_clear()
        r = group_sequential_test([(c1, t1), (c2, t2)], information_fractions=[0.5, 1.0], alternative=alternative)  # type: ignore[arg-type]
        b = group_sequential_boundaries([0.5, 1.0], alternative=alternative)  # type: ignore[arg-type]
        se = math.sqrt(2.1 / 1000 + 2.3 / 1010)
        z = ztest(c2, t2, alternative=alternative)  # type: ignore[arg-type]
        assert r.method == "group-sequential" and r.look == 2 and r.information_fraction == 1.0
        assert r.effect == pytest.approx(0.11, rel=1e-12) and r.standard_error == pytest.approx(se, rel=1e-12)
        assert r.statistic == pytest.approx(0.11 / se, rel=1e-12) and r.boundary == b.z[1]
        assert r.p_value == pytest.approx(z.p_value, rel=1e-12) and r.nominal_alpha == b.nominal_alpha[1]
        assert r.relative_effect == pytest.approx(1.16 / 1.05 - 1.0, rel=1e-12)
        rel = r.relative_ci
        half = b.z[1] * z.relative_standard_error if hasattr(z, "relative_standard_error") else None
        if half is not None and alternative == "two-sided":
            assert rel.high - rel.low == pytest.approx(2 * half, rel=1e-9)
        assert r.alpha == 0.05 and isinstance(r.alpha, float) and r.alternative == alternative
        assert r.control_mean == 1.05 and r.treatment_mean == 1.16 and r.note == ""
        assert r.confidence_interval() == r.ci and r.confidence_interval(relative=True) == r.relative_ci
        assert r.ci != r.relative_ci
        if alternative == "two-sided":
            assert r.ci.low == pytest.approx(0.11 - b.z[1] * se, rel=1e-12)
            assert r.ci.high == pytest.approx(0.11 + b.z[1] * se, rel=1e-12)
            # the relative interval has the same half-width in standard errors as the fixed-horizon one at c_k
            zc = ztest(c2, t2)
            scale = b.z[1] / scipy.stats.norm.isf(0.025)
            mid = (zc.relative_ci.low + zc.relative_ci.high) / 2
            assert rel.low == pytest.approx(mid - scale * (mid - zc.relative_ci.low), rel=1e-9)
    # a control mean of 0: the relative effect is undefined and the note says why (the z test's note)
    zero = group_sequential_test([(_look(100, 0.0, 1.0), _look(100, 0.3, 1.0))], information_fractions=[1.0])
    assert math.isnan(zero.relative_effect) and zero.note == ztest(_look(100, 0.0, 1.0), _look(100, 0.3, 1.0)).note
    assert zero.note != ""


def test_rejected_at_counts_looks_from_one() -> None:
    # z = 6 at the first look crosses its O'Brien-Fleming boundary (~2.96 at t = 0.5, two-sided): rejected at look 1
    big = [(_look(1000, 0.0, 1.0), _look(1000, 0.27, 1.0)), (_look(2000, 0.0, 1.0), _look(2000, 0.0, 1.0))]
    r = group_sequential_test(big, information_fractions=[0.5, 1.0])
    assert r.statistics[0] > r.boundaries.z[0] and r.rejected_at == 1 and r.significant
    # z = 2.5 at look 1 is below its boundary 2.96 but above the last one (1.98), z = 0 at look 2: never rejected
    mid = [
        (_look(1000, 0.0, 1.0), _look(1000, 2.5 * math.sqrt(0.002), 1.0)),
        (_look(2000, 0.0, 1.0), _look(2000, 0.0, 1.0)),
    ]
    r2 = group_sequential_test(mid, information_fractions=[0.5, 1.0])
    assert r2.boundaries.z[1] < r2.statistics[0] < r2.boundaries.z[0] and r2.rejected_at is None and not r2.significant
    # crossing only at the second look
    later = [mid[0], (_look(2000, 0.0, 1.0), _look(2000, 2.5 * math.sqrt(0.001), 1.0))]
    assert group_sequential_test(later, information_fractions=[0.5, 1.0]).rejected_at == 2


def test_a_look_with_no_variance_has_no_statistic() -> None:
    # Both arms constant: se = 0, z is NaN (not a division by zero) and the look neither rejects nor fails.
    flat = [(_look(10, 1.0, 0.0), _look(10, 2.0, 0.0)), (_look(20, 1.0, 1.0), _look(20, 1.0, 1.0))]
    r = group_sequential_test(flat, information_fractions=[0.5, 1.0])
    assert math.isnan(r.statistics[0]) and r.statistics[1] == 0.0 and r.rejected_at is None


def test_planned_units_scale_every_look_by_the_larger_of_plan_and_last_look() -> None:
    s = SampleStats(50, 50.0, 100.0)
    looks = [(s, s), (s + s, s + s), (s + s + s, s + s + s)]  # 100, 200, 300 units
    over = group_sequential_test(looks, planned_units=150)  # overrun: fractions n_k / 300
    assert over.boundaries.information_fractions == pytest.approx((1 / 3, 2 / 3, 1.0), rel=1e-15)
    under = group_sequential_test(looks, planned_units=600)
    assert under.boundaries.information_fractions == pytest.approx((1 / 6, 1 / 3, 1 / 2), rel=1e-15)
    one = group_sequential_test(looks, planned_units=1)  # the smallest plan allowed: every look relative to the last
    assert one.information_fraction == 1.0
    with pytest.raises(ParameterError, match="'planned_units' parameter of group_sequential_test"):
        group_sequential_test(looks, planned_units=0)


S = SampleStats(10, 10.0, 20.0)
ERRORS: list[tuple[Callable[[], Any], type[Exception], str]] = [
    (lambda: alpha_spending([0.5], alpha=1.5), ParameterError, "alpha_spending"),
    (lambda: alpha_spending([0.5], spending="pocok"), ParameterError, "parameter of alpha_spending"),  # type: ignore[arg-type]
    (lambda: group_sequential_boundaries([0.5, 1.0], alpha=0.0), ParameterError, "group_sequential_boundaries"),
    (lambda: group_sequential_boundaries([1.0], alternative="both"), ParameterError, "group_sequential_boundaries"),  # type: ignore[arg-type]
    (lambda: group_sequential_boundaries([1.0], rho=-1.0), ParameterError, "parameter of group_sequential_boundaries"),
    (lambda: group_sequential_boundaries([[0.5, 1.0]]), ParameterError, "parameter of group_sequential_boundaries"),
    (lambda: group_sequential_boundaries([]), ParameterError, "parameter of group_sequential_boundaries"),
    (lambda: group_sequential_test([(S, S)], planned_units=40, alpha=2.0), ParameterError, "group_sequential_test"),
    (
        lambda: group_sequential_test([(S, S)], planned_units=40, alternative="x"),  # type: ignore[arg-type]
        ParameterError,
        "group_sequential_test",
    ),
    (
        lambda: group_sequential_test([(S, S)], planned_units=40, spending="x"),  # type: ignore[arg-type]
        ParameterError,
        "parameter of group_sequential_test",
    ),
    (
        lambda: group_sequential_test([(SampleStats(1, 1.0, 1.0), S)], planned_units=40),
        InputError,
        "group_sequential_test needs at least 2 units",
    ),
    (
        lambda: group_sequential_test([(S, S)], information_fractions=[1.5]),
        ParameterError,
        "parameter of group_sequential_test must be strictly increasing",
    ),
    (
        lambda: group_sequential_test([(S, S)], planned_units=2.5),  # type: ignore[arg-type]
        ParameterError,
        "'planned_units' parameter of group_sequential_test must be an int",
    ),
]


@pytest.mark.parametrize(("call", "kind", "text"), ERRORS, ids=[f"error{i}" for i in range(len(ERRORS))])
def test_errors_name_the_function(call: Callable[[], Any], kind: type[Exception], text: str) -> None:
    with pytest.raises(kind, match=re.escape(text)):
        call()


def test_one_sided_recursion_starts_from_the_whole_line() -> None:
    # One-sided designs carry the density on (-10, c_k): the lower end is -_Z_RANGE, not 0 (that would drop half
    # the continuation mass). Against the closed form of two looks: P(Z1 < c1, Z2 >= c2) by bivariate normal.
    t = np.array([0.5, 1.0])
    b = group_sequential_boundaries(t, alpha=0.05, alternative="greater", spending="obrien-fleming")
    c1, c2 = b.z
    rho = math.sqrt(0.5)
    both_below = scipy.stats.multivariate_normal([0, 0], [[1, rho], [rho, 1]]).cdf([c1, c2])
    second_only = special.ndtr(c1) - both_below
    assert second_only == pytest.approx(b.cumulative_alpha[1] - b.cumulative_alpha[0], abs=1e-7)


def _bvn_below(c1: float, c2: float, rho: float) -> float:
    cov = [[1.0, rho], [rho, 1.0]]
    return float(scipy.stats.multivariate_normal([0.0, 0.0], cov).cdf([c1, c2]))


@pytest.mark.parametrize(
    ("t", "alpha", "spending"),
    [
        ([0.5, 1.0], 0.9, "pocock"),  # the second boundary is negative: below 0, the root must be searched from -10
        ([0.5, 0.501], 0.05, "pocock"),  # looks 0.1% apart: the kernel is 0.045 wide in z, the grid must follow it
        ([0.5, 0.5001], 0.05, "obrien-fleming"),
    ],
)
def test_two_look_one_sided_designs_against_the_bivariate_normal(t: list[float], alpha: float, spending: str) -> None:
    # P(Z1 < c1, Z2 >= c2) = Phi(c1) - P(Z1 < c1, Z2 < c2) = a(t2) - a(t1), corr(Z1, Z2) = sqrt(t1 / t2)
    b = group_sequential_boundaries(t, alpha=alpha, alternative="greater", spending=spending)  # type: ignore[arg-type]
    c1, c2 = b.z
    assert c1 == pytest.approx(scipy.stats.norm.isf(b.cumulative_alpha[0]), rel=1e-12)
    second = special.ndtr(c1) - _bvn_below(c1, c2, math.sqrt(t[0] / t[1]))
    assert second == pytest.approx(b.cumulative_alpha[1] - b.cumulative_alpha[0], abs=1e-8, rel=1e-6)


@pytest.mark.parametrize(("t", "alpha"), [([0.8, 1.0], 0.9), ([0.5, 1.0], 0.6)])
def test_two_look_two_sided_designs_with_a_large_alpha(t: list[float], alpha: float) -> None:
    # Boundaries below 1 (continuation regions narrower than 1 in z): the paths that left through the lower boundary
    # stay out of the carried density, and the root is searched from 0. Reference: each side's first crossing at look
    # 2, P(|Z1| < c1, Z2 >= c2) = P(|Z1| < c1) - P(|Z1| < c1, Z2 < c2), by the bivariate normal CDF.
    b = group_sequential_boundaries(t, alpha=alpha, spending="pocock")
    c1, c2 = b.z
    assert c2 < 1.0
    rho = math.sqrt(t[0] / t[1])
    inside = special.ndtr(c1) - special.ndtr(-c1)
    inside_below = _bvn_below(c1, c2, rho) - _bvn_below(-c1, c2, rho)
    assert inside - inside_below == pytest.approx((b.cumulative_alpha[1] - b.cumulative_alpha[0]) / 2, abs=1e-8)


def test_a_later_look_that_spends_nothing_has_an_infinite_boundary() -> None:
    # a(t) = alpha t**1200 is 0 in floating point at t = 0.3 and 0.5: both early looks spend nothing
    b = group_sequential_boundaries([0.3, 0.5, 1.0], alpha=0.05, alternative="greater", spending="power", rho=1200.0)
    assert b.z[:2] == (math.inf, math.inf) and b.nominal_alpha[:2] == (0.0, 0.0)
    assert b.z[2] == pytest.approx(scipy.stats.norm.isf(0.05), abs=1e-7)


def test_a_first_look_that_spends_everything_stops_the_design() -> None:
    # alpha = 1 - 1e-12 spent (to 1e-12) at the first look: c1 ~ 2e-12, the continuation region is empty and every
    # later look gets the same boundary (the recursion stops rather than carry an empty density).
    b = group_sequential_boundaries([1.0 - 1e-12, 1.0], alpha=1.0 - 1e-12, spending="pocock")
    side = (1.0 - 1e-12) / 2 * math.log1p((math.e - 1.0) * (1.0 - 1e-12))
    assert len(b.z) == 2 and b.z[1] == b.z[0]
    assert b.z[0] == pytest.approx(float(-special.ndtri(side)), rel=1e-6) and 0 < b.z[0] < 1e-11
    three = group_sequential_boundaries([1.0 - 1e-12, 1.0 - 5e-13, 1.0], alpha=1.0 - 1e-12, spending="pocock")
    assert len(three.z) == 3 and three.z[1] == three.z[2] == three.z[0]
    # ... and at a later look: nothing spent before t = 0.5 (power 1200), all but ~1e-16 spent at the second look
    late = group_sequential_boundaries(
        [0.5, 1.0 - 1e-15, 1.0 - 5e-16, 1.0], alpha=1.0 - 2.2e-16, spending="power", rho=1200.0
    )
    assert len(late.z) == 4 and late.z[0] == math.inf and 0 < late.z[1] < 1e-11
    assert late.z[1] == late.z[2] == late.z[3]


def test_fractions_must_increase_strictly_and_alpha_spending_names_itself() -> None:
    with pytest.raises(ParameterError, match=re.escape("group_sequential_boundaries must be strictly increasing")):
        group_sequential_boundaries([0.5, 0.5, 1.0])
    with pytest.raises(ParameterError, match=r"(?<![A-Za-z])alpha_spending(?![A-Za-z])"):
        alpha_spending([0.5], alpha=1.5)


def test_three_looks_with_two_nearly_coincident_ones() -> None:
    # Looks at 0.5 and 0.5001: the first carry's kernel is 0.014 wide in z, so the grid must be spread / 8 fine. The
    # overall crossing probability against Genz's integration with 10**7 points (error ~3e-8 here); a grid 1.5 times
    # coarser moves c_3 by 4e-5, the probability by 9e-6.
    t = np.array([0.5, 0.5001, 1.0])
    b = group_sequential_boundaries(t)
    c = np.array(b.z)
    mvn = scipy.stats.multivariate_normal(np.zeros(3), _joint_cov(t), maxpts=10**7, abseps=1e-10, releps=1e-10)
    crossed = 1.0 - mvn.cdf(c, lower_limit=-c, rng=np.random.default_rng(0))
    assert crossed == pytest.approx(b.cumulative_alpha[-1], abs=1e-6)
