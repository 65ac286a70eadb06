"""The LLM-prior warm start: item priors from a model's appeal answers, and the guard that drops a wrong prior.

The guard's false-alarm rate is checked for calibration over many runs of Thompson sampling (the
adaptive choice of items is what makes a naive test invalid), with a tolerance from the binomial error;
its power on inverted priors, and the policy's behaviour and state, on GuardedPriorThompson itself.
"""

from __future__ import annotations

import math
import os
import tempfile

import numpy as np
import pytest

from abrec.errors import InputError
from abrec.llm import CachedGenerator, FakeGenerator, SamplingParams, item_priors
from abrec.policies import BernoulliThompson, Feedback, GuardedPriorThompson, load_policy
from abrec.policies.alignment import alignment_threshold, guard_log_evidence

M, STRENGTH, ALPHA = 20, 20.0, 0.05


def _thompson_runs(runs: int, rounds: int, truth: str, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised Beta-Bernoulli TS from the priors; returns (fired, first observation count at which it fired)."""
    rng = np.random.default_rng(seed)
    means = np.clip(rng.beta(1.2, 10.0, (runs, M)), 0.01, 0.95)
    a, b = STRENGTH * means, STRENGTH * (1 - means)
    if truth == "prior":
        rates = rng.beta(a, b)
    else:  # inverted: each item gets the rate of the item at the mirrored rank of the prior
        order = np.argsort(means, axis=1)
        rates = np.empty_like(means)
        np.put_along_axis(rates, order, np.take_along_axis(means, order[:, ::-1], axis=1), axis=1)
    s, f = np.zeros((runs, M)), np.zeros((runs, M))
    fired_at = np.full(runs, -1)
    threshold = alignment_threshold(ALPHA)
    idx = np.arange(runs)
    for t in range(1, rounds + 1):
        pick = rng.beta(a + s, b + f).argmax(axis=1)
        r = rng.random(runs) < rates[idx, pick]
        s[idx, pick] += r
        f[idx, pick] += ~r
        if t % 5 == 0:
            for i in np.flatnonzero(fired_at < 0):
                if guard_log_evidence(s[i], f[i], a[i], b[i]) >= threshold:
                    fired_at[i] = t
    return fired_at >= 0, fired_at


def test_false_alarm_rate_is_at_most_alpha_when_the_prior_is_right() -> None:
    runs = 400
    fired, _ = _thompson_runs(runs, 300, "prior", seed=1)
    tolerance = 3.0 * math.sqrt(ALPHA * (1 - ALPHA) / runs)
    assert fired.mean() <= ALPHA + tolerance, f"false-alarm rate {fired.mean():.3f} > {ALPHA} + {tolerance:.3f}"


def test_the_guard_fires_quickly_on_inverted_priors() -> None:
    fired, at = _thompson_runs(100, 300, "inverted", seed=2)
    assert fired.mean() >= 0.95, f"fired in only {fired.mean():.0%} of runs"
    assert np.median(at[fired]) <= 60, f"median observations before firing: {np.median(at[fired])}"


def _priors(means: np.ndarray) -> dict[int, tuple[float, float]]:
    return {i: (STRENGTH * m, STRENGTH * (1 - m)) for i, m in enumerate(means.tolist())}


def test_the_policy_follows_the_given_prior_until_the_check_fires_then_the_uninformative_one() -> None:
    means = np.linspace(0.05, 0.4, 6)
    guarded = GuardedPriorThompson(priors=_priors(means), propensity_draws=10, seed=3)
    plain = BernoulliThompson(priors=_priors(means), propensity_draws=10, seed=3)
    items = np.arange(6)
    rng = np.random.default_rng(0)
    rates = means[::-1].copy()  # the prior is exactly inverted
    while guarded.fired_at is None:
        d1, d2 = guarded.decide(items), plain.decide(items)
        assert d1.items.tolist() == d2.items.tolist(), "before the alarm the guarded policy is plain TS on the prior"
        assert d1.version == BernoulliThompson.version and guarded.prior_in_force == "given"
        r = (rng.random(1) < rates[d1.items[0]]).astype(float)
        guarded.update(d1.feedback(r))
        plain.update(d2.feedback(r))
        assert guarded.observations < 500, "the check never fired on an inverted prior"
    assert guarded.prior_in_force == "uninformative" and guarded.evidence >= alignment_threshold(0.05)
    n = guarded.n_items
    assert (guarded._state["alpha0"][:n] == 1.0).all() and (guarded._state["beta0"][:n] == 1.0).all()
    guarded.update(Feedback(items=np.array([99]), rewards=np.array([1.0])))  # a new item after the alarm
    assert guarded._state["alpha0"][guarded.n_items - 1] == 1.0
    with tempfile.TemporaryDirectory() as folder:
        path = os.path.join(folder, "p.npz")
        guarded.save(path)
        loaded = load_policy(path)
    assert isinstance(loaded, GuardedPriorThompson)
    assert (loaded.fired_at, loaded.observations, loaded.evidence) == (
        guarded.fired_at,
        guarded.observations,
        guarded.evidence,
    )


@pytest.mark.parametrize(("corruption", "max_loss"), [(0.0, -0.2), (1.0, 0.10)])
def test_guarded_warm_start_against_the_uninformative_prior(corruption: float, max_loss: float) -> None:
    """Aligned: a clear gain over the uninformative prior; fully inverted: never more than 10% lost."""
    losses = []
    for seed in range(6):
        rng = np.random.default_rng(seed)
        rates = rng.beta(1.2, 10.0, 30)
        means = np.clip(rates * np.exp(rng.normal(0, 0.3, 30)), 0.005, 0.95)
        if corruption:
            order = np.argsort(means)
            flipped = np.empty_like(means)
            flipped[order] = means[order[::-1]]
            means = flipped
        clicks = []
        for policy in (
            BernoulliThompson(propensity_draws=1, seed=seed),
            GuardedPriorThompson(priors=_priors(means), propensity_draws=1, seed=seed),
        ):
            sim = np.random.default_rng(100 + seed)
            candidates = np.tile(np.arange(30), (10, 1))
            total = 0.0
            for _ in range(80):
                d = policy.decide(candidates)
                r = (sim.random(10) < rates[d.items[:, 0]]).astype(float)
                total += r.sum()
                policy.update(d.feedback(r))
            clicks.append(total)
        losses.append(1.0 - clicks[1] / clicks[0])
    assert np.mean(losses) <= max_loss, f"mean loss vs uninformative {np.mean(losses):.3f} > {max_loss}"


# ---------------------------------------------------------------------------------------------- item priors
def test_item_priors_map_answer_probabilities_to_beta_priors() -> None:
    def scores(prompt: str, answers: list[str]) -> list[float]:
        assert answers == ["1", "2", "3", "4", "5"] and "to children?" in prompt
        return [0.0, 0.0, 0.0, 0.0, 50.0] if "Toy Story" in prompt else [0.0, 50.0, 0.0, 0.0, 0.0]

    priors = item_priors(
        FakeGenerator(scores=scores),
        [7, 8],
        ["Toy Story", "Heat"],
        segment="children",
        strength=10,
        rate_range=(0.1, 0.5),
    )
    assert priors.appeal == pytest.approx([5.0, 2.0])
    assert priors.mean == pytest.approx([0.5, 0.2])
    beta = priors.as_beta()
    assert list(beta) == [7, 8] and np.allclose([beta[7], beta[8]], [(5.0, 5.0), (2.0, 8.0)])
    with pytest.raises(InputError, match="rate_range"):
        item_priors(FakeGenerator(), [1], ["x"], rate_range=(0.5, 0.1))
    with pytest.raises(InputError, match="equal length"):
        item_priors(FakeGenerator(), [1, 2], ["x"])


def test_item_priors_parse_replies_when_the_backend_cannot_score_answers() -> None:
    class TextOnly(FakeGenerator):
        supports_answer_probabilities = False

    def reply(prompt: str, params: SamplingParams) -> str:
        return "4 - fairly appealing" if "Alien" in prompt else "no idea"

    priors = item_priors(TextOnly(reply=reply), [1, 2], ["Alien", "Unknown"], rate_range=(0.1, 0.5))
    assert priors.probabilities[0].tolist() == [0, 0, 0, 1, 0] and priors.mean[0] == pytest.approx(0.4)
    assert priors.probabilities[1] == pytest.approx([0.2] * 5)  # unparsed: the flat answer


def test_item_priors_come_from_the_cache_on_a_rerun(tmp_path: object) -> None:
    path = os.path.join(str(tmp_path), "llm.sqlite")
    first = CachedGenerator(FakeGenerator(), path)
    a = item_priors(first, [1, 2, 3], ["a", "b", "c"])
    second = CachedGenerator(FakeGenerator(), path)
    b = item_priors(second, [1, 2, 3], ["a", "b", "c"])
    assert first.usage.calls == 3 and second.usage.calls == 0 and np.array_equal(a.mean, b.mean)
