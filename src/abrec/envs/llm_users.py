"""LLMUserWorld: real MovieLens users as personas, a generative model deciding what they click.

:class:`LLMUserWorld` takes its items, prices, arrivals, examination model and users' observable
contexts from a :class:`~abrec.envs.MovieLensWorld` (so that the same Gymnasium views,
:class:`~abrec.envs.RecBanditEnv` and :class:`~abrec.envs.RecSessionEnv`, and the same info keys
apply) and replaces its ground truth: each simulated user is a :class:`~abrec.llm.persona.Persona`
built from a real user's earliest ratings (titles, genres, stars: ``history_share`` of them, at most
``max_history``), and ``P(click | examined)`` of a shown movie is the model's ``P(Yes)`` to "would you
watch it?" (:func:`abrec.llm.persona.watch_probabilities`). ``P(purchase | click)`` is the model's
probability of rating the movie 4 or 5 stars (:func:`abrec.llm.persona.rating_probabilities`).

Every (user, movie) question is one model call: give the world a
:class:`~abrec.llm.cache.CachedGenerator` (repeats are free, reruns too) with a
:class:`~abrec.llm.base.CallBudget`; when the budget is spent, the step raises
:class:`~abrec.llm.errors.BudgetExhaustedError` before any call and the run stops cleanly. Users are
drawn by the environment's seed and the answers are deterministic (answer probabilities, no
sampling), so an episode is reproducible. Note that the bandit view's ``oracle_clicks`` asks about
every candidate of every user: ``n_users * n_candidates`` questions per step.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from ..llm.base import Generator
from ..llm.persona import Persona, rating_probabilities, watch_probabilities
from .movielens import MovieLensWorld
from .world import FloatArray, IntArray, Users, World

__all__ = ["LLMUserWorld"]


class LLMUserWorld(World):
    """Simulated MovieLens users whose clicks and ratings a generative model decides (see the module docstring).

    Parameters
    ----------
    base : the MovieLensWorld whose items, users and contexts are used (built on the same ratings).
    ratings : the MovieLens ratings (``user_id``, ``item_id``, ``rating``, ``timestamp``) the personas
        are built from; only each user's earliest ``history_share`` is read.
    generator : the model (cached and budgeted, preferably).
    history_share : share of each user's ratings, by time, that forms their persona.
    max_history : the most ratings in a persona (the most recent of that share).

    Attributes
    ----------
    personas : one :class:`~abrec.llm.persona.Persona` per row of ``base.user_ids``.
    """

    def __init__(
        self,
        base: MovieLensWorld,
        ratings: object,
        generator: Generator,
        *,
        history_share: float = 0.8,
        max_history: int = 12,
    ) -> None:
        import pandas as pd

        if not isinstance(ratings, pd.DataFrame):
            raise TypeError("ratings must be the MovieLens ratings DataFrame (MovieLens.ratings).")
        self.base = base
        self.generator = generator
        self.item_ids = base.item_ids
        self.item_vectors = base.item_vectors
        self.price = base.price
        self.arrival = base.arrival
        self.examination = base.examination
        self._texts = base.item_texts()
        text_of = dict(zip(base.item_ids.tolist(), self._texts, strict=True))
        r = ratings.sort_values(["user_id", "timestamp"], kind="stable")
        groups = {int(g["user_id"].to_numpy()[0]): g for _, g in r.groupby("user_id", sort=False)}
        self.personas: list[Persona] = []
        for user in base.user_ids.tolist():
            g = groups.get(int(user))
            if g is None:
                self.personas.append(Persona((), ()))
                continue
            n = max(1, int(np.ceil(history_share * len(g))))
            head = g.iloc[:n]
            texts = [text_of.get(int(i), f"movie {int(i)}") for i in head["item_id"].tolist()]
            self.personas.append(Persona.from_history(texts, head["rating"].tolist(), max_items=max_history))

    @property
    def context_dim(self) -> int:
        return self.base.context_dim

    def item_texts(self) -> list[str]:
        return list(self._texts)

    def sample_users(self, n: int, rng: np.random.Generator) -> Users:
        """``n`` real users drawn uniformly with replacement: context as in the base world, taste = (row,)."""
        rows = rng.integers(0, len(self.personas), size=n)
        return Users(self.base.user_contexts[rows], rows.astype(np.float64)[:, None])

    def _pairs(self, users: Users, items: IntArray) -> tuple[list[Persona], list[str], tuple[int, ...]]:
        items = np.asarray(items)
        rows = users.taste[:, 0].astype(np.int64)
        personas = [self.personas[r] for r in np.repeat(rows, items.shape[1]).tolist()]
        texts = [self._texts[i] for i in items.reshape(-1).tolist()]
        return personas, texts, items.shape

    def attraction(self, users: Users, items: IntArray) -> FloatArray:
        """The model's ``P(Yes)`` to "would you watch it?" for each user and item row ``items`` (n, m)."""
        personas, texts, shape = self._pairs(users, items)
        out: FloatArray = watch_probabilities(self.generator, personas, texts).reshape(shape)
        return out

    def purchase(self, users: Users, items: IntArray) -> FloatArray:
        """The model's probability of a rating of 4 or 5 stars, for each user and item row (n, m)."""
        personas, texts, shape = self._pairs(users, items)
        probs = rating_probabilities(self.generator, personas, texts)
        out: FloatArray = probs[:, 3:].sum(axis=1).reshape(shape)
        return out

    def ratings(self, users: Users, items: IntArray) -> npt.NDArray[np.float64]:
        """Expected stars (1..5) the model gives each item row (n, m)."""
        personas, texts, shape = self._pairs(users, items)
        probs = rating_probabilities(self.generator, personas, texts)
        out: FloatArray = (probs @ np.arange(1.0, 6.0)).reshape(shape)
        return out

    def __repr__(self) -> str:
        return f"LLMUserWorld(n_users={len(self.personas)}, n_items={self.n_items}, model={self.generator.identity!r})"
