"""Power and sample size: edges that mutation testing (``make mutate``) found untested.

References are independent of abrec: statsmodels' power classes and the normal / noncentral t
formulas written out with scipy. Each test names the mutants of ``abrec.abtest.power`` it kills.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pytest
from scipy import optimize, stats
from statsmodels.stats.power import TTestIndPower
from statsmodels.stats.proportion import power_proportions_2indep

from abrec.abtest import (
    cohens_h,
    mde_means,
    mde_proportions,
    mde_relative,
    optimal_allocation,
    power_means,
    power_proportions,
    power_relative,
    power_sequential,
    sample_size_means,
    sample_size_proportions,
    sample_size_relative,
    sample_size_sequential,
)
from abrec.errors import InputError, ParameterError

# Each public function with valid arguments, and the parameters it validates under its own name.
_CALLS: dict[str, tuple[Callable[..., Any], tuple[str, ...]]] = {
    "power_means": (partial(power_means, 0.1, 1.0, 100), ("sd", "n_control", "test")),
    "sample_size_means": (partial(sample_size_means, 0.1, 1.0), ("sd", "power", "test")),
    "mde_means": (partial(mde_means, 1.0, 100), ("sd", "n_control", "power", "test")),
    "power_proportions": (partial(power_proportions, 0.1, 0.12, 100), ("p_control", "n_control", "method")),
    "sample_size_proportions": (partial(sample_size_proportions, 0.1, 0.12), ("p_control", "power", "method")),
    "mde_proportions": (partial(mde_proportions, 0.1, 1000), ("p_control", "n_control", "power", "method")),
    "power_relative": (partial(power_relative, 0.05, 1.0, 1.0, 100), ("mean", "sd", "sd_treatment", "n_control")),
    "sample_size_relative": (partial(sample_size_relative, 0.05, 1.0, 1.0), ("mean", "sd", "sd_treatment", "power")),
    "mde_relative": (partial(mde_relative, 1.0, 1.0, 1000), ("mean", "sd", "sd_treatment", "n_control", "power")),
    "power_sequential": (
        partial(power_sequential, 0.1, 1.0, 100),
        ("sd", "n_control", "tuning_parameter", "tau_squared", "looks"),
    ),
    "sample_size_sequential": (
        partial(sample_size_sequential, 0.1, 1.0),
        ("sd", "power", "tuning_parameter", "tau_squared", "looks"),
    ),
}
_BAD: dict[str, Any] = {
    "alpha": 1.5,
    "alternative": "bigger",
    "ratio": 0.0,
    "convention": "nobody",
    "sd": 0.0,
    "n_control": 0.0,
    "power": 1.5,
    "test": "w",
    "method": "fisher",
    "mean": -1.0,
    "p_control": 1.5,
    "sd_treatment": -1.0,
    "tuning_parameter": 0.0,
    "tau_squared": 0.0,
    "looks": 0,
}
_POSITIONAL = {"sd", "n_control", "p_control", "mean"}  # given positionally: replaced through a fresh call below


def _call_with(owner: str, name: str, value: Any) -> None:
    fn, _ = _CALLS[owner]
    if name not in _POSITIONAL:
        fn(**{name: value})
        return
    func, args = fn.func, list(fn.args)  # type: ignore[attr-defined]
    order = {
        "power_means": ("effect", "sd", "n_control"),
        "sample_size_means": ("effect", "sd"),
        "mde_means": ("sd", "n_control"),
        "power_proportions": ("p_control", "p_treatment", "n_control"),
        "sample_size_proportions": ("p_control", "p_treatment"),
        "mde_proportions": ("p_control", "n_control"),
        "power_relative": ("lift", "mean", "sd", "n_control"),
        "sample_size_relative": ("lift", "mean", "sd"),
        "mde_relative": ("mean", "sd", "n_control"),
        "power_sequential": ("effect", "sd", "n_control"),
        "sample_size_sequential": ("effect", "sd"),
    }[owner]
    args[order.index(name)] = value
    func(*args)


@pytest.mark.parametrize("owner", list(_CALLS))
def test_errors_name_the_function_and_the_parameter(owner: str) -> None:
    # The owner string of every check_alpha / check_alternative / validate_params /
    # check_convention / _check_props / _check_relative / _check_sequential call (None, "XX..XX",
    # upper case), and each parameter's constraint.
    fn, own = _CALLS[owner]
    names = ["alpha", "alternative", "ratio", *own]
    if "proportions" in owner or "relative" in owner:
        names.append("convention")
    for name in names:
        with pytest.raises(ParameterError, match=rf"^The '{name}' parameter of {owner} must be"):
            _call_with(owner, name, _BAD[name])
    fn()  # the valid call goes through


@pytest.mark.parametrize(
    "owner", ["sample_size_means", "sample_size_proportions", "sample_size_relative", "sample_size_sequential"]
)
def test_effect_of_the_wrong_sign_names_the_function(owner: str) -> None:
    fn, _ = _CALLS[owner]
    with pytest.raises(InputError, match=rf"^{owner} needs an effect the alternative can detect"):
        fn(alternative="less")


@pytest.mark.parametrize("owner", ["power_sequential", "sample_size_sequential"])
def test_one_sided_sequential_alpha_names_the_function(owner: str) -> None:
    fn, _ = _CALLS[owner]
    with pytest.raises(ParameterError, match=rf"^The 'alpha' parameter of {owner} must be a float in \(0, 0.5\)"):
        fn(alternative="greater", alpha=0.5)
    fn(alpha=0.6)  # two-sided: any alpha in (0, 1)


def test_cohens_h_and_optimal_allocation_name_themselves() -> None:
    with pytest.raises(ParameterError, match=r"^The 'p_treatment' parameter of cohens_h must be"):
        cohens_h(0.1, 1.0)
    with pytest.raises(ParameterError, match=r"^The 'n_arms' parameter of optimal_allocation must be"):
        optimal_allocation(1)
    with pytest.raises(InputError, match=re.escape("optimal_allocation needs sd as 3 positive finite")):
        optimal_allocation(3, sd=[1.0, 2.0])


# ---------------------------------------------------------------------------- parameter ranges
def test_parameter_ranges_at_their_edges() -> None:
    # n_control > 1 for the means (open at 1: `closed="neither"` mutated or dropped; low 1 -> 2),
    # lift > -1 (open at -1; low -1 -> -2), n_arms an int >= 2 (kind mutated: 2.5 gets through; low
    # 2 -> 3), cohens_h's p_control checked (left out of _check_props), the relative functions'
    # conventions (statsmodels has no relative power: the allowed list dropped).
    with pytest.raises(ParameterError, match=r"'n_control' parameter of mde_means must be a float in \(1"):
        mde_means(1.0, 1.0)
    assert mde_means(1.0, 1.5) > 0
    for lift in (-1.0, -1.5):
        with pytest.raises(ParameterError, match=r"'lift' parameter of sample_size_relative must be a float in \(-1"):
            sample_size_relative(lift, 1.0, 1.0)
        with pytest.raises(ParameterError, match=r"'lift' parameter of power_relative must be a float in \(-1"):
            power_relative(lift, 1.0, 1.0, 100)
    with pytest.raises(ParameterError, match=r"'sd_treatment' parameter of power_relative must be a float in \(0"):
        power_relative(0.05, 1.0, 1.0, 100, sd_treatment=0.0)  # low_open=True mutated or dropped
    for n_arms in (2.5, 1):  # closed="left" mutated or dropped: the message reads [2, inf]
        with pytest.raises(
            ParameterError, match=r"'n_arms' parameter of optimal_allocation must be an int in \[2, inf\)\."
        ):
            optimal_allocation(n_arms)  # type: ignore[arg-type]
    assert optimal_allocation(2).tolist() == [0.5, 0.5]
    with pytest.raises(ParameterError, match=r"'p_control' parameter of cohens_h"):
        cohens_h(1.5, 0.1)
    with pytest.raises(ParameterError, match=r"'convention' parameter of sample_size_relative"):
        sample_size_relative(0.05, 1.0, 1.0, convention="statsmodels")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match=r"'convention' parameter of mde_relative"):
        mde_relative(1.0, 1.0, 100, convention="statsmodels")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("owner", "call"),
    [
        ("sample_size_means", lambda: sample_size_means(1e-9, 1.0)),
        ("sample_size_proportions", lambda: sample_size_proportions(0.1, 0.1 + 1e-9)),
        ("sample_size_relative", lambda: sample_size_relative(1e-9, 1.0, 1.0)),
        ("sample_size_sequential", lambda: sample_size_sequential(1e-9, 1.0)),
    ],
)
def test_out_of_reach_names_the_function(owner: str, call: Callable[[], int]) -> None:
    # _solve_n's owner argument (None, "XX..XX", upper case).
    with pytest.raises(InputError, match=rf"^{owner}: the target power is out of reach below 1e\+12"):
        call()


# ---------------------------------------------------------------------------- minimum detectable effects
@pytest.mark.parametrize(("sd", "n"), [(1.0, 100), (1.0, 3), (1e-9, 50), (1e6, 50)])
def test_mde_means_against_statsmodels(sd: float, n: float) -> None:
    # The default ratio 1 (-> 2), the bracket's doubling (needed when the MDE exceeds sd: `hi = 2.0`,
    # `/= 2` loop for ever), brentq's xtol relative to sd (dropped: 2e-12 absolute; `1e-12 / sd`).
    # statsmodels' solver stops at ~1e-6; the power at the MDE (scipy's noncentral t) pins it to 1e-10.
    d = mde_means(sd, n)
    ref = TTestIndPower().solve_power(nobs1=n, ratio=1.0, alpha=0.05, power=0.8, alternative="two-sided")
    assert d == pytest.approx(ref * sd, rel=1e-5)
    df, ncp = 2 * n - 2, d / sd * math.sqrt(n / 2)
    crit = stats.t.ppf(0.975, df)
    assert stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp) == pytest.approx(0.8, abs=1e-10)


def _power_2indep(p_c: float, p_t: float, n: float) -> float:
    return float(power_proportions_2indep(p_t - p_c, p_c, n, ratio=1.0, alpha=0.05, alternative="two-sided").power)


def test_mde_proportions_above_the_control_rate() -> None:
    # An increase larger than p_control itself: the room above is 1 - p_control (`alternative ==
    # "less"` -> `or True` would bracket at p_control and refuse).
    d = mde_proportions(0.1, 40)
    ref = optimize.brentq(lambda x: _power_2indep(0.1, 0.1 + x, 40) - 0.8, 1e-6, 0.9 - 1e-9, xtol=1e-14)
    assert d > 0.1 and d == pytest.approx(ref, rel=1e-7)


def _relative_power_less(lift: float, n: float, sd: float = 1.0, mean: float = 1.0) -> float:
    """GrowthBook's relative z test, 'less', at a relative change ``lift`` (< 0), written out."""
    mean_t = mean * (1 + lift)
    se = math.sqrt(sd**2 / (mean**2 * n) + sd**2 * mean_t**2 / (mean**4 * n))
    return float(stats.norm.cdf(-lift / se - stats.norm.ppf(0.95)))


def test_mde_relative_for_a_decrease() -> None:
    # 'less': the sign (-1 mutated to +1, -2, the condition), the bracket up to a -100% drop
    # (`hi = 1 - 1e-12` mutated to 0.01, -1e-12, or swapped with the other side).
    d = mde_relative(1.0, 1.0, 60, alternative="less")
    ref = optimize.brentq(lambda x: _relative_power_less(-x, 60) - 0.8, 1e-9, 1 - 1e-12, xtol=1e-14)
    assert d > 0.02 and d == pytest.approx(ref, rel=1e-8)


def test_mde_relative_refuses_a_drop_beyond_minus_100_percent() -> None:
    # n = 4, sd = mean: a -100% drop has power below 80% (z = 2 < 2.49), so no decrease reaches it;
    # a bracket beyond -1 (`2 - 1e-12`, or the 'less' test of the loop mutated) would return a
    # drop of more than 100%.
    assert _relative_power_less(-1 + 1e-12, 4) < 0.8
    with pytest.raises(InputError, match=r"^mde_relative: no lift reaches power 0.8"):
        mde_relative(1.0, 1.0, 4, alternative="less")


def test_mde_relative_needs_power_above_the_size() -> None:
    # `gap(0.0) >= 0` -> `> 0` (power equal to alpha) and `>= 1` (power below alpha).
    for power in (0.05, 0.01):
        with pytest.raises(InputError, match=r"^mde_relative needs power above the test's size"):
            mde_relative(1.0, 1.0, 100, power=power)


# ---------------------------------------------------------------------------- optimal allocation
def test_optimal_allocation_with_integer_and_zero_standard_deviations() -> None:
    # Integer sds are read as floats (dtype=np.float64 dropped: the in-place scaling of an int array
    # fails); a zero sd is refused (`sds > 0` -> `>= 0`). Shares from n_c : n_i = sd_c sqrt(k - 1) : sd_i.
    raw = np.array([1 * math.sqrt(2), 2.0, 3.0])
    np.testing.assert_allclose(optimal_allocation(3, sd=[1, 2, 3]), raw / raw.sum(), rtol=1e-12)
    with pytest.raises(InputError, match="positive finite"):
        optimal_allocation(2, sd=[0.0, 1.0])


# ---------------------------------------------------------------------------- the mSPRT read once
def _msprt_power_once(effect: float, n: float, tau2: float | None, tuning: float = 5000.0) -> float:
    """Johari et al.'s two-sided mSPRT read once at n per arm (sd 1, ratio 1, alpha 0.05), written out."""
    se = math.sqrt(2.0 / n)
    if tau2 is None:
        k = 2 * n * (-2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05))) / tuning
    else:
        k = tau2 / se**2
    half_width = math.sqrt((k + 1) / k * (math.log1p(k) - 2 * math.log(0.05)))
    z = effect / se
    return float(stats.norm.cdf(z - half_width) + stats.norm.cdf(-z - half_width))


@pytest.mark.parametrize("tau2", [None, 0.001])
def test_sample_size_sequential_against_the_msprt_formula(tau2: float | None) -> None:
    # tau_squared dropped from sample_size_sequential's power (-> None), and its default
    # tuning_parameter 5000 (-> 5001: the sample size moves by tens of units at this size).
    root = optimize.brentq(lambda n: _msprt_power_once(0.01, n, tau2) - 0.8, 2, 1e9, xtol=1e-9, rtol=1e-14)
    assert sample_size_sequential(0.01, 1.0, tau_squared=tau2) == math.ceil(root)
    if tau2 is None:
        other = optimize.brentq(lambda n: _msprt_power_once(0.01, n, None, 5001.0) - 0.8, 2, 1e9, rtol=1e-14)
        assert math.ceil(other) != math.ceil(root)


def test_relative_power_with_a_treatment_sd_below_one() -> None:
    # sd_treatment in (0, 1] is allowed (low 0 -> 1) and used: GrowthBook's variance with sd_t.
    se = math.sqrt(0.5**2 / (1.0 * 100) + 1.0 * 1.05**2 / 100)
    expected = stats.norm.cdf(0.05 / se - stats.norm.ppf(0.975)) + stats.norm.cdf(-0.05 / se - stats.norm.ppf(0.975))
    assert power_relative(0.05, 1.0, 1.0, 100, sd_treatment=0.5) == pytest.approx(expected, rel=1e-10)


def test_power_means_edges_and_the_default_ratio() -> None:
    # power_means' n_control > 1 (open at 1, low 1 -> 2), sample_size_means' default ratio 1
    # (-> 2; the smallest n whose noncentral-t power reaches 0.8), sample_size_proportions'
    # p_treatment checked (left out of _check_props).
    with pytest.raises(ParameterError, match=r"'n_control' parameter of power_means must be a float in \(1"):
        power_means(0.1, 1.0, 1.0)
    df, ncp = 1.0, 0.5 * math.sqrt(0.75)  # n_c = 1.5 per arm: df 1, ncp effect sqrt(n / 2)
    crit = stats.t.ppf(0.975, df)
    expected = stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp)
    assert power_means(0.5, 1.0, 1.5) == pytest.approx(expected, rel=1e-8)

    def t_power(n: float) -> float:
        df, ncp = 2 * n - 2, 0.1 * math.sqrt(n / 2)
        crit = stats.t.ppf(0.975, df)
        return float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))

    n = sample_size_means(0.1, 1.0)
    assert t_power(n) >= 0.8 > t_power(n - 1)
    with pytest.raises(ParameterError, match=r"'p_treatment' parameter of sample_size_proportions"):
        sample_size_proportions(0.1, 1.5)


def _z_power(effect: float, n: float) -> float:
    """Two-sided z test's power at n per arm, sd 1, alpha 0.05."""
    shift, crit = effect * math.sqrt(n / 2), stats.norm.ppf(0.975)
    return float(stats.norm.cdf(shift - crit) + stats.norm.cdf(-shift - crit))


@pytest.mark.parametrize(("effect", "expected"), [(10.0, 2), (2.5, 3), (1.0, 16)])
def test_sample_size_at_the_smallest_sizes(effect: float, expected: int) -> None:
    # _solve_n's floor n = 2 (`return 2` -> 3, `gap(lo) >= 0` -> `>= 1`: no bracket) and its first
    # bracket end (`lo = 3.0` would answer 2 where 3 is needed). The z test's power written out.
    n = sample_size_means(effect, 1.0, test="z")
    assert n == expected and _z_power(effect, n) >= 0.8
    if n > 2:
        assert _z_power(effect, n - 1) < 0.8


def test_effect_checks() -> None:
    # `effect == 0` -> `== 1`: a zero effect is refused by the sign check, and an effect of 1 is fine.
    with pytest.raises(InputError, match=r"^sample_size_means needs an effect the alternative can detect"):
        sample_size_means(0.0, 1.0)
    assert sample_size_means(1.0, 1.0, test="z") == 16


def test_power_sequential_edges_and_default_tuning() -> None:
    # n_control > 1 (open at 1; low 1 -> 2), the default tuning_parameter 5000 (-> 5001), against
    # the mSPRT read once written out.
    with pytest.raises(ParameterError, match=r"'n_control' parameter of power_sequential must be a float in \(1"):
        power_sequential(0.1, 1.0, 1.0)
    assert power_sequential(0.5, 1.0, 1.5) == pytest.approx(_msprt_power_once(0.5, 1.5, None), rel=1e-10)
    assert power_sequential(0.01, 1.0, 200_000) == pytest.approx(_msprt_power_once(0.01, 200_000, None), rel=1e-10)


def test_power_sequential_two_looks_against_the_bivariate_normal() -> None:
    # looks=2: the crossing probability by the recursive integration against scipy's bivariate normal
    # rectangle probability of the scores (S1, S2) ~ N(0, [[I1, I1], [I1, I2]]) under the null
    # (Simpson's end weights mutated: `w[0]` -> `w[1]` moves it by 4e-6).
    n = 2000.0
    info = np.array([n / 4, n / 2])  # 1 / (1 / n_c + 1 / n_t) at n_c = n / 2 and n
    rho2 = (-2 * math.log(0.05) + math.log(1 - 2 * math.log(0.05))) / 5000.0
    k = 2 * np.array([n / 2, n]) * rho2
    bound = np.sqrt((k + 1) / k * (np.log1p(k) - 2 * math.log(0.05))) * np.sqrt(info)
    cov = np.array([[info[0], info[0]], [info[0], info[1]]])
    inside = stats.multivariate_normal(np.zeros(2), cov, abseps=1e-13, releps=1e-13, seed=0).cdf(
        bound, lower_limit=-bound
    )
    assert power_sequential(0.0, 1.0, n, looks=2) == pytest.approx(1 - inside, abs=1e-9)


def _mvn_power(effect: float, n: float, looks: int, alternative: str) -> float:
    """P(the mSPRT rejects at one of ``looks`` equal looks): scipy's multivariate normal of the scores
    S_j ~ N(effect I_j, I_j), cov(S_i, S_j) = I_min(i, j), against the boundaries (sd 1, ratio 1)."""
    n_c = n * np.arange(1, looks + 1) / looks
    info = n_c / 2
    a = 0.05 if alternative == "two-sided" else 0.1
    k = 2 * n_c * (-2 * math.log(a) + math.log(1 - 2 * math.log(a))) / 5000.0
    if alternative == "two-sided":
        half_width = np.sqrt((k + 1) / k * (np.log1p(k) - 2 * math.log(0.05)))
    else:
        half_width = np.sqrt(2 * (k + 1) / k * np.log1p(np.sqrt(k + 1) / (2 * 0.05)))
    bound = half_width * np.sqrt(info)
    mvn = stats.multivariate_normal(
        effect * info, np.minimum.outer(info, info), abseps=1e-13, releps=1e-13, maxpts=10**7, seed=0
    )
    inside = mvn.cdf(bound, lower_limit=-bound) if alternative == "two-sided" else mvn.cdf(bound)
    return float(1 - inside)


@pytest.mark.parametrize(
    ("effect", "looks", "alternative", "tol"),
    [(0.0, 3, "two-sided", 1e-9), (0.05, 2, "greater", 1e-7), (0.05, 3, "greater", 1e-7)],
)
def test_power_sequential_several_looks_against_the_multivariate_normal(
    effect: float, looks: int, alternative: str, tol: float
) -> None:
    # One-sided looks: the lower end of the integration grid (12 sd below the drift or the bound:
    # the condition, the operators, the arguments of min mutated); three looks: the grid of the
    # middle look (its point count). The reference is scipy's multivariate normal (Genz).
    assert power_sequential(effect, 1.0, 2000.0, looks=looks, alternative=alternative) == pytest.approx(  # type: ignore[arg-type]
        _mvn_power(effect, 2000.0, looks, alternative), abs=tol
    )


def test_looks_is_an_int_up_to_ten_thousand() -> None:
    # The looks constraint's kind (1.5 would pass as a float range) and its upper end 10,000.
    for looks in (1.5, 10_001):
        with pytest.raises(
            ParameterError, match=r"'looks' parameter of power_sequential must be an int in \[1, 10000\]"
        ):
            power_sequential(0.1, 1.0, 100, looks=looks)  # type: ignore[arg-type]


def test_power_sequential_five_looks_one_sided_against_the_multivariate_normal() -> None:
    # Five one-sided looks with a fixed tau_squared: the point count of the later grids
    # (`// 2 * 2 + 1` -> `// 2 * 3 + 1` moves the power by 9e-4; the reference agrees to 1e-7).
    n, looks, effect, tau2 = 200.0, 5, 0.2, 0.01
    info = n * np.arange(1, looks + 1) / looks / 2
    k = tau2 * info
    bound = np.sqrt(2 * (k + 1) / k * np.log1p(np.sqrt(k + 1) / (2 * 0.05))) * np.sqrt(info)
    mvn = stats.multivariate_normal(
        effect * info, np.minimum.outer(info, info), abseps=1e-9, releps=1e-9, maxpts=10**7, seed=0
    )
    power = power_sequential(effect, 1.0, n, looks=looks, alternative="greater", tau_squared=tau2)
    assert power == pytest.approx(1 - mvn.cdf(bound), abs=1e-6)
