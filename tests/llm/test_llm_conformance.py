"""Every generator backend passes the one conformance suite (``abrec.llm.checks``), and the suite catches broken ones.

Backends: the fake, the local SmolLM2 model (llama.cpp in process), and the OpenAI-compatible client
against two real server processes (over the fake and over SmolLM2).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from abrec.llm import CallBudget, FakeGenerator, Generation, Generator, OpenAICompatibleGenerator
from abrec.llm.checks import (
    GENERATOR_CHECKS,
    check_answer_probabilities,
    check_budget_stops_cleanly,
    check_deterministic_at_zero_temperature,
)

BACKENDS = ["fake", "smollm2", "openai-server-fake", "openai-server-smollm2"]


@pytest.fixture
def factory(request: pytest.FixtureRequest) -> Callable[[], Generator]:
    backend = request.param
    if backend == "fake":
        return FakeGenerator
    if backend == "smollm2":
        model = request.getfixturevalue("smollm2")

        def shared() -> Generator:  # the loaded model, with fresh accounting (loading it per check is slow)
            model.reset_usage()
            model.budget = CallBudget()
            return model

        return shared
    url = request.getfixturevalue("fake_server" if backend.endswith("fake") else "smollm2_server")
    return lambda: OpenAICompatibleGenerator(model="test-model", base_url=url, timeout=120.0)


@pytest.mark.parametrize(
    ("factory", "check"),
    list(itertools.product(BACKENDS, GENERATOR_CHECKS)),
    indirect=["factory"],
    ids=[f"{b}-{c.__name__}" for b, c in itertools.product(BACKENDS, GENERATOR_CHECKS)],
)
def test_generator_conforms(factory: Callable[[], Generator], check: Callable[[Callable[[], Generator]], None]) -> None:
    check(factory)


# ---------------------------------------------------------------------------------------------- broken generators
class Unseeded(FakeGenerator):
    """Greedy decoding that is not deterministic."""

    counter = itertools.count()

    def _generate(self, prompts: list[str], params: object) -> list[Generation]:
        return [Generation(f"reply {next(self.counter)}", 1, 2) for _ in prompts]


class Unnormalised(FakeGenerator):
    """Answer 'probabilities' that do not sum to 1."""

    def answer_probabilities(self, prompts: Sequence[str], answers: Sequence[str]) -> np.ndarray:
        return np.full((len(prompts), len(answers)), 0.5)


class Unbudgeted(FakeGenerator):
    """Makes its calls without charging the budget."""

    def generate(self, prompts: Sequence[str], **kwargs: object) -> list[Generation]:  # type: ignore[override]
        return self._generate(list(prompts), __import__("abrec.llm", fromlist=["SamplingParams"]).SamplingParams())


@pytest.mark.parametrize(
    ("broken", "check", "message"),
    [
        (Unseeded, check_deterministic_at_zero_temperature, "greedy generations differ"),
        (Unnormalised, check_answer_probabilities, "rows sum to"),
        (Unbudgeted, check_budget_stops_cleanly, "did not raise BudgetExhaustedError"),
    ],
)
def test_checks_catch_broken_generators(broken: type[Generator], check: Callable[..., None], message: str) -> None:
    with pytest.raises(AssertionError, match=message):
        check(broken)
