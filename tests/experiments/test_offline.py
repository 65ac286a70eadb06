"""Offline replay of an experiment's variants on its uniform control's logs."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
import pytest

from _experiments import small_experiment
from abrec.errors import InputError
from abrec.experiments import ExperimentConfig, SimulationResult, run_simulation
from abrec.experiments.offline import OfflineEstimate, replay_variants

K = 2


def small_mapping() -> dict[str, Any]:
    return small_experiment("offline", 5, allocation={"method": "fixed"}, view={"slate_size": K})


@pytest.fixture(scope="module")
def result() -> SimulationResult:
    return run_simulation(ExperimentConfig.from_mapping(small_mapping()))


def test_one_estimate_per_variant(result: SimulationResult) -> None:
    found = replay_variants(result)
    assert [e.variant for e in found] == ["random", "ts", "text-prior"]
    assert [e.policy for e in found] == ["uniform", "bernoulli_ts", "text_prior_ts"]
    n_control = int((result.users["variant"] == "random").sum())
    for i, e in enumerate(found):
        assert isinstance(e, OfflineEstimate)
        assert 0 < e.accepted <= n_control * K
        assert 0.0 <= e.estimate <= 1.0
        assert e.ci_low <= e.estimate <= e.ci_high
        shown = result.step_users[:, i].sum() * K
        assert e.online == pytest.approx(result.step_clicks[:, i].sum() / shown)
        assert e.online_ci_low <= e.online <= e.online_ci_high
    row = found[0].as_row()
    assert set(row) == {
        "variant",
        "policy",
        "estimate",
        "ci_low",
        "ci_high",
        "accepted positions",
        "online",
        "online CI",
    }
    assert row["accepted positions"] == found[0].accepted


def test_uniform_acceptance_rate_and_value(result: SimulationResult) -> None:
    # A fresh uniform policy agrees with the uniform log at each position with probability 1/m.
    e = replay_variants(result)[0]
    n_positions = int((result.users["variant"] == "random").sum()) * K
    p = 1 / result.candidates.shape[1]
    assert abs(e.accepted - n_positions * p) <= 4.5 * np.sqrt(n_positions * p * (1 - p))
    # ... and its accepted rewards estimate the control's own clicks per shown item.
    se = np.hypot((e.ci_high - e.ci_low) / (2 * 1.96), (e.online_ci_high - e.online_ci_low) / (2 * 1.96))
    assert abs(e.estimate - e.online) <= 4.5 * max(se, 1e-3)


def test_replay_is_deterministic_given_the_seed(result: SimulationResult) -> None:
    assert replay_variants(result, seed=7) == replay_variants(result, seed=7)


def test_replay_needs_a_uniform_logging_variant(result: SimulationResult) -> None:
    with pytest.raises(InputError, match="a policy that does not learn"):
        replay_variants(result, logging_variant="ts")
    with pytest.raises(InputError, match="Unknown logging variant"):
        replay_variants(result, logging_variant="nobody")
    other = dataclasses.replace(result, config=dataclasses.replace(result.config, control="ts"))
    with pytest.raises(InputError, match="uniform control"):
        replay_variants(other)
