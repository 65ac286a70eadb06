"""Simulated users: a persona built from a real user's rating history, and a generative model's choices for it.

A :class:`Persona` is what a user's history says in words: the movies they rated (title, year, genres
from the catalog text) with their stars, most recent last, up to ``max_items`` of them, liked ones and
disliked ones both (the prompt needs both to tell taste from habit). The model is asked two fixed,
documented questions about one shown item:

- :data:`WATCH_PROMPT`: "would you watch it?", answers ``Yes`` / ``No`` -> :func:`watch_probabilities`
  (what a click is in the simulator, and the "would watch" of Agent4Rec's protocol);
- :data:`RATING_PROMPT`: "how many stars?", answers ``1``..``5`` -> :func:`rating_probabilities`.

Both go through :meth:`~abrec.llm.base.Generator.answer_probabilities`, one call per (user, item)
pair; wrap the generator in a :class:`~abrec.llm.cache.CachedGenerator` and give it a budget.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import InputError
from .base import FloatArray, Generator

__all__ = [
    "RATING_PROMPT",
    "WATCH_PROMPT",
    "Persona",
    "rating_probabilities",
    "watch_probabilities",
]

WATCH_PROMPT = (
    "You are a movie viewer. Here are movies you rated, from 1 star (hated it) to 5 stars (loved it):\n"
    "{history}\n"
    "Would you watch this movie: {item}?\n"
    "Answer Yes or No."
)
RATING_PROMPT = (
    "You are a movie viewer. Here are movies you rated, from 1 star (hated it) to 5 stars (loved it):\n"
    "{history}\n"
    "You just watched: {item}. How many stars do you give it? Answer with one digit from 1 to 5."
)
WATCH_ANSWERS = ("Yes", "No")
RATING_ANSWERS = ("1", "2", "3", "4", "5")


@dataclass(frozen=True)
class Persona:
    """One user's history as text: ``(item text, stars)`` pairs, oldest first.

    Examples
    --------
    >>> p = Persona.from_history(["Heat (1995). Genres: Action.", "Babe (1995). Genres: Children's."], [5, 1])
    >>> print(p.history_text())
    - Heat (1995). Genres: Action. 5 stars
    - Babe (1995). Genres: Children's. 1 star
    """

    items: tuple[str, ...]
    stars: tuple[int, ...]

    @classmethod
    def from_history(cls, texts: Sequence[str], ratings: Sequence[float], *, max_items: int = 12) -> Persona:
        """The persona of a history (oldest first); keeps the ``max_items`` most recent ratings."""
        if len(texts) != len(ratings):
            raise InputError(f"texts and ratings must have equal length. Got {len(texts)} and {len(ratings)}.")
        if max_items < 1:
            raise InputError(f"max_items must be >= 1. Got {max_items}.")
        keep = slice(max(0, len(texts) - max_items), len(texts))
        stars = tuple(round(float(r)) for r in ratings[keep])
        return cls(tuple(str(t) for t in texts[keep]), stars)

    def history_text(self) -> str:
        """One line per rated item: ``- <text> <n> star(s)``."""
        return "\n".join(f"- {t} {s} star{'s' if s != 1 else ''}" for t, s in zip(self.items, self.stars, strict=True))

    def watch_prompt(self, item: str) -> str:
        """:data:`WATCH_PROMPT` for this persona and one item's text."""
        return WATCH_PROMPT.format(history=self.history_text(), item=item)

    def rating_prompt(self, item: str) -> str:
        """:data:`RATING_PROMPT` for this persona and one item's text."""
        return RATING_PROMPT.format(history=self.history_text(), item=item)


def watch_probabilities(generator: Generator, personas: Sequence[Persona], items: Sequence[str]) -> FloatArray:
    """``P(Yes)`` to "would you watch" for each (persona, item) pair: ``(len(personas),)`` for as many items.

    Examples
    --------
    >>> from abrec.llm import FakeGenerator
    >>> likes_action = lambda prompt, answers: [2.0, 0.0] if "Action" in prompt.split("watch this")[1] else [0.0, 2.0]
    >>> fake = FakeGenerator(scores=likes_action)
    >>> p = Persona.from_history(["Heat (1995). Genres: Action."], [5])
    >>> watch_probabilities(fake, [p, p], ["Speed (1994). Genres: Action.", "Babe (1995). Genres: Comedy."]).round(3)
    array([0.881, 0.119])
    """
    if len(personas) != len(items):
        raise InputError(f"personas and items must pair up. Got {len(personas)} and {len(items)}.")
    prompts = [p.watch_prompt(item) for p, item in zip(personas, items, strict=True)]
    if not prompts:
        return np.zeros(0)
    out: FloatArray = generator.answer_probabilities(prompts, WATCH_ANSWERS)[:, 0]
    return out


def rating_probabilities(generator: Generator, personas: Sequence[Persona], items: Sequence[str]) -> FloatArray:
    """``(n, 5)`` probabilities of 1..5 stars for each (persona, item) pair."""
    if len(personas) != len(items):
        raise InputError(f"personas and items must pair up. Got {len(personas)} and {len(items)}.")
    prompts = [p.rating_prompt(item) for p, item in zip(personas, items, strict=True)]
    if not prompts:
        return np.zeros((0, 5))
    return generator.answer_probabilities(prompts, RATING_ANSWERS)
