"""Power, sample size and MDE against statsmodels.stats.power; simulated power matches the prediction."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statsmodels.stats.power import NormalIndPower, TTestIndPower, zt_ind_solve_power
from statsmodels.stats.proportion import power_proportions_2indep

from abrec.abtest import (
    Moments,
    SampleStats,
    mde_means,
    mde_proportions,
    power_means,
    power_proportions,
    proportions_ztest,
    sample_size_means,
    sample_size_proportions,
    welch_ttest,
)
from abrec.errors import InputError, ParameterError

SM_ALT = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}
CASES = [("two-sided", 1.0, 0.05), ("greater", 2.0, 0.05), ("less", 0.5, 0.1)]


@pytest.mark.parametrize(("alternative", "ratio", "alpha"), CASES)
def test_means_match_statsmodels(alternative: str, ratio: float, alpha: float) -> None:
    effect = -0.15 if alternative == "less" else 0.15
    sd, n = 1.5, 700
    d = effect / sd
    alt = SM_ALT[alternative]
    kw = {"ratio": ratio, "alpha": alpha, "alternative": alternative}
    assert power_means(effect, sd, n, test="t", **kw) == pytest.approx(  # type: ignore[arg-type]
        TTestIndPower().power(d, n, alpha, ratio=ratio, alternative=alt),
        rel=1e-8,  # statsmodels TTestIndPower.power
    )
    assert power_means(effect, sd, n, test="z", **kw) == pytest.approx(  # type: ignore[arg-type]
        NormalIndPower().power(d, n, alpha, ratio=ratio, alternative=alt),
        rel=1e-10,  # statsmodels NormalIndPower.power
    )
    n_z = zt_ind_solve_power(effect_size=d, alpha=alpha, power=0.8, ratio=ratio, alternative=alt)  # statsmodels
    assert sample_size_means(effect, sd, power=0.8, test="z", **kw) == math.ceil(n_z)  # type: ignore[arg-type]
    n_t = TTestIndPower().solve_power(effect_size=d, alpha=alpha, power=0.8, ratio=ratio, alternative=alt)
    assert sample_size_means(effect, sd, power=0.8, test="t", **kw) == math.ceil(n_t)  # type: ignore[arg-type]
    mde = mde_means(sd, n, power=0.8, test="z", **kw)  # type: ignore[arg-type]
    d_z = zt_ind_solve_power(nobs1=n, alpha=alpha, power=0.8, ratio=ratio, alternative=alt)  # statsmodels
    assert mde == pytest.approx(abs(d_z) * sd, rel=1e-5)  # statsmodels' root finder stops earlier
    signed = math.copysign(mde / sd, effect)
    assert NormalIndPower().power(signed, n, alpha, ratio=ratio, alternative=alt) == pytest.approx(0.8, rel=1e-9)


@pytest.mark.parametrize(("alternative", "ratio", "alpha"), CASES)
def test_proportions_match_statsmodels(alternative: str, ratio: float, alpha: float) -> None:
    p_c, p_t = (0.2, 0.17) if alternative == "less" else (0.2, 0.23)
    kw = {"ratio": ratio, "alpha": alpha, "alternative": alternative}
    for n in (300, 2000):
        ref = power_proportions_2indep(  # statsmodels power_proportions_2indep (sample 1 = treatment)
            p_t - p_c, p_c, n * ratio, ratio=1 / ratio, alpha=alpha, alternative=SM_ALT[alternative]
        ).power
        assert power_proportions(p_c, p_t, n, **kw) == pytest.approx(ref, rel=1e-9)  # type: ignore[arg-type]
    n = sample_size_proportions(p_c, p_t, power=0.8, **kw)  # type: ignore[arg-type]
    assert power_proportions(p_c, p_t, n, **kw) >= 0.8 > power_proportions(p_c, p_t, n - 1, **kw)  # type: ignore[arg-type]
    mde = mde_proportions(p_c, n, power=0.8, **kw)  # type: ignore[arg-type]
    assert mde <= abs(p_t - p_c) and power_proportions(
        p_c, p_c + math.copysign(mde, p_t - p_c), n, **kw
    ) == pytest.approx(0.8)  # type: ignore[arg-type]


def test_simulated_power_matches_prediction() -> None:
    rng = np.random.default_rng(16)
    sims = 3000
    # means, Welch's t test: n from sample_size_means, data normal (exact sums)
    n = sample_size_means(0.3, 1.0, power=0.8)
    predicted = power_means(0.3, 1.0, n)
    mc, mt = rng.normal(0.0, 1 / math.sqrt(n), sims), rng.normal(0.3, 1 / math.sqrt(n), sims)
    vc, vt = rng.chisquare(n - 1, sims) / (n - 1), rng.chisquare(n - 1, sims) / (n - 1)
    hits = np.mean(
        [
            welch_ttest(Moments(n, a, u), Moments(n, b, v)).p_value < 0.05
            for a, b, u, v in zip(mc, mt, vc, vt, strict=True)
        ]
    )
    assert abs(hits - predicted) <= 4.5 * math.sqrt(predicted * (1 - predicted) / sims), (hits, predicted)
    # proportions, pooled z test, unequal allocation and one-sided
    n = sample_size_proportions(0.1, 0.12, power=0.7, ratio=2.0, alternative="greater")
    predicted = power_proportions(0.1, 0.12, n, ratio=2.0, alternative="greater")
    kc, kt = rng.binomial(n, 0.1, sims), rng.binomial(2 * n, 0.12, sims)
    hits = np.mean(
        [
            proportions_ztest(SampleStats(n, a, a), SampleStats(2 * n, b, b), alternative="greater").p_value < 0.05
            for a, b in zip(kc, kt, strict=True)
        ]
    )
    assert abs(hits - predicted) <= 4.5 * math.sqrt(predicted * (1 - predicted) / sims), (hits, predicted)


def test_errors() -> None:
    with pytest.raises(InputError, match="nonzero, > 0 for 'greater'"):
        sample_size_means(-0.1, 1.0, alternative="greater")
    with pytest.raises(ParameterError, match="'sd' parameter of power_means"):
        power_means(0.1, 0.0, 100)
    with pytest.raises(ParameterError, match="'test' parameter of mde_means"):
        mde_means(1.0, 100, test="f")
    with pytest.raises(ParameterError, match="'p_treatment' parameter of power_proportions"):
        power_proportions(0.1, 1.0, 100)
    with pytest.raises(InputError, match="add units"):
        mde_proportions(0.5, 3, power=0.99)
