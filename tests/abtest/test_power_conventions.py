"""``convention=`` in the power functions: pooled vs unpooled null variance, relative lift with or without
the control's uncertainty, each against statsmodels' ``normal_power_het`` (the normal power with one standard
deviation under the null and another under the alternative) and by simulation of the test it plans for."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import normal_power_het
from statsmodels.stats.proportion import power_proportions_2indep

from abrec.abtest import (
    SampleStats,
    mde_proportions,
    mde_relative,
    power_proportions,
    power_relative,
    proportions_ztest,
    sample_size_proportions,
    sample_size_relative,
)
from abrec.errors import ParameterError

# (p_c, p_t, n_c, ratio, alternative): small samples, unequal arms, rates near 0, one-sided tests.
PROPORTION_CASES = [
    (0.10, 0.12, 3841, 1.0, "two-sided"),
    (0.02, 0.035, 900, 2.5, "two-sided"),
    (0.50, 0.56, 120, 0.5, "greater"),
    (0.30, 0.22, 60, 1.0, "less"),
    (0.001, 0.004, 5000, 3.0, "two-sided"),
    (0.80, 0.83, 2000, 1.0, "greater"),
]


@pytest.mark.parametrize(("p_c", "p_t", "n_c", "ratio", "alternative"), PROPORTION_CASES)
def test_unpooled_power_is_statsmodels_normal_power_het(
    p_c: float, p_t: float, n_c: float, ratio: float, alternative: str
) -> None:
    # gbstats and Spotify test with the unpooled variance: std_null = std_alternative. Per control unit:
    # Var(p_t - p_c) * n_c = p_c (1 - p_c) + p_t (1 - p_t) / ratio.
    std = math.sqrt(p_c * (1 - p_c) + p_t * (1 - p_t) / ratio)
    sm_alt = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}[alternative]
    expected = normal_power_het(p_t - p_c, n_c, 0.05, std_null=std, std_alternative=std, alternative=sm_alt)
    for convention in ("gbstats", "spotify"):
        got = power_proportions(p_c, p_t, n_c, ratio=ratio, alternative=alternative, convention=convention)
        assert got == pytest.approx(float(expected), rel=1e-9)
    # 'abrec' and 'statsmodels' pool under the null: statsmodels' power_proportions_2indep.
    pooled = power_proportions_2indep(  # sample 1 = treatment
        p_t - p_c, p_c, n_c * ratio, ratio=1 / ratio, alpha=0.05, alternative=sm_alt
    ).power
    for convention in ("abrec", "statsmodels"):
        got = power_proportions(p_c, p_t, n_c, ratio=ratio, alternative=alternative, convention=convention)
        assert got == pytest.approx(float(pooled), rel=1e-9)


def test_sample_size_and_mde_follow_the_convention() -> None:
    for convention in ("abrec", "gbstats"):
        n = sample_size_proportions(0.02, 0.03, convention=convention)
        assert power_proportions(0.02, 0.03, n, convention=convention) >= 0.8
        assert power_proportions(0.02, 0.03, n - 1, convention=convention) < 0.8
        d = mde_proportions(0.02, n, convention=convention)
        assert power_proportions(0.02, 0.02 + d, n, convention=convention) == pytest.approx(0.8, abs=1e-9)
    # The pooled and unpooled null variances differ, and so do the sample sizes (the convention matters).
    assert sample_size_proportions(0.02, 0.03) != sample_size_proportions(0.02, 0.03, convention="gbstats")


def test_unpooled_power_matches_the_simulated_spotify_test() -> None:
    # 4,000 experiments at p_c = 0.10, p_t = 0.13, n = 800 per arm, rejected by the unpooled z test
    # (Spotify's convention): the rejection rate is the predicted power within the binomial 99% band.
    rng = np.random.default_rng(20)
    sims, n, p_c, p_t = 4000, 800, 0.10, 0.13
    k_c, k_t = rng.binomial(n, p_c, sims), rng.binomial(n, p_t, sims)
    rejected = 0
    for a, b in zip(k_c, k_t, strict=True):
        r = proportions_ztest(
            SampleStats(n, float(a), float(a)), SampleStats(n, float(b), float(b)), convention="spotify"
        )
        rejected += bool(r.p_value < 0.05)
    power = power_proportions(p_c, p_t, n, convention="spotify")
    band = stats.norm.ppf(0.995) * math.sqrt(power * (1 - power) / sims)
    assert abs(rejected / sims - power) < band + 0.005  # + the normal approximation's own error


# (lift, mean, sd, sd_t, n_c, ratio, alternative)
RELATIVE_CASES = [
    (0.05, 10.0, 5.0, None, 1651, 1.0, "two-sided"),
    (0.02, 1.0, 3.0, 2.0, 20000, 2.0, "two-sided"),
    (0.10, 0.2, 0.4, None, 300, 0.5, "greater"),
    (-0.08, 50.0, 80.0, 60.0, 1500, 1.0, "less"),
    (0.30, 3.0, 1.0, None, 25, 1.0, "two-sided"),
]


@pytest.mark.parametrize(("lift", "mean", "sd", "sd_t", "n_c", "ratio", "alternative"), RELATIVE_CASES)
def test_spotify_relative_power_is_the_absolute_power(
    lift: float, mean: float, sd: float, sd_t: float | None, n_c: float, ratio: float, alternative: str
) -> None:
    # Spotify: a relative MDE is the absolute difference lift * mean, tested with the absolute variance
    # (sd**2 + sd_t**2 / ratio per control unit): normal_power_het with equal null and alternative sds.
    s_t = sd if sd_t is None else sd_t
    std = math.sqrt(sd**2 + s_t**2 / ratio)
    sm_alt = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}[alternative]
    expected = float(normal_power_het(lift * mean, n_c, 0.05, std_null=std, std_alternative=std, alternative=sm_alt))
    got = power_relative(
        lift, mean, sd, n_c, ratio=ratio, alternative=alternative, sd_treatment=sd_t, convention="spotify"
    )
    assert got == pytest.approx(expected, rel=1e-9)
    # gbstats' formula is the default and 'gbstats' names it.
    assert power_relative(lift, mean, sd, n_c, ratio=ratio, alternative=alternative, sd_treatment=sd_t) == (
        power_relative(
            lift, mean, sd, n_c, ratio=ratio, alternative=alternative, sd_treatment=sd_t, convention="gbstats"
        )
    )


def test_spotify_relative_sample_size_and_mde() -> None:
    # With the control mean known the lift's variance does not grow with the lift: the textbook n.
    n = sample_size_relative(0.05, 10.0, 5.0, convention="spotify")
    z = stats.norm.ppf(0.975) + stats.norm.ppf(0.8)
    assert n == math.ceil(2 * (z * 5.0 / (0.05 * 10.0)) ** 2) or n == math.ceil(2 * (z * 5.0 / 0.5) ** 2) + 1
    assert (
        power_relative(0.05, 10.0, 5.0, n, convention="spotify")
        >= 0.8
        > power_relative(0.05, 10.0, 5.0, n - 1, convention="spotify")
    )
    mde = mde_relative(10.0, 5.0, n, convention="spotify")
    assert power_relative(mde, 10.0, 5.0, n, convention="spotify") == pytest.approx(0.8, abs=1e-9)
    assert mde < mde_relative(10.0, 5.0, n)  # the control's uncertainty widens gbstats' interval


def test_unknown_convention_is_refused() -> None:
    with pytest.raises(ParameterError, match="convention"):
        power_relative(0.05, 10.0, 5.0, 100, convention="statsmodels")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="convention"):
        power_proportions(0.1, 0.2, 100, convention="eppo")  # type: ignore[arg-type]
