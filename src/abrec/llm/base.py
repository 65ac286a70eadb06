"""The generative-model protocol: prompts in, texts (or answer probabilities) out, every call accounted.

Every abrec generator subclasses :class:`Generator` and implements :attr:`Generator.identity` and
:meth:`Generator._generate` (one batch of validated prompts to :class:`Generation` records), and, where
the backend can score a fixed set of answers, :meth:`Generator._answer_logprobs`. The base class does
what every backend shares:

- it validates prompts (a list of ``str``), answers (distinct non-empty ``str``) and the sampling
  parameters (``max_tokens`` >= 1, ``temperature`` >= 0, ``seed`` an int);
- it charges every model call to a :class:`CallBudget` *before* making it: a batch that does not fit
  in what is left raises :class:`~abrec.errors.BudgetExhaustedError` and makes no call at all, so
  a run stops cleanly between batches (answers already obtained stay in the response cache);
- it adds the calls, tokens, seconds and cost of every batch to :attr:`Generator.usage`;
- it turns the backend's answer log-scores into probabilities that sum to 1 (a softmax over the answers).

Determinism: at ``temperature=0`` a generator returns the same text for the same prompt and
parameters; above 0 the ``seed`` fixes the sample where the backend honours seeds.
"""

from __future__ import annotations

import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import numpy.typing as npt

from .._params import Interval, validate_params
from ..embeddings.base import check_texts
from ..errors import BudgetExhaustedError, GenerationError, InputError

__all__ = ["CallBudget", "FloatArray", "Generation", "Generator", "SamplingParams", "Usage", "check_answers"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Generation:
    """One generated answer.

    Attributes
    ----------
    text : the completion (without the prompt).
    prompt_tokens, completion_tokens : tokens read and written, as the backend counted them.
    cached : whether it came from the response cache (no model call).
    """

    text: str
    prompt_tokens: int = 0
    completion_tokens: int = 0
    cached: bool = False


@dataclass(frozen=True)
class SamplingParams:
    """The parameters of a :meth:`Generator.generate` call that change its answer (and key the cache).

    Examples
    --------
    >>> SamplingParams(max_tokens=8).as_key()
    {'max_tokens': 8, 'seed': 0, 'temperature': 0.0}
    """

    max_tokens: int = 64
    temperature: float = 0.0
    seed: int = 0

    def __post_init__(self) -> None:
        constraints = {
            "max_tokens": Interval("int", 1, 1_000_000),
            "temperature": Interval("float", 0.0, 100.0),
            "seed": Interval("int", 0, 2**63 - 1),
        }
        validate_params("generate", constraints, {k: getattr(self, k) for k in constraints})

    def as_key(self) -> dict[str, Any]:
        """The parameters as a JSON-ready dict with sorted keys (temperature as a float)."""
        return {"max_tokens": int(self.max_tokens), "seed": int(self.seed), "temperature": float(self.temperature)}


@dataclass
class Usage:
    """What a generator has spent: model calls, tokens, seconds and US dollars; merges with ``+``.

    A call is one prompt sent to the model (one completion or one scoring of an answer set).

    Examples
    --------
    >>> total = Usage(calls=2, prompt_tokens=10) + Usage(calls=1, completion_tokens=3, cost_usd=0.5)
    >>> total.calls, total.tokens, total.cost_usd
    (3, 13, 0.5)
    """

    calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    seconds: float = 0.0
    cost_usd: float = 0.0

    @property
    def tokens(self) -> int:
        """Prompt plus completion tokens."""
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.calls + other.calls,
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
            self.seconds + other.seconds,
            self.cost_usd + other.cost_usd,
        )

    def merge_in(self, other: Usage, *, reset: bool = False) -> None:
        """Add ``other`` to this record in place (or, with ``reset``, replace it by ``other``)."""
        total = other if reset else self + other
        self.calls, self.prompt_tokens, self.completion_tokens = (
            total.calls,
            total.prompt_tokens,
            total.completion_tokens,
        )
        self.seconds, self.cost_usd = total.seconds, total.cost_usd

    def per_call(self) -> dict[str, float]:
        """Tokens, seconds and cost per call (0 when no call was made)."""
        n = max(self.calls, 1)
        return {"tokens": self.tokens / n, "seconds": self.seconds / n, "cost_usd": self.cost_usd / n}


class CallBudget:
    """A per-run limit on model calls, shared by every generator (and thread) that is given it.

    :meth:`charge` takes ``n`` calls at once or none: when fewer than ``n`` are left it raises
    :class:`~abrec.errors.BudgetExhaustedError` and takes nothing, so the caller stops before the
    batch instead of in the middle of it.

    Examples
    --------
    >>> budget = CallBudget(3)
    >>> budget.charge(2); budget.remaining
    1
    >>> budget.charge(2)
    Traceback (most recent call last):
    ...
    abrec.errors.BudgetExhaustedError: The call budget of 3 model calls is spent (2 used, 1 left); ...
    """

    def __init__(self, max_calls: int | None = None) -> None:
        validate_params("CallBudget", {"max_calls": replace(Interval("int", 0, 2**63 - 1), optional=True)}, locals())
        self.max_calls = max_calls
        self.used = 0
        self._lock = threading.Lock()

    @property
    def remaining(self) -> int | None:
        """Calls left (None: unlimited)."""
        return None if self.max_calls is None else self.max_calls - self.used

    def charge(self, n: int) -> None:
        """Take ``n`` calls from the budget, or raise :class:`BudgetExhaustedError` and take none."""
        with self._lock:
            if self.max_calls is not None and self.used + n > self.max_calls:
                raise BudgetExhaustedError(
                    f"The call budget of {self.max_calls} model calls is spent ({self.used} used, "
                    f"{self.max_calls - self.used} left); this batch needs {n}. Raise max_calls, or rerun: "
                    "answers already obtained are in the response cache and cost no call."
                )
            self.used += n

    def refund(self, n: int) -> None:
        """Give back ``n`` calls that were charged but not made (a failed batch)."""
        with self._lock:
            self.used = max(0, self.used - n)

    def __repr__(self) -> str:
        return f"CallBudget(max_calls={self.max_calls}, used={self.used})"


def check_answers(answers: Any) -> list[str]:
    """``answers`` as a list of at least two distinct non-empty ``str``, or :class:`~abrec.errors.InputError`.

    Examples
    --------
    >>> check_answers(("yes", "no"))
    ['yes', 'no']
    >>> check_answers(["yes", "yes"])
    Traceback (most recent call last):
    ...
    abrec.errors.InputError: answers must be at least two distinct non-empty strings. Got ['yes', 'yes'].
    """
    items = check_texts(answers)
    if len(items) < 2 or len(set(items)) != len(items) or not all(a.strip() for a in items):
        raise InputError(f"answers must be at least two distinct non-empty strings. Got {items!r:.200}.")
    return items


def softmax_rows(logits: npt.ArrayLike, rows: int, cols: int, who: str) -> FloatArray:
    """Row-wise softmax of ``(rows, cols)`` log-scores (``-inf`` allowed where another answer is finite)."""
    x = np.array(logits, dtype=np.float64)
    if x.shape != (rows, cols):
        raise GenerationError(f"{who} returned answer scores of shape {x.shape}; expected ({rows}, {cols}).")
    if np.isnan(x).any() or np.isposinf(x).any() or (rows and not np.isfinite(x).any(axis=1).all()):
        raise GenerationError(f"{who} returned NaN, +inf or all -inf answer scores.")
    x = x - x.max(axis=1, keepdims=True)
    e = np.exp(x)
    out: FloatArray = e / e.sum(axis=1, keepdims=True)
    return out


class Generator(ABC):
    """Base class of abrec's generative models (and of yours).

    Parameters
    ----------
    budget : a :class:`CallBudget` to charge (shared between generators), an int (a new budget of
        that many calls), or None (unlimited).

    Attributes
    ----------
    usage : :class:`Usage`, everything spent so far.
    budget : the :class:`CallBudget` charged.

    Examples
    --------
    >>> class Echo(Generator):
    ...     identity = "echo-v1"
    ...     def _generate(self, prompts, params):
    ...         return [Generation(p[: params.max_tokens]) for p in prompts]
    >>> echo = Echo(budget=2)
    >>> [g.text for g in echo.generate(["hello", "world"], max_tokens=3)]
    ['hel', 'wor']
    >>> echo.usage.calls, echo.budget.remaining
    (2, 0)
    >>> echo.generate(["again"])
    Traceback (most recent call last):
    ...
    abrec.errors.BudgetExhaustedError: The call budget of 2 model calls is spent (2 used, 0 left); ...
    """

    #: Whether :meth:`answer_probabilities` works for this backend.
    supports_answer_probabilities: bool = False

    def __init__(self, *, budget: CallBudget | int | None = None) -> None:
        self.budget = budget if isinstance(budget, CallBudget) else CallBudget(budget)
        self.usage = Usage()
        self._usage_lock = threading.Lock()

    @property
    @abstractmethod
    def identity(self) -> str:
        """A stable, non-empty string naming the model (name and content digest or revision) and settings."""

    @abstractmethod
    def _generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        """Complete one batch of validated prompts (one :class:`Generation` each, in order)."""

    def _answer_logprobs(self, prompts: list[str], answers: list[str]) -> npt.ArrayLike:
        """``(len(prompts), len(answers))`` log-scores of each answer as the reply to each prompt."""
        raise GenerationError(
            f"{type(self).__name__} cannot score answers; use generate() and parse the text, or a backend whose "
            "supports_answer_probabilities is True."
        )

    # ------------------------------------------------------------------ public API
    def generate(
        self, prompts: Sequence[str], *, max_tokens: int = 64, temperature: float = 0.0, seed: int = 0
    ) -> list[Generation]:
        """Complete every prompt (one model call each).

        Parameters
        ----------
        prompts : a sequence of str (each a user message; chat backends apply the model's chat template).
        max_tokens : the most tokens of each completion.
        temperature : 0 for greedy (deterministic) decoding.
        seed : fixes the sample at ``temperature > 0`` where the backend honours seeds.

        Raises
        ------
        abrec.errors.InputError
            ``prompts`` is not a sequence of str.
        abrec.errors.ParameterError
            A sampling parameter is out of range.
        abrec.errors.BudgetExhaustedError
            The batch does not fit in what is left of the call budget (no call was made).
        abrec.errors.GenerationError
            The model failed (after the backend's retries).
        """
        items = check_texts(prompts)
        params = SamplingParams(max_tokens=max_tokens, temperature=float(temperature), seed=seed)
        if not items:
            return []
        out: list[Generation] = self._charged(len(items), lambda: self._generate(items, params))
        if len(out) != len(items) or not all(isinstance(g, Generation) for g in out):
            raise GenerationError(f"{self!r} returned {len(out)} generations for {len(items)} prompts.")
        self._account(0, sum(g.prompt_tokens for g in out), sum(g.completion_tokens for g in out))
        return out

    def answer_probabilities(self, prompts: Sequence[str], answers: Sequence[str]) -> FloatArray:
        """The probability of each of ``answers`` as the model's reply to each prompt (rows sum to 1).

        The model's own probabilities of the answers' tokens, renormalised over the answer set (one
        model call per prompt). What priors and simulated choices need: no parsing of free text.

        Raises
        ------
        abrec.errors.GenerationError
            The backend cannot score answers (:attr:`supports_answer_probabilities` is False).
        """
        items = check_texts(prompts)
        choices = check_answers(answers)
        if not self.supports_answer_probabilities:
            self._answer_logprobs(items, choices)  # raises the backend's message
        if not items:
            return np.zeros((0, len(choices)))
        raw = self._charged(len(items), lambda: self._answer_logprobs(items, choices))
        return softmax_rows(raw, len(items), len(choices), repr(self))

    def reset_usage(self) -> None:
        """Set :attr:`usage` back to zero, in place (the budget is not refunded)."""
        with self._usage_lock:
            self.usage.merge_in(Usage(), reset=True)

    # ------------------------------------------------------------------ accounting
    def _charged(self, n: int, call: Any) -> Any:
        self.budget.charge(n)
        start = time.perf_counter()
        try:
            result = call()
        except BaseException:
            self.budget.refund(n)
            raise
        self._account(n, 0, 0, time.perf_counter() - start)
        return result

    def _account(self, calls: int, prompt_tokens: int, completion_tokens: int, seconds: float = 0.0) -> None:
        with self._usage_lock:
            self.usage.merge_in(
                Usage(calls, prompt_tokens, completion_tokens, seconds, self._cost(prompt_tokens, completion_tokens))
            )

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        """US dollars for these tokens (0 for local models)."""
        return 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(identity={self.identity!r})"
