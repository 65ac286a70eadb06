"""``LoggedFeedback.from_log`` refuses logs whose propensities cannot support a target over all the log's items:
rows of several logging policies, and rows logged from per-request candidate sets."""

from __future__ import annotations

import numpy as np
import pytest

from abrec.data import InteractionLog
from abrec.errors import InputError, SupportError, UnknownNameError
from abrec.ope import IPW, LoggedFeedback
from abrec.policies import UniformRandom


def uniform_rows(
    variant: str,
    *,
    n_items: int,
    m: int,
    n: int = 400,
    seed: int = 0,
    policy: str = "uniform",
    experiment: str = "exp",
) -> InteractionLog:
    """``n`` requests of one item, each chosen uniformly among ``m`` candidates drawn per request from ``n_items``."""
    rng = np.random.default_rng(seed)
    items = np.array([rng.choice(rng.permutation(n_items)[:m]) for _ in range(n)])
    return InteractionLog.from_arrays(
        unit=[f"{variant}-{i}" for i in range(n)],
        item=items,
        timestamp=0,
        reward=(rng.random(n) < 0.1 + 0.02 * (items % 5)).astype(float),
        propensity=1.0 / m,
        policy=policy,
        experiment=experiment,
        variant=variant,
        context=rng.normal(size=(n, 2)),
    )


def thompson_rows(variant: str = "ts", *, n_items: int, n: int = 300, seed: int = 1) -> InteractionLog:
    rng = np.random.default_rng(seed)
    return InteractionLog.from_arrays(
        unit=[f"{variant}-{i}" for i in range(n)],
        item=rng.integers(0, n_items, n),
        timestamp=0,
        reward=(rng.random(n) < 0.2).astype(float),
        propensity=rng.choice([0.35, 0.55, 0.85], n),
        policy="bernoulli_ts",
        experiment="exp",
        variant=variant,
        context=rng.normal(size=(n, 2)),
    )


def test_a_log_of_several_variants_is_refused_and_the_message_says_what_works() -> None:
    log = InteractionLog.concat([uniform_rows("random", n_items=8, m=8), thompson_rows(n_items=8)])
    with pytest.raises(InputError, match="mixes 2 logging policies") as info:
        LoggedFeedback.from_log(log)
    text = str(info.value)
    assert "variant 'random', 'ts'" in text and "--variant random" in text and "'random' logged uniformly" in text


def test_one_variant_is_chosen_with_its_context_rows() -> None:
    random, ts = uniform_rows("random", n_items=8, m=8), thompson_rows(n_items=8)
    log = InteractionLog.concat([ts, random])
    feedback = LoggedFeedback.from_log(log, logging_policy="random")
    alone = LoggedFeedback.from_log(random)
    assert feedback.n_rows == len(random) and feedback.n_actions == 8
    np.testing.assert_array_equal(feedback.action, alone.action)
    np.testing.assert_array_equal(feedback.context, random.contexts())
    given = LoggedFeedback.from_log(log, logging_policy="ts", context=np.arange(len(log) * 3).reshape(-1, 3))
    np.testing.assert_array_equal(given.context, np.arange(len(ts) * 3).reshape(-1, 3))  # ts rows come first
    with pytest.raises(UnknownNameError, match="Did you mean 'random'"):
        LoggedFeedback.from_log(log, logging_policy="rnadom")


def test_a_full_catalog_uniform_log_supports_a_target_over_every_item() -> None:
    log = uniform_rows("random", n_items=6, m=6, n=3000)
    feedback = LoggedFeedback.from_log(log)
    assert feedback.n_actions == 6
    uniform = UniformRandom().action_distribution(feedback.item_ids, k=1)
    assert abs(IPW().value(feedback, uniform) - float(log.frame["reward"].mean())) < 1e-12


def test_per_request_candidate_sets_are_refused() -> None:
    log = uniform_rows("random", n_items=50, m=5)
    with pytest.raises(SupportError, match="Per-request candidate sets") as info:
        LoggedFeedback.from_log(log)
    text = str(info.value)
    assert "uniformly among 5 candidates" in text and "1/5" in text and "offline replay" in text
    assert "n_candidates = n_items" in text
    assert LoggedFeedback.from_log(log, check=False).n_actions > 5  # the caller may know better


def test_a_fixed_candidate_set_smaller_than_the_catalog_is_fine() -> None:
    rng = np.random.default_rng(3)
    items = rng.choice([3, 9, 11, 40], 500)  # always the same 4 candidates
    log = InteractionLog.from_arrays(unit="u", item=items, timestamp=0, reward=0.0, propensity=0.25)
    assert LoggedFeedback.from_log(log).n_actions == 4


def test_another_logger_of_the_experiment_proves_per_request_candidates() -> None:
    log = InteractionLog.concat([uniform_rows("random", n_items=50, m=5), thompson_rows(n_items=50)])
    with pytest.raises(SupportError, match="'random', a uniform logging policy of the same experiment"):
        LoggedFeedback.from_log(log, logging_policy="ts")
    other = InteractionLog.concat(
        [uniform_rows("random", n_items=50, m=5, experiment="other"), thompson_rows(n_items=50)]
    )
    assert LoggedFeedback.from_log(other, logging_policy="exp:ts").n_rows == 300  # another experiment tells nothing


def test_policies_without_variants_are_logging_policies_too() -> None:
    a = uniform_rows("", n_items=4, m=4, policy="random")
    b = uniform_rows("", n_items=4, m=4, policy="bts", seed=2)
    log = InteractionLog.concat([a, b])
    with pytest.raises(InputError, match="policy 'bts', 'random'"):
        LoggedFeedback.from_log(log)
    assert LoggedFeedback.from_log(log, logging_policy="bts").n_rows == len(b)


def test_several_experiments_name_variants_by_experiment() -> None:
    a = uniform_rows("A", n_items=4, m=4, experiment="e1")
    b = uniform_rows("A", n_items=4, m=4, experiment="e2", seed=3)
    log = InteractionLog.concat([a, b])
    with pytest.raises(InputError, match="'e1:A', 'e2:A'"):
        LoggedFeedback.from_log(log)
    assert LoggedFeedback.from_log(log, logging_policy="e2:A").n_rows == len(b)


def test_a_deterministic_logger_is_neither_uniform_nor_evidence_of_candidate_sets() -> None:
    rng = np.random.default_rng(4)
    greedy = InteractionLog.from_arrays(
        unit=[f"g{i}" for i in range(200)], item=rng.integers(0, 40, 200), timestamp=0, reward=0.0,
        propensity=1.0, policy="linucb", experiment="exp", variant="greedy", context=rng.normal(size=(200, 2)),
    )  # fmt: skip
    assert LoggedFeedback.from_log(greedy).n_actions > 1  # propensity 1 everywhere: the items follow the context
    log = InteractionLog.concat([greedy, thompson_rows(n_items=40)])
    with pytest.raises(InputError, match="mixes 2 logging policies") as info:
        LoggedFeedback.from_log(log)
    assert "uniformly" not in str(info.value)
