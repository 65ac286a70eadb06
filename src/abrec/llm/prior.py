"""Item priors from a generative model's answer to one fixed, documented prompt.

The prompt (:data:`APPEAL_PROMPT`) asks how appealing an item is to a user segment, on a 1-5 scale::

    You are recommending {domain}. How appealing is the following item to {segment}?
    Item: {item}
    Answer with a single digit from 1 (not at all appealing) to 5 (very appealing).

The model's probabilities of the five answers (:meth:`~abrec.llm.base.Generator.answer_probabilities`;
for a backend that cannot score answers, the first digit of a greedy reply) give each item's expected
appeal ``E`` in [1, 5]. Its prior click rate is the linear map of ``E`` onto ``rate_range``
(``low + (high - low) * (E - 1) / 4``) and its prior is ``Beta(s * m, s * (1 - m))`` with ``s =
strength`` pseudo-observations: what :class:`abrec.policies.GuardedPriorThompson` and
:class:`abrec.policies.BernoulliThompson` take as ``priors``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .._params import Interval, validate_params
from ..errors import InputError
from .base import FloatArray, Generator

__all__ = ["APPEAL_ANSWERS", "APPEAL_PROMPT", "ItemPriors", "appeal_prompt", "item_priors"]

APPEAL_PROMPT = (
    "You are recommending {domain}. How appealing is the following item to {segment}?\n"
    "Item: {item}\n"
    "Answer with a single digit from 1 (not at all appealing) to 5 (very appealing)."
)
APPEAL_ANSWERS = ("1", "2", "3", "4", "5")


def appeal_prompt(item: str, *, segment: str = "a typical user", domain: str = "movies") -> str:
    """The fixed appeal prompt for one item's text.

    Examples
    --------
    >>> print(appeal_prompt("Toy Story (1995), Animation|Comedy", segment="children"))
    You are recommending movies. How appealing is the following item to children?
    Item: Toy Story (1995), Animation|Comedy
    Answer with a single digit from 1 (not at all appealing) to 5 (very appealing).
    """
    return APPEAL_PROMPT.format(domain=domain, segment=segment, item=item)


@dataclass(frozen=True)
class ItemPriors:
    """Per-item priors from a model's appeal answers.

    Attributes
    ----------
    items : (m,) item ids.
    probabilities : (m, 5) probability of each appeal answer 1..5.
    mean : (m,) prior click rates.
    strength : pseudo-observations of each prior.
    model : the generator's identity.
    """

    items: npt.NDArray[Any]
    probabilities: FloatArray
    mean: FloatArray
    strength: float
    model: str

    @property
    def appeal(self) -> FloatArray:
        """(m,) expected appeal in [1, 5]."""
        out: FloatArray = self.probabilities @ np.arange(1.0, 6.0)
        return out

    def as_beta(self) -> dict[Any, tuple[float, float]]:
        """item id -> ``(alpha, beta)`` = ``(s * m, s * (1 - m))``, the ``priors`` of the Thompson policies."""
        s = self.strength
        return {item: (s * m, s * (1.0 - m)) for item, m in zip(self.items.tolist(), self.mean.tolist(), strict=True)}


def _parse_digit(text: str) -> int | None:
    match = re.search(r"[1-5]", text)
    return int(match.group()) if match else None


def item_priors(
    generator: Generator,
    items: npt.ArrayLike,
    texts: Sequence[str],
    *,
    segment: str = "a typical user",
    domain: str = "movies",
    strength: float = 20.0,
    rate_range: tuple[float, float] = (0.02, 0.30),
) -> ItemPriors:
    """Ask ``generator`` the appeal prompt for every item and turn the answers into Beta priors.

    Parameters
    ----------
    generator : any :class:`~abrec.llm.base.Generator` (cached or not).
    items : (m,) item ids; ``texts`` their texts (title, genres, description), in the same order.
    segment, domain : fill the prompt (see the module docstring).
    strength : pseudo-observations ``s`` of each prior.
    rate_range : the click rates of appeal 1 and appeal 5.

    Examples
    --------
    >>> from abrec.llm import FakeGenerator
    >>> fake = FakeGenerator(scores=lambda p, a: [0, 0, 0, 0, 9] if "Toy" in p else [9, 0, 0, 0, 0])
    >>> pri = item_priors(fake, [1, 2], ["Toy Story", "Dull Movie"])
    >>> pri.mean.round(2).tolist(), [round(a) for a, _ in pri.as_beta().values()]
    ([0.3, 0.02], [6, 0])
    """
    ids = np.asarray(items)
    if ids.ndim != 1 or ids.shape[0] != len(texts):
        raise InputError(f"items and texts must be 1-D of equal length. Got {ids.shape} and {len(texts)} texts.")
    validate_params("item_priors", {"strength": Interval("float", 0.0, 1e9, closed="neither")}, locals())
    low, high = (float(v) for v in rate_range)
    if not 0.0 < low <= high < 1.0:
        raise InputError(f"rate_range must be (low, high) with 0 < low <= high < 1. Got {rate_range!r}.")
    prompts = [appeal_prompt(text, segment=segment, domain=domain) for text in texts]
    if generator.supports_answer_probabilities:
        probs = generator.answer_probabilities(prompts, APPEAL_ANSWERS)
    else:
        replies = generator.generate(prompts, max_tokens=4, temperature=0.0)
        probs = np.full((len(prompts), 5), 0.2)
        for i, reply in enumerate(replies):
            digit = _parse_digit(reply.text)
            if digit is not None:
                probs[i] = np.eye(5)[digit - 1]
    appeal = probs @ np.arange(1.0, 6.0)
    mean = low + (high - low) * (appeal - 1.0) / 4.0
    return ItemPriors(ids, probs, mean, float(strength), generator.identity)
