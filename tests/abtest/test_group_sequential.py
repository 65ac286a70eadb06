"""Group-sequential designs: boundaries equal rpact's, gsDesign's and Spotify's; overall alpha held under peeking."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.stats

from abrec.abtest import (
    Moments,
    SampleStats,
    alpha_spending,
    group_sequential_boundaries,
    group_sequential_test,
    ztest,
)
from abrec.errors import InputError, ParameterError

# rpact tests/testthat/test-f_design_group_sequential.R (getDesignGroupSequential / getDesignInverseNormal, one-sided,
# non-binding futility so the efficacy bounds ignore it); rpact compares these at tolerance 1e-7.
RPACT = [
    # (typeOfDesign, gamma, alpha, informationRates, criticalValues, alphaSpent)
    ("obrien-fleming", 2.0, 0.13, [0.4, 0.75, 1], [2.1280732, 1.4368565, 1.2468994], [0.016665509, 0.080406163, 0.13]),
    ("obrien-fleming", 2.0, 0.13, [0.4, 0.75, 0.85, 1], [2.1280732, 1.4368565, 1.422873, 1.2970881],
     [0.016665509, 0.080406163, 0.10053322, 0.13]),
    ("pocock", 2.0, 0.13, [0.35, 0.7, 1], [1.5446617, 1.4828682, 1.4620058], [0.061214062, 0.10266465, 0.13]),
    ("pocock", 2.0, 0.025, [0.4, 0.7], [2.223875, 2.3050796], [0.013078429, 0.0197432]),  # last look at t = 0.7
    ("power", 2.2, 0.03, [0.3, 0.7, 1], [2.8594012, 2.2435708, 1.9735737], [0.0021222083, 0.013687904, 0.03]),  # asKD
    ("power", 1.0, 0.03, [0.2, 0.4, 1], [2.5121443, 2.4228747, 2.0280392], [0.006, 0.012, 0.03]),  # asHSD gamma 0
]  # fmt: skip


@pytest.mark.parametrize(("spending", "rho", "alpha", "t", "z", "spent"), RPACT)
def test_boundaries_equal_rpact(
    spending: str, rho: float, alpha: float, t: list[float], z: list[float], spent: list[float]
) -> None:
    b = group_sequential_boundaries(t, alpha=alpha, alternative="greater", spending=spending, rho=rho)  # type: ignore[arg-type]
    np.testing.assert_allclose(b.z, z, rtol=2e-7)
    np.testing.assert_allclose(b.cumulative_alpha, spent, rtol=1e-6)
    np.testing.assert_allclose(alpha_spending(t, alpha=alpha, spending=spending, rho=rho), spent, rtol=1e-6)  # type: ignore[arg-type]
    np.testing.assert_allclose(b.nominal_alpha, scipy.stats.norm.sf(z), rtol=1e-5)  # rpact's stageLevels
    less = group_sequential_boundaries(t, alpha=alpha, alternative="less", spending=spending, rho=rho)  # type: ignore[arg-type]
    assert less.z == b.z


def test_two_sided_obrien_fleming_and_pocock_five_looks() -> None:
    t = [0.2, 0.4, 0.6, 0.8, 1.0]
    # Lan-DeMets O'Brien-Fleming-type, 5 equally spaced looks, two-sided 0.05 (0.025 per side): the published table
    # (ldbounds / gsDesign test.type = 2, sfLDOF; DeMets and Lan 1994) to its 3 decimals
    obf = group_sequential_boundaries(t)
    np.testing.assert_allclose(obf.z, [4.877, 3.357, 2.680, 2.290, 2.031], atol=5e-4)
    # gsDesign's default one-sided design, k = 3, alpha 0.025, sfLDOF (printed to 4 decimals)
    np.testing.assert_allclose(
        group_sequential_boundaries([1 / 3, 2 / 3, 1], alpha=0.025, alternative="greater").z,
        [3.7103, 2.5114, 1.9930],
        atol=5e-5,
    )
    pocock = group_sequential_boundaries(t, spending="pocock")
    assert obf.cumulative_alpha[-1] == pytest.approx(0.05) and pocock.cumulative_alpha[-1] == pytest.approx(0.05)
    # Pocock-type boundaries are nearly flat; independent check below by Genz's multivariate normal integration
    assert max(pocock.z) - min(pocock.z) < 0.06 and 2.38 < pocock.z[-1] < 2.44


@pytest.mark.parametrize("spending", ["obrien-fleming", "pocock"])
def test_crossing_probabilities_equal_multivariate_normal(spending: str) -> None:
    """The recursion against scipy's multivariate normal CDF (Genz), Z_k with correlation sqrt(t_j / t_k)."""
    t = np.array([0.25, 0.45, 0.8, 1.0])
    b = group_sequential_boundaries(t, spending=spending)  # type: ignore[arg-type]
    c = np.array(b.z)
    cov = np.sqrt(np.minimum.outer(t, t) / np.maximum.outer(t, t))
    inside = scipy.stats.multivariate_normal(np.zeros(4), cov).cdf(c, lower_limit=-c, rng=np.random.default_rng(0))
    assert 1.0 - inside == pytest.approx(b.cumulative_alpha[-1], abs=2e-5)
    one_sided = group_sequential_boundaries(t[:3], alpha=0.025, alternative="greater", spending=spending)  # type: ignore[arg-type]
    c3 = np.array(one_sided.z)
    below = scipy.stats.multivariate_normal(np.zeros(3), cov[:3, :3]).cdf(c3, rng=np.random.default_rng(0))
    assert 1.0 - below == pytest.approx(one_sided.cumulative_alpha[-1], abs=2e-5)


def test_spotify_power_spending_adjusted_alpha() -> None:
    # spotify/confidence tests/frequentist/test_bounds.py::test_seq_bounds_run_over: power spending rho = 2
    # (z_test_computer.sequential_bounds), two-sided alpha 0.01, looks at 250, 450, 630, 810 of max(810, 300) units
    b = group_sequential_boundaries(np.array([250, 450, 630, 810]) / 810, alpha=0.01, spending="power", rho=2.0)
    np.testing.assert_allclose(b.nominal_alpha, [0.00095, 0.00241, 0.00410, 0.00636], atol=1e-4)


def test_one_final_look_is_the_fixed_horizon_z_test() -> None:
    c, t = Moments(3000, 1.0, 2.0), Moments(2800, 1.1, 2.5)
    for alternative in ("two-sided", "greater", "less"):
        r = group_sequential_test([(c, t)], information_fractions=[1.0], alternative=alternative)  # type: ignore[arg-type]
        z = ztest(c, t, alternative=alternative)  # type: ignore[arg-type]
        assert r.boundary == pytest.approx(scipy.stats.norm.ppf(0.975 if alternative == "two-sided" else 0.95))
        assert r.p_value == pytest.approx(z.p_value, rel=1e-12) and r.nominal_alpha == pytest.approx(0.05)
        np.testing.assert_allclose(tuple(r.ci), tuple(z.ci), rtol=1e-9)
        assert r.significant == z.significant


def test_test_reads_mergeable_looks_and_reports_repeated_intervals() -> None:
    rng = np.random.default_rng(1)
    batches = [(rng.normal(1.0, 1.0, 500), rng.normal(1.12, 1.0, 500)) for _ in range(4)]
    looks, c, t = [], SampleStats(0, 0.0, 0.0), SampleStats(0, 0.0, 0.0)
    for a, b in batches:  # each look adds a day's statistics to the running sums
        c, t = c + SampleStats.from_values(a), t + SampleStats.from_values(b)
        looks.append((c, t))
    r = group_sequential_test(looks, planned_units=4000)
    design = group_sequential_boundaries([0.25, 0.5, 0.75, 1.0])
    assert r.boundaries == design and r.look == 4 and r.information_fraction == 1.0
    assert r.boundary == design.z[-1] and r.nominal_alpha == design.nominal_alpha[-1]
    expected = [(y.mean - x.mean) / math.sqrt(x.variance / x.n + y.variance / y.n) for x, y in looks]
    np.testing.assert_allclose(r.statistics, expected, rtol=1e-12)
    crossed = [k + 1 for k, z in enumerate(expected) if abs(z) >= design.z[k]]
    assert r.rejected_at == (crossed[0] if crossed else None) and r.significant == bool(crossed)
    assert r.ci.low == pytest.approx(r.effect - r.boundary * r.standard_error, rel=1e-12)
    assert r.confidence_interval().level == 0.95 and r.confidence_interval(relative=True) == r.relative_ci
    # an overrun ends the design: the fraction is n_k / max(planned, n_last) (Spotify's confidence)
    over = group_sequential_test(looks[:2], planned_units=1000)
    assert over.information_fraction == 1.0 and over.boundaries.information_fractions == (0.5, 1.0)
    # a look that spends nothing has an infinite boundary and never rejects
    early = group_sequential_boundaries([1e-4, 1.0])
    assert early.z[0] == math.inf and early.nominal_alpha[0] == 0.0 and not early.rejects(1, 50.0)
    assert early.z[1] == pytest.approx(scipy.stats.norm.ppf(0.975), abs=1e-6)


def _cumulative_looks(
    rng: np.random.Generator, sims: int, looks: int, batch: int
) -> tuple[list[list[tuple[SampleStats, SampleStats]]], np.ndarray]:
    """Cumulative A/A statistics of ``sims`` experiments after each of ``looks`` equal batches, and their z's."""
    x = rng.normal(0.0, 1.0, (2, sims, looks, batch))
    sums = np.cumsum(x.sum(-1), axis=-1)
    squares = np.cumsum((x * x).sum(-1), axis=-1)
    n = batch * np.arange(1, looks + 1)
    means = sums / n
    var = (squares - sums * means) / (n - 1)
    z = (means[1] - means[0]) / np.sqrt(var[0] / n + var[1] / n)

    def arm(j: int, i: int, k: int) -> SampleStats:
        return SampleStats(int(n[k]), float(sums[j, i, k]), float(squares[j, i, k]))

    return [[(arm(0, i, k), arm(1, i, k)) for k in range(looks)] for i in range(sims)], z


def test_aa_overall_false_positive_rate_at_alpha_and_naive_peeking_inflated() -> None:
    sims, looks, alpha = 4000, 5, 0.05
    experiments, z = _cumulative_looks(np.random.default_rng(2), sims, looks, 200)
    lo, hi = scipy.stats.binom.ppf([0.005, 0.995], sims, alpha) / sims
    planned = 2 * 200 * looks
    obf = np.mean([group_sequential_test(e, planned_units=planned).significant for e in experiments])
    pocock = np.mean(
        [group_sequential_test(e, planned_units=planned, alternative="greater", spending="pocock").significant
         for e in experiments]
    )  # fmt: skip
    naive = np.mean((np.abs(z) >= scipy.stats.norm.ppf(1 - alpha / 2)).any(axis=1))  # fixed-horizon test at each look
    print(
        f"A/A, {looks} looks, {sims} runs (band [{lo:.4f}, {hi:.4f}]): O'Brien-Fleming two-sided {obf:.4f}, "
        f"Pocock one-sided {pocock:.4f}, naive per-look test {naive:.4f}"
    )
    assert lo <= obf <= hi, obf
    assert lo <= pocock <= hi, pocock
    assert naive > 0.11, naive  # Armitage, McPherson and Rowe: about 0.142 for five looks


def test_parameters_and_inputs_are_checked() -> None:
    s = SampleStats(10, 10.0, 20.0)
    with pytest.raises(ParameterError, match="strictly increasing floats in"):
        group_sequential_boundaries([0.5, 0.4, 1.0])
    with pytest.raises(ParameterError, match="strictly increasing floats in"):
        group_sequential_boundaries([0.0, 1.0])
    with pytest.raises(ParameterError, match="Did you mean 'pocock'"):
        group_sequential_boundaries([1.0], spending="pocok")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="'rho' parameter"):
        group_sequential_boundaries([1.0], spending="power", rho=0.0)
    with pytest.raises(ParameterError, match="exactly one of 'planned_units'"):
        group_sequential_test([(s, s)])
    with pytest.raises(ParameterError, match="exactly one of 'planned_units'"):
        group_sequential_test([(s, s)], planned_units=40, information_fractions=[1.0])
    with pytest.raises(InputError, match="at least one look"):
        group_sequential_test([], planned_units=40)
    with pytest.raises(InputError, match="more units than the look before"):
        group_sequential_test([(s, s), (s, s)], planned_units=40)
    with pytest.raises(InputError, match="only 1 information fractions"):
        group_sequential_test([(s, s), (s + s, s + s)], information_fractions=[0.5])
    with pytest.raises(InputError, match="in \\[0, 1\\]"):
        alpha_spending([1.5])
