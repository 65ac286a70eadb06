"""mSPRT: edges that mutation testing (``make mutate``) found untested in ``abrec.abtest.sequential``.

Each test names the mutants it kills. The references are gbstats' formulas (growthbook/growthbook
``packages/stats/gbstats/frequentist/tests.py``: ``sequential_rho``, ``sequential_interval_halfwidth_one_sided``
and the one-sided ``compute_p_value``, whose bisection is replaced here by scipy's root finder on the same
boundary), computed independently of the module, and the exact error messages a user sees.
"""

from __future__ import annotations

import math
import re
import warnings

import numpy as np
import pytest
from scipy import optimize

from abrec.abtest import Moments, sequential_test
from abrec.abtest.sequential import GBSTATS_P_RANGE, mixture_k, msprt_half_width, msprt_p_value
from abrec.errors import InputError, ParameterError

ALPHA = 0.05


def gbstats_rho2(alpha: float, tuning: float, two_sided: bool) -> float:
    """gbstats ``sequential_rho`` squared: ``a = alpha`` two-sided, ``2 alpha`` one-sided."""
    a = alpha if two_sided else 2 * alpha
    return (-2 * math.log(a) + math.log(-2 * math.log(a) + 1)) / tuning


def gbstats_one_sided_halfwidth(s2: float, n: float, alpha: float, rho2: float) -> float:
    """gbstats ``sequential_interval_halfwidth_one_sided`` (Waudby-Smith et al. eq. 134)."""
    return math.sqrt(s2 * 2 * (n * rho2 + 1) / (n**2 * rho2) * math.log(1 + math.sqrt(n * rho2 + 1) / (2 * alpha)))


def gbstats_two_sided_halfwidth(s2: float, n: float, alpha: float, rho2: float) -> float:
    """gbstats ``sequential_interval_halfwidth`` (Waudby-Smith et al. eq. 9)."""
    return math.sqrt(s2 * 2 * (n * rho2 + 1) * math.log(math.sqrt(n * rho2 + 1) / alpha) / (n**2 * rho2))


def one_sided_p_reference(z: float, k: float) -> float:
    """The smallest alpha at which the one-sided ('greater') boundary at ``z`` standard errors excludes 0.

    With ``n = 1``, ``rho**2 = k`` and ``se = 1`` gbstats' boundary is ``z - halfwidth(alpha)``; the
    half-width falls as alpha grows, so the p-value is the root of ``halfwidth(alpha) = z`` (1 when even
    alpha = 1 leaves 0 inside, as for ``z <= 0``).
    """

    def excess(log_alpha: float) -> float:
        return gbstats_one_sided_halfwidth(1.0, 1.0, math.exp(log_alpha), k) - z

    if excess(0.0) >= 0:
        return 1.0
    return math.exp(optimize.brentq(excess, math.log(1e-300), 0.0, xtol=1e-14, rtol=1e-14))


# ------------------------------------------------------------------------- the mixture and the half-width


@pytest.mark.parametrize("n", [200.0, 5000.0, 12000.0])
def test_mixture_k_is_gbstats_n_rho_squared_and_defaults_to_two_sided(n: float) -> None:
    # _rho_squared: `or True` (one-sided with a = alpha), `2.0 * alpha` -> `3.0 * alpha`;
    # mixture_k: default "two-sided" -> "XXtwo-sidedXX" / "TWO-SIDED" (the default would be one-sided)
    tuning = 5000.0
    assert mixture_k(n, ALPHA, tuning) == pytest.approx(n * gbstats_rho2(ALPHA, tuning, True), rel=1e-12)
    for alternative in ("greater", "less"):
        want = n * gbstats_rho2(ALPHA, tuning, False)
        assert mixture_k(n, ALPHA, tuning, alternative) == pytest.approx(want, rel=1e-12)
    assert mixture_k(n, ALPHA, tuning) != pytest.approx(mixture_k(n, ALPHA, tuning, "greater"), rel=1e-3)


def test_half_width_keeps_arrays_and_returns_plain_floats() -> None:
    # `isinstance(k, np.ndarray) and False` (float() of a 2-array raises); `or True` (np.float64 for a float)
    k = np.array([2.0, 8.0])
    for alternative in ("two-sided", "greater"):
        out = msprt_half_width(k, ALPHA, alternative)
        assert isinstance(out, np.ndarray) and out.shape == (2,)
        one = msprt_half_width(8.0, ALPHA, alternative)
        assert type(one) is float and repr(one) == repr(float(out[1]))
        assert one == pytest.approx(float(out[1]), rel=1e-15)


# ------------------------------------------------------------------------- msprt_p_value


@pytest.mark.parametrize("k", [0.3, 1.0, 3.0, 8.0, 40.0])
def test_one_sided_p_value_is_the_root_of_gbstats_boundary(k: float) -> None:
    # `(k + 1.0)` -> `(k - 1.0)`; `q > 0` -> `q > 1` (k = 1, z = 2: q = 1 and p = 0.41);
    # `np.minimum(1.0, raw)` -> `np.minimum(2.0, raw)` (raw in (1, 2], e.g. k = 1, z = 1.5)
    z = np.array([0.5, 1.0, 1.2, 1.5, 2.0, 2.5, 3.5, 5.0, 7.0])
    want = np.array([one_sided_p_reference(float(v), k) for v in z])
    assert np.allclose(msprt_p_value(z, k, "greater"), want, rtol=1e-9, atol=0)
    assert np.allclose(msprt_p_value(-z, k, "less"), want, rtol=1e-9, atol=0)
    assert np.all(msprt_p_value(-z, k, "greater") == 1.0) and np.all(msprt_p_value(z, k, "less") == 1.0)


def test_one_sided_p_value_below_one_at_q_up_to_one() -> None:
    # `q > 0` -> `q > 1`: with k = 1 and z = 2, q = k z**2 / (2 (k + 1)) = 1 exactly
    assert msprt_p_value(2.0, 1.0, "greater") == pytest.approx(math.sqrt(2.0) / (2.0 * math.expm1(1.0)), rel=1e-12)
    assert msprt_p_value(2.0, 1.0, "greater") == pytest.approx(one_sided_p_reference(2.0, 1.0), rel=1e-9)


def test_two_sided_p_value_is_capped_at_one() -> None:
    # `np.minimum(1.0, ...)` -> `np.minimum(2.0, ...)`: at z = 0, 1 / Lambda = sqrt(k + 1) > 1
    for k in (0.5, 3.0, 8.0):
        assert msprt_p_value(0.0, k, "two-sided") == 1.0
        assert msprt_p_value(0.5, k, "two-sided") == 1.0


def test_one_sided_p_value_at_zero_is_silent() -> None:
    # errstate(divide="ignore") -> divide=None / dropped: at z = 0, expm1(q) = 0 and the division warns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert msprt_p_value(0.0, 8.0, "greater") == 1.0
        assert msprt_p_value(np.array([0.0, -0.0, 1e-200]), 8.0, "less").tolist() == [1.0, 1.0, 1.0]


def test_gbstats_one_sided_p_value_is_clipped_to_its_bisection_range() -> None:
    # `convention == "gbstats"` -> "XXgbstatsXX" / "GBSTATS"; `p = None`; `np.clip(None, ...)`;
    # `np.clip(*GBSTATS_P_RANGE)`; `np.clip(p, )`
    k = mixture_k(5000.0, ALPHA, 5000.0, "greater")
    low, high = GBSTATS_P_RANGE
    assert (low, high) == (1e-5, 0.4999)
    got = msprt_p_value(np.array([-3.0, 3.0, 8.0]), k, "greater", convention="gbstats")
    assert isinstance(got, np.ndarray) and got.dtype == np.float64
    assert got[0] == high and got[2] == low
    assert got[1] == pytest.approx(one_sided_p_reference(3.0, k), rel=1e-9)
    assert msprt_p_value(-3.0, k, "greater", convention="gbstats") == high
    assert msprt_p_value(8.0, k, "greater", convention="gbstats") == low
    assert msprt_p_value(-3.0, k, "greater") == 1.0 and msprt_p_value(8.0, k, "greater") < low


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_p_value_of_a_nan_statistic_is_nan(alternative: str) -> None:
    # `np.where(None, np.nan, p)` (one-sided gave 1); `np.where(np.isnan(z), None, p)` (an object array)
    for convention in ("abrec", "gbstats"):
        p = msprt_p_value(math.nan, 8.0, alternative, convention)
        assert type(p) is float and math.isnan(p)
        z = -3.0 if alternative == "less" else 3.0  # evidence on the tested side
        arr = msprt_p_value(np.array([math.nan, z]), 8.0, alternative, convention)
        assert arr.dtype == np.float64 and math.isnan(arr[0]) and 0.0 < arr[1] < 1.0


def test_p_value_keeps_arrays_of_either_argument() -> None:
    # `(... or ...) and False` and `or` -> `and`: an array z with a float k, or the reverse, stays an array
    k = 8.0
    for alternative in ("two-sided", "greater"):
        by_z = msprt_p_value(np.array([1.0, 3.0]), k, alternative)
        by_k = msprt_p_value(3.0, np.array([2.0, 8.0]), alternative)
        assert isinstance(by_z, np.ndarray) and by_z.shape == (2,)
        assert isinstance(by_k, np.ndarray) and by_k.shape == (2,)
        assert by_z[1] == by_k[1] == msprt_p_value(3.0, k, alternative)
        assert type(msprt_p_value(3.0, k, alternative)) is float


# ------------------------------------------------------------------------- sequential_test


def _expected_ci(c: Moments, t: Moments, tuning: float, alternative: str) -> tuple[float, float]:
    n = c.n + t.n
    se2 = c.variance / c.n + t.variance / t.n
    effect = t.mean - c.mean
    if alternative == "two-sided":
        half = gbstats_two_sided_halfwidth(se2 * n, n, ALPHA, gbstats_rho2(ALPHA, tuning, True))
        return effect - half, effect + half
    half = gbstats_one_sided_halfwidth(se2 * n, n, ALPHA, gbstats_rho2(ALPHA, tuning, False))
    return (effect - half, math.inf) if alternative == "greater" else (-math.inf, effect + half)


def test_default_tuning_parameter_is_gbstats_5000() -> None:
    # default tuning_parameter 5000.0 -> 5001.0
    c, t = Moments(1500, 1.0, 4.0), Moments(1700, 1.2, 4.5)
    r = sequential_test(c, t)
    assert tuple(r.ci)[:2] == pytest.approx(_expected_ci(c, t, 5000.0, "two-sided"), rel=1e-12)


@pytest.mark.parametrize("alternative", ["greater", "less"])
def test_one_sided_test_uses_the_one_sided_mixture(alternative: str) -> None:
    # mixture_k(..., alternative) -> mixture_k(...) (the two-sided rho with a = alpha)
    c, t = Moments(1500, 1.0, 4.0), Moments(1700, 1.2, 4.5)
    r = sequential_test(c, t, alternative=alternative, tuning_parameter=3000.0)  # type: ignore[arg-type]
    low, high = _expected_ci(c, t, 3000.0, alternative)
    assert (r.ci.low, r.ci.high) == pytest.approx((low, high), rel=1e-12)


def test_gbstats_convention_reads_binary_arms_and_clips_one_sided_p() -> None:
    # arms_for(None, ...) (the n - 1 variance of 0/1 data), check_convention's allowed ("abrec", "XXgbstatsXX"),
    # msprt_p_value(..., None) / default convention, build_result(convention=None / default)
    nc, kc, nt, kt = 400, 40, 420, 60
    c = Moments(nc, kc / nc, kc * (nc - kc) / (nc * (nc - 1)))  # the sample variance of the 0/1 values
    t = Moments(nt, kt / nt, kt * (nt - kt) / (nt * (nt - 1)))
    pc, pt = kc / nc, kt / nt
    se = math.sqrt(pc * (1 - pc) / nc + pt * (1 - pt) / nt)  # gbstats' ProportionStatistic: p (1 - p)
    r = sequential_test(c, t, convention="gbstats")
    assert r.convention == "gbstats" and r.standard_error == pytest.approx(se, rel=1e-12)
    assert sequential_test(c, t).standard_error != pytest.approx(se, rel=1e-6)
    wrong_way = sequential_test(c, t, alternative="less", convention="gbstats")
    assert wrong_way.p_value == 0.4999 and wrong_way.convention == "gbstats"
    assert sequential_test(c, t, alternative="less").p_value == 1.0


def test_gbstats_refusals_only_under_gbstats() -> None:
    # refused = None / `and False` / `or True` / `!=` / "XXgbstatsXX" / "GBSTATS";
    # gbstats_refusal(None, t) / (c, None) / (t) / (c, ); build_result(undefined=None / default)
    c, t = Moments(50, 0.0, 0.0), Moments(50, 0.5, 0.25)
    r = sequential_test(c, t, convention="gbstats")
    assert math.isnan(r.p_value) and math.isnan(r.standard_error) and math.isnan(r.ci.low)
    assert r.note == "no result under convention='gbstats': an arm's variance is 0 (gbstats' ZERO_NEGATIVE_VARIANCE)"
    mean_zero = sequential_test(Moments(50, 0.0, 1.0), t, convention="gbstats")
    assert math.isnan(mean_zero.p_value) and "BASELINE_VARIATION_ZERO" in mean_zero.note
    plain = sequential_test(c, t)  # abrec reads the same arms: a finite p-value, no refusal
    assert 0.0 < plain.p_value <= 1.0 and "gbstats" not in plain.note
    both = sequential_test(Moments(50, 1.0, 1.0), t, convention="gbstats")
    assert 0.0 < both.p_value <= 1.0 and both.note == ""


def test_tau_squared_with_constant_arms_gives_nan_not_an_error() -> None:
    # `variance > 0 or True` and `variance >= 0`: tau_squared / 0.0 raises ZeroDivisionError
    r = sequential_test(Moments(10, 1.0, 0.0), Moments(10, 1.5, 0.0), tau_squared=0.1)
    assert r.effect == 0.5 and r.standard_error == 0.0
    assert math.isnan(r.p_value) and math.isnan(r.ci.low) and "standard error is 0" in r.note


# ------------------------------------------------------------------------- what the user reads


C, T = Moments(100, 1.0, 1.0), Moments(100, 1.1, 1.0)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        # check_alpha("sequential_test") -> None / "XXsequential_testXX" / "SEQUENTIAL_TEST"
        ({"alpha": 2.0}, "The 'alpha' parameter of sequential_test must be a float in (0, 1). Got 2.0 instead."),
        # check_alternative(...) the same three
        (
            {"alternative": "x"},
            "The 'alternative' parameter of sequential_test must be a str among {'two-sided', 'greater', 'less'}. "
            "Got 'x' instead.",
        ),
        # check_convention(...) the same three, and without its allowed tuple (every convention accepted)
        (
            {"convention": "spotify"},
            "The 'convention' parameter of sequential_test must be a str among {'abrec', 'gbstats'}. "
            "Got 'spotify' instead.",
        ),
        # `alpha >= 0.5` -> `alpha > 0.5`: alpha = 0.5 one-sided is refused
        (
            {"alpha": 0.5, "alternative": "greater"},
            "The 'alpha' parameter of sequential_test must be a float in (0, 0.5). Got 0.5 instead.",
        ),
    ],
)
def test_parameter_errors_name_sequential_test(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ParameterError, match=f"^{re.escape(message)}"):
        sequential_test(C, T, **kwargs)  # type: ignore[arg-type]


def test_input_error_names_sequential_test() -> None:
    # check_summaries("sequential_test") -> None / "XXsequential_testXX" / "SEQUENTIAL_TEST"
    message = "sequential_test needs at least 2 units in each arm; the control arm has 1. Collect more data"
    with pytest.raises(InputError, match=f"^{re.escape(message)}"):
        sequential_test(Moments(1, 1.0, 0.0), T)
