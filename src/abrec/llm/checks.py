"""The conformance suite of generators: every backend (and yours) passes the same checks.

Each check takes a zero-argument factory that builds a fresh generator (a factory, so that a check can
give it a budget or a cache of its own) and raises ``AssertionError`` with a message saying what broke.
:func:`check_generator` runs them all; :data:`GENERATOR_CHECKS` lists them for parametrised tests.

- determinism: the same prompts at temperature 0 give the same texts, on the same and on a fresh instance;
- shapes and accounting: one :class:`~abrec.llm.base.Generation` per prompt, in order, and one counted
  call per prompt;
- answer probabilities: ``(n, a)``, finite, in [0, 1], rows summing to 1 (backends that score answers);
- budget: a batch larger than what is left raises :class:`~abrec.errors.BudgetExhaustedError`
  and makes no model call; what fits still runs;
- cache: through a :class:`~abrec.llm.cache.CachedGenerator`, a repeat is served from disk (no new
  call) with the same answers, also after reopening the file.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..errors import BudgetExhaustedError
from .base import CallBudget, Generator
from .cache import CachedGenerator

__all__ = ["GENERATOR_CHECKS", "check_generator"]

Factory = Callable[[], Generator]
PROMPTS = ["Say hello.", "Name one colour.", "Say hello."]
ANSWERS = ["yes", "no"]
QUESTION = "Is Paris in France? Answer yes or no."


def check_deterministic_at_zero_temperature(make: Factory) -> None:
    """Same prompts, temperature 0: same texts, on one instance and a fresh one."""
    first = make()
    a = [g.text for g in first.generate(PROMPTS, max_tokens=8, temperature=0.0, seed=1)]
    b = [g.text for g in first.generate(PROMPTS, max_tokens=8, temperature=0.0, seed=2)]
    c = [g.text for g in make().generate(PROMPTS, max_tokens=8, temperature=0.0, seed=1)]
    assert a == b == c, f"greedy generations differ between calls: {a!r}, {b!r}, {c!r}"
    assert a[0] == a[2], f"the same prompt twice in one batch got different texts: {a[0]!r} vs {a[2]!r}"


def check_seeded_sampling(make: Factory) -> None:
    """Temperature > 0 with one seed gives the same texts twice."""
    gen = make()
    a = [g.text for g in gen.generate(PROMPTS[:2], max_tokens=8, temperature=1.0, seed=7)]
    b = [g.text for g in gen.generate(PROMPTS[:2], max_tokens=8, temperature=1.0, seed=7)]
    assert a == b, f"sampling with seed 7 twice gave {a!r} and {b!r}"


def check_one_generation_per_prompt_and_accounting(make: Factory) -> None:
    """One generation per prompt, texts are str, calls and tokens counted."""
    gen = make()
    out = gen.generate(PROMPTS, max_tokens=4)
    assert len(out) == len(PROMPTS) and all(isinstance(g.text, str) for g in out), f"got {out!r}"
    assert gen.usage.calls == len(PROMPTS), f"usage counts {gen.usage.calls} calls for {len(PROMPTS)} prompts"
    assert gen.usage.completion_tokens >= 1 or all(not g.text for g in out), "no completion tokens counted"
    assert gen.generate([], max_tokens=4) == [] and gen.usage.calls == len(PROMPTS), "an empty batch made calls"


def check_answer_probabilities(make: Factory) -> None:
    """``(n, a)`` finite probabilities in [0, 1], rows summing to 1; one call per prompt."""
    gen = make()
    if not gen.supports_answer_probabilities:
        return
    probs = gen.answer_probabilities([QUESTION, "Pick a letter.", QUESTION], ["yes", "no", "A"])
    assert probs.shape == (3, 3), f"shape {probs.shape}, expected (3, 3)"
    assert np.isfinite(probs).all() and (probs >= 0).all() and (probs <= 1).all(), f"not probabilities: {probs}"
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-9), f"rows sum to {probs.sum(axis=1)}"
    assert np.allclose(probs[0], probs[2], atol=1e-6), f"the same prompt got {probs[0]} and {probs[2]}"
    assert gen.usage.calls == 3, f"usage counts {gen.usage.calls} calls for 3 prompts"


def check_budget_stops_cleanly(make: Factory) -> None:
    """A batch over the budget raises BudgetExhaustedError and makes no call; what fits runs."""
    gen = make()
    gen.budget = CallBudget(2)
    try:
        gen.generate(PROMPTS, max_tokens=4)
    except BudgetExhaustedError:
        pass
    else:
        raise AssertionError("3 prompts with a budget of 2 calls did not raise BudgetExhaustedError")
    assert gen.usage.calls == 0 and gen.budget.used == 0, f"the refused batch made calls: {gen.usage}"
    gen.generate(PROMPTS[:2], max_tokens=4)
    assert gen.budget.used == 2 and gen.budget.remaining == 0, f"budget after 2 calls: {gen.budget!r}"


def check_cache_hit_on_repeat(make: Factory) -> None:
    """Through a CachedGenerator a repeat costs no call and returns the same answers, also after reopening."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "llm.sqlite"
        inner = make()
        cached = CachedGenerator(inner, path)
        first = [g.text for g in cached.generate(PROMPTS, max_tokens=6)]
        calls = inner.usage.calls
        assert calls == 2, f"3 prompts (2 distinct) made {calls} model calls"
        again = cached.generate(PROMPTS, max_tokens=6)
        assert [g.text for g in again] == first and all(g.cached for g in again), "a repeat was not served from disk"
        assert inner.usage.calls == calls, "a repeat reached the model"
        other = cached.generate(PROMPTS[:1], max_tokens=7)
        assert inner.usage.calls == calls + 1 and not other[0].cached, "other parameters hit the old entry"
        if inner.supports_answer_probabilities:
            p1 = cached.answer_probabilities([QUESTION], ANSWERS)
            p2 = cached.answer_probabilities([QUESTION], ANSWERS)
            assert np.array_equal(p1, p2) and inner.usage.calls == calls + 2, "answer probabilities were not cached"
        cached.cache.close()
        reopened = CachedGenerator(make(), path)
        assert [g.text for g in reopened.generate(PROMPTS, max_tokens=6)] == first, "the file lost answers"
        assert reopened.usage.calls == 0, "a reopened cache reached the model"
        reopened.cache.close()


GENERATOR_CHECKS: tuple[Callable[[Factory], None], ...] = (
    check_deterministic_at_zero_temperature,
    check_seeded_sampling,
    check_one_generation_per_prompt_and_accounting,
    check_answer_probabilities,
    check_budget_stops_cleanly,
    check_cache_hit_on_repeat,
)


def check_generator(make: Factory) -> None:
    """Run every check of :data:`GENERATOR_CHECKS` on generators built by ``make``.

    Examples
    --------
    >>> from abrec.llm import FakeGenerator
    >>> check_generator(FakeGenerator)
    """
    for check in GENERATOR_CHECKS:
        check(make)
