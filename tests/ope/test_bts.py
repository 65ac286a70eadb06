"""The Bernoulli TS action distribution: agrees with OBP's within Monte Carlo error, is reproducible."""

from __future__ import annotations

import numpy as np
import pytest

import abrec.ope
from _shared import shared_path
from abrec.errors import InputError, ParameterError, UnknownNameError
from abrec.ope import (
    IPW,
    LoggedFeedback,
    at_logged_positions,
    bts_action_distribution,
    evaluate_policies,
    zozotown_bts_action_distribution,
)
from abrec.ope import bts as bts_module
from abrec.policies import ActionDistribution

N_OBP = 1_000_000  # draws behind OBP's arrays (README of the shared OBD folder)
N_ABREC = 200_000


@pytest.mark.parametrize("campaign", ["all", "men", "women"])
def test_agrees_with_obp_within_monte_carlo_error(campaign: str) -> None:
    # Reference: OBP 0.5.7, BernoulliTS(is_zozotown_prior=True, campaign=..., random_state=12345)
    # .compute_batch_action_dist(n_rounds=1, n_sim=1_000_000), stored as bts_action_dist_{campaign}.npy.
    obp = np.load(shared_path("data", "obd", f"bts_action_dist_{campaign}.npy"))
    ours = zozotown_bts_action_distribution(campaign, n_draws=N_ABREC, seed=2024)
    p = ours.probabilities[0]
    assert p.shape == obp.shape
    np.testing.assert_allclose(p.sum(axis=0), 1.0, rtol=0, atol=1e-12)
    pooled = (p * N_ABREC + obp * N_OBP) / (N_ABREC + N_OBP)
    tolerance = 5 * np.sqrt(pooled * (1 - pooled) * (1 / N_ABREC + 1 / N_OBP)) + 1e-12
    assert (np.abs(p - obp) <= tolerance).all(), np.max(np.abs(p - obp) / tolerance)


def test_columns_sum_to_one_and_slots_are_distinct_items() -> None:
    dist = bts_action_distribution(np.ones(5), np.ones(5), n_positions=5, n_draws=5000, seed=3)
    np.testing.assert_allclose(dist.probabilities[0].sum(axis=0), 1.0, atol=1e-12)
    # Each draw shows every item exactly once when the slate holds all items.
    np.testing.assert_allclose(dist.probabilities[0].sum(axis=1), 1.0, atol=1e-12)


def test_symmetric_posteriors_give_uniform_slots() -> None:
    n = 200_000
    dist = bts_action_distribution(np.full(4, 2.0), np.full(4, 3.0), n_positions=2, n_draws=n, seed=5)
    assert (np.abs(dist.probabilities - 0.25) <= 5 * np.sqrt(0.25 * 0.75 / n)).all()


def test_seed_reproduces_and_neither_chunk_nor_threads_change_the_result() -> None:
    a, b = bts_module._zozotown_prior("women")
    first = bts_action_distribution(a, b, n_draws=10_007, seed=11)
    again = bts_action_distribution(a, b, n_draws=10_007, seed=np.random.default_rng(11), chunk=333, n_jobs=1)
    threads = bts_action_distribution(a, b, n_draws=10_007, seed=11, chunk=5000, n_jobs=3)
    other = bts_action_distribution(a, b, n_draws=10_007, seed=12)
    np.testing.assert_array_equal(first.probabilities, again.probabilities)
    np.testing.assert_array_equal(first.probabilities, threads.probabilities)
    assert first.draws == 10_007 and (np.rint(first.probabilities[0] * 10_007).sum(axis=0) == 10_007).all()
    assert not np.array_equal(first.probabilities, other.probabilities)


def test_numba_and_numpy_backends_agree_exactly() -> None:
    a, b = bts_module._zozotown_prior("all")
    fast = bts_action_distribution(a, b, n_draws=20_000, seed=1, backend="numba")
    reference = bts_action_distribution(a, b, n_draws=20_000, seed=1, backend="numpy")
    np.testing.assert_array_equal(fast.probabilities, reference.probabilities)


def test_the_answer_is_the_policies_record_of_one_request() -> None:
    dist = bts_action_distribution(np.full(3, 2.0), np.full(3, 5.0), n_positions=2, n_draws=400, seed=4)
    assert isinstance(dist, ActionDistribution) and not hasattr(abrec.ope, "ActionDistribution")
    assert (dist.n, dist.m, dist.k, dist.exact, dist.draws) == (1, 3, 2, False, 400)
    p = dist.probabilities
    np.testing.assert_array_equal(dist.standard_error, np.sqrt(p * (1 - p) / 400))  # binomial
    assert not p.flags.writeable and not dist.standard_error.flags.writeable
    low, high = dist.confidence_interval()
    assert ((low <= p) & (p <= high)).all() and (high > low).any()


def test_estimators_read_the_record_as_one_table_for_every_row() -> None:
    dist = bts_action_distribution(np.array([2.0, 1.0, 1.0]), np.full(3, 2.0), n_positions=2, n_draws=1000, seed=8)
    table = dist.probabilities[0]  # (n_items, n_positions)
    rng = np.random.default_rng(0)
    position = rng.integers(0, 2, 50)
    fb = LoggedFeedback.from_arrays(
        action=rng.integers(0, 3, 50), reward=rng.random(50), propensity=1 / 3, position=position, n_actions=3
    )
    np.testing.assert_array_equal(at_logged_positions(dist, fb), at_logged_positions(table, fb))
    np.testing.assert_array_equal(at_logged_positions(dist, fb), table.T[position])
    assert IPW().value(fb, dist) == IPW().value(fb, table)
    # The same table as one request per row (what a contextual policy answers) reads the same.
    per_row = ActionDistribution(np.repeat(dist.probabilities, 50, axis=0), np.zeros((50, 3, 2)), exact=True, draws=0)
    np.testing.assert_array_equal(at_logged_positions(per_row, fb), at_logged_positions(dist, fb))
    given = evaluate_policies(fb, {}, dists={"bts": dist}, estimators=["ipw"], n_bootstrap=0, select=False)
    assert given["bts"].estimate("ipw").value == IPW().value(fb, table)
    one_slot = ActionDistribution(dist.probabilities[:, :, :1], np.zeros((1, 3, 1)), exact=True, draws=0)
    with pytest.raises(InputError, match=r"\(1, 3, 2\) or \(n_rows, n_actions, n_positions\) = \(50, 3, 2\)"):
        at_logged_positions(one_slot, fb)


def test_inputs_are_not_mutated() -> None:
    a, b = np.full(3, 2.0), np.full(3, 5.0)
    bts_action_distribution(a, b, n_positions=2, n_draws=100)
    np.testing.assert_array_equal(a, 2.0)
    np.testing.assert_array_equal(b, 5.0)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"alpha": [1.0, 0.0], "beta": [1.0, 1.0]}, "'alpha' parameter"),
        ({"alpha": [1.0, 1.0], "beta": [1.0]}, "same non-zero length"),
        ({"alpha": [1.0, 1.0], "beta": [1.0, 1.0], "n_positions": 3}, "'n_positions' parameter"),
        ({"alpha": [1.0], "beta": [1.0], "n_draws": 0}, "'n_draws' parameter"),
        ({"alpha": [1.0], "beta": [1.0], "chunk": 0}, "'chunk' parameter"),
        ({"alpha": [1.0], "beta": [1.0], "n_jobs": 0}, "'n_jobs' parameter"),
        ({"alpha": [1.0], "beta": [1.0], "n_positions": 1, "backend": "gpu"}, "'backend' parameter"),
    ],
)
def test_bad_parameters_are_refused(kwargs: dict[str, object], match: str) -> None:
    kwargs.setdefault("n_positions", 1)
    with pytest.raises(ParameterError, match=match):
        bts_action_distribution(**kwargs)  # type: ignore[arg-type]


def test_unknown_campaign_suggests_a_name() -> None:
    with pytest.raises(UnknownNameError, match="Did you mean 'men'"):
        zozotown_bts_action_distribution("mens", n_draws=10)
