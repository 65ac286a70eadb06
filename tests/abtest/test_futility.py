"""Futility boundaries by beta spending (binding and non-binding): against rpact's published test values, the
fixed-horizon limit, and the operating characteristics by simulation over many seeds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import special

from abrec.abtest.futility import futility_design
from abrec.abtest.group_sequential import alpha_spending, group_sequential_boundaries
from abrec.errors import InputError, ParameterError

Z99 = 2.5758293035489

# rpact getDesignGroupSequential / getDesignInverseNormal (tests/testthat/test-f_design_group_sequential.R,
# rpact 3.x): typeOfDesign "asOF" (our "obrien-fleming") or "asKD" ("power", rho = gammaA), typeBetaSpending
# "bsKD" ("power", beta_rho = gammaB); expected criticalValues and futilityBounds (the last look's futility
# bound equals its critical value).
RPACT = [
    (
        {"information_fractions": [0.4, 0.75, 1.0], "alpha": 0.13, "beta": 0.41, "binding": False},
        [2.1280732, 1.4368565, 1.2468994],
        [-0.83725762, 0.35992547],
    ),
    (
        {"information_fractions": [0.4, 0.75, 0.85, 1.0], "alpha": 0.13, "beta": 0.41, "binding": False},
        [2.1280732, 1.4368565, 1.422873, 1.2970881],
        [-0.82676531, 0.3743303, 0.65077266],
    ),
    (
        {"information_fractions": [0.4, 0.75, 1.0], "alpha": 0.13, "beta": 0.41, "binding": True},
        [2.1280732, 1.4362896, 1.2218662],
        [-0.84937686, 0.34328914],
    ),
    (
        {"information_fractions": [0.4, 0.75, 0.85, 1.0], "alpha": 0.13, "beta": 0.41, "binding": True},
        [2.1280732, 1.4362706, 1.4203748, 1.2576258],
        [-0.84247693, 0.35276055, 0.62744509],
    ),
]


@pytest.mark.parametrize(("kwargs", "critical", "futility"), RPACT)
def test_obrien_fleming_with_kim_demets_beta_spending_matches_rpact(
    kwargs: dict[str, object], critical: list[float], futility: list[float]
) -> None:
    d = futility_design(**kwargs, spending="obrien-fleming", beta_spending="power", beta_rho=2.5)  # type: ignore[arg-type]
    assert d.efficacy_z == pytest.approx(critical, abs=1e-6)
    assert d.futility_z[:-1] == pytest.approx(futility, abs=1e-6)
    assert d.futility_z[-1] == d.efficacy_z[-1]


def test_kim_demets_alpha_and_beta_spending_matches_rpact() -> None:
    # rpact getDesignInverseNormal(kMax = 3, informationRates = c(0.3, 0.7, 1), alpha = 0.03, beta = 0.34,
    # typeOfDesign = "asKD", gammaA = 2.2, typeBetaSpending = "bsKD", gammaB = 3.2) (non-binding).
    d = futility_design(
        [0.3, 0.7, 1.0], alpha=0.03, beta=0.34, spending="power", rho=2.2, beta_spending="power", beta_rho=3.2
    )
    assert d.efficacy_z == pytest.approx([2.8594012, 2.2435708, 1.9735737], abs=1e-6)
    assert d.futility_z[:-1] == pytest.approx([-1.1558435, 0.72836893], abs=1e-6)


def test_one_look_is_the_fixed_horizon_test_and_non_binding_efficacy_ignores_futility() -> None:
    d = futility_design([1.0], alpha=0.025, beta=0.1)
    assert d.efficacy_z[0] == pytest.approx(special.ndtri(0.975), abs=1e-9)
    assert d.drift == pytest.approx(special.ndtri(0.975) + special.ndtri(0.9), abs=1e-8)
    assert d.inflation_factor == pytest.approx(1.0, abs=1e-8)
    t = [0.25, 0.5, 0.75, 1.0]
    for spending in ("obrien-fleming", "pocock"):
        nb = futility_design(t, alpha=0.025, beta=0.1, spending=spending)  # type: ignore[arg-type]
        alone = group_sequential_boundaries(t, alpha=0.025, alternative="greater", spending=spending)  # type: ignore[arg-type]
        assert nb.efficacy_z == pytest.approx(alone.z, abs=1e-7)
        binding = futility_design(t, alpha=0.025, beta=0.1, spending=spending, binding=True)  # type: ignore[arg-type]
        # Counting on the futility stops lowers the later efficacy boundaries and the information needed.
        assert all(b <= n + 1e-9 for b, n in zip(binding.efficacy_z, nb.efficacy_z, strict=True))
        assert binding.efficacy_z[-1] < nb.efficacy_z[-1] and binding.inflation_factor < nb.inflation_factor


def _simulate(design, drift: float, seeds: range, paths: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # type: ignore[no-untyped-def]
    """Per look, the share of paths stopping for efficacy and for futility (obeying the futility bounds),
    and the share ever crossing an efficacy bound when the futility bounds are ignored."""
    t = np.asarray(design.information_fractions)
    c, b = np.asarray(design.efficacy_z), np.asarray(design.futility_z)
    eff = np.zeros(t.size)
    fut = np.zeros(t.size)
    ignored = 0
    total = 0
    for seed in seeds:
        rng = np.random.default_rng(seed)
        steps = rng.standard_normal((paths, t.size)) * np.sqrt(np.diff(t, prepend=0.0)) + drift * np.diff(
            t, prepend=0.0
        )
        z = np.cumsum(steps, axis=1) / np.sqrt(t)
        alive = np.ones(paths, dtype=bool)
        for k in range(t.size):
            up, down = alive & (z[:, k] >= c[k]), alive & (z[:, k] <= b[k]) & (z[:, k] < c[k])
            eff[k] += up.sum()
            fut[k] += down.sum()
            alive &= ~(up | down)
        ignored += int((z >= c).any(axis=1).sum())
        total += paths
    return eff / total, fut / total, np.array(ignored / total)


@pytest.mark.parametrize("binding", [False, True])
@pytest.mark.parametrize("spending", ["obrien-fleming", "pocock"])
def test_operating_characteristics_by_simulation(binding: bool, spending: str) -> None:
    # 40 seeds x 5,000 paths of the z statistics at 4 looks (independent increments). Under the design
    # alternative: power 1 - beta, and each look's futility stops equal its beta increment; under the null:
    # type I error alpha when the futility stops are obeyed (binding: exactly; non-binding: at most) and,
    # non-binding, exactly alpha when they are ignored. Bands: binomial 99% over the 200,000 paths.
    alpha, beta = 0.025, 0.1
    d = futility_design([0.25, 0.5, 0.75, 1.0], alpha=alpha, beta=beta, spending=spending, binding=binding)  # type: ignore[arg-type]
    n = 200_000

    def band(p: float) -> float:
        return Z99 * math.sqrt(p * (1 - p) / n) + 1e-6

    eff, fut, _ = _simulate(d, d.drift, range(40), 5000)
    assert abs(eff.sum() - (1 - beta)) < band(1 - beta)
    increments = np.diff(alpha_spending(d.information_fractions, alpha=beta, spending=spending), prepend=0.0)  # type: ignore[arg-type]
    for k in range(3):
        assert abs(fut[k] - increments[k]) < band(increments[k])
    eff0, _, ignored0 = _simulate(d, 0.0, range(100, 140), 5000)
    if binding:
        assert abs(eff0.sum() - alpha) < band(alpha)
    else:
        assert abs(float(ignored0) - alpha) < band(alpha)
        assert eff0.sum() < alpha - band(alpha)  # obeying non-binding futility stops only lowers it


def test_less_orientation_and_information() -> None:
    d = futility_design([0.5, 1.0], alpha=0.025, beta=0.2, alternative="less")
    assert d.decision(1, -d.efficacy_z[0] - 0.01) == "efficacy"
    assert d.decision(1, -d.futility_z[0] + 0.01) == "futility"
    assert d.decision(2, 0.0) == "futility"  # the last look decides
    # Information for an effect of 0.1 with per-unit sd 1 and n units per arm: n / 2 = (drift / 0.1)^2.
    assert d.information(-0.1) == pytest.approx((d.drift / 0.1) ** 2)
    with pytest.raises(InputError, match="look"):
        d.decision(3, 0.0)


def test_bad_parameters_are_refused() -> None:
    with pytest.raises(ParameterError, match="end at 1"):
        futility_design([0.5, 0.9])
    with pytest.raises(ParameterError, match="'beta'"):
        futility_design([0.5, 1.0], beta=0.5)
    with pytest.raises(ParameterError, match="'alternative'"):
        futility_design([0.5, 1.0], alternative="two-sided")  # type: ignore[arg-type]
