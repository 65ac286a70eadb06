"""Per-unit aggregation of an interaction log; the delta method holds alpha where the per-impression test does not."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from abrec.abtest import RatioStats, SampleStats, aggregate_units, proportions_ztest, ztest
from abrec.data import InteractionLog
from abrec.errors import InputError, ParameterError


def _log() -> InteractionLog:
    return InteractionLog.from_arrays(
        unit=["a", "a", "a", "b", "c", "c", "d"],
        item=[1, 2, 3, 1, 1, 2, 5],
        timestamp=[0, 1, 2, 3, 4, 5, 6],
        reward=[1.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
        variant=["A", "A", "A", "A", "B", "B", "B"],
        experiment=["e1"] * 6 + ["e2"],
        extra_rewards={"purchase": [0.0, 0.0, 9.5, 0.0, 0.0, 0.0, 3.0]},
    )


def test_metric_kinds() -> None:
    log = _log()
    mean = aggregate_units(log, "mean")
    assert list(mean) == ["A", "B"]
    assert mean["A"] == SampleStats.from_values([2.0, 0.0]) and mean["B"] == SampleStats.from_values([0.0, 1.0])
    prop = aggregate_units(log, "proportion")
    assert prop["A"] == SampleStats.from_values([1.0, 0.0]) and prop["B"] == SampleStats.from_values([0.0, 1.0])
    ratio = aggregate_units(log, "ratio")
    assert ratio["A"] == RatioStats.from_values([2.0, 0.0], [3.0, 1.0]) and ratio["A"].mean == 0.5
    assert aggregate_units(log, "mean", column="purchase")["A"].sum == 9.5
    only = aggregate_units(log.frame, "ratio", experiment="e1")
    assert only["B"] == RatioStats.from_values([0.0], [2.0])


def test_errors() -> None:
    log = _log()
    with pytest.raises(ParameterError, match="'metric' parameter of aggregate_units"):
        aggregate_units(log, "median")  # type: ignore[arg-type]
    with pytest.raises(InputError, match="columns"):
        aggregate_units(log, column="revenue")
    with pytest.raises(InputError, match="no rows"):
        aggregate_units(log, experiment="nope")
    frame = log.frame
    frame.loc[3, "variant"] = "B"
    frame.loc[3, "unit"] = "a"
    with pytest.raises(InputError, match="more than one variant"):
        aggregate_units(frame)


def _clustered_arm(rng: np.random.Generator, sims: int, users: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-user impressions and clicks; each user has their own click rate (mean 0.1), so clicks cluster."""
    impressions = 1 + rng.poisson(9.0, (sims, users))
    rate = rng.beta(0.5, 4.5, (sims, users))
    return impressions.astype(float), rng.binomial(impressions, rate).astype(float)


def test_naive_per_impression_test_is_inflated_and_delta_method_holds_alpha() -> None:
    rng = np.random.default_rng(6)
    sims, users, alpha = 2000, 200, 0.05
    imp_c, clk_c = _clustered_arm(rng, sims, users)
    imp_t, clk_t = _clustered_arm(rng, sims, users)
    # aggregate_units on one simulated experiment gives the per-user RatioStats used below
    unit = np.repeat([f"u{i}" for i in range(2 * users)], np.r_[imp_c[0], imp_t[0]].astype(int))
    reward = np.concatenate(
        [
            np.r_[np.ones(int(k)), np.zeros(int(n - k))]
            for k, n in zip(np.r_[clk_c[0], clk_t[0]], np.r_[imp_c[0], imp_t[0]], strict=True)
        ]
    )
    variant = np.where(np.char.lstrip(unit, "u").astype(int) < users, "control", "treatment")
    frame = pd.DataFrame({"unit": unit, "variant": variant, "reward": reward})
    stats = aggregate_units(frame, "ratio")
    assert stats["control"] == pytest.approx(RatioStats.from_values(clk_c[0], imp_c[0]))
    delta, naive = [], []
    for s in range(sims):
        c, t = RatioStats.from_values(clk_c[s], imp_c[s]), RatioStats.from_values(clk_t[s], imp_t[s])
        delta.append(ztest(c, t).p_value < alpha)
        # the naive test treats every impression as an independent Bernoulli trial
        pc = SampleStats(int(imp_c[s].sum()), clk_c[s].sum(), clk_c[s].sum())
        pt = SampleStats(int(imp_t[s].sum()), clk_t[s].sum(), clk_t[s].sum())
        naive.append(proportions_ztest(pc, pt).p_value < alpha)
    tolerance = 4.5 * math.sqrt(alpha * (1 - alpha) / sims)
    delta_rate, naive_rate = float(np.mean(delta)), float(np.mean(naive))
    print(f"A/A, ratio metric clustered by user: delta method {delta_rate:.3f}, naive per-impression {naive_rate:.3f}")
    assert abs(delta_rate - alpha) <= tolerance, delta_rate
    assert naive_rate > 0.12, naive_rate  # measured 0.213: the design effect is about 2.5
