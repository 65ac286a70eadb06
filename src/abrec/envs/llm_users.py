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
:class:`~abrec.errors.BudgetExhaustedError` before any call and the run stops cleanly. Users are
drawn by the environment's seed and the answers are deterministic (answer probabilities, no
sampling), so an episode is reproducible. Note that the bandit view's ``oracle_clicks`` asks about
every candidate of every user: ``n_users * n_candidates`` questions per step.

:meth:`LLMUserWorld.from_config` builds one from plain values (a MovieLens folder and a generator spec
for :func:`abrec.llm.make_generator`): what the Gymnasium ids ``abrec/LLMUsers-{Bandit,Session}-v0``
call with their config's ``world`` mapping.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from .._params import Interval, validate_params
from ..errors import InputError, unknown_key
from ..llm.base import Generator
from ..llm.persona import Persona, rating_probabilities, watch_probabilities
from .movielens import MovieLensWorld
from .world import FloatArray, IntArray, Users, World

__all__ = ["LLMUserWorld"]

_PARAMETERS = {"history_share": Interval("float", 0.0, 1.0, closed="right"), "max_history": Interval("int", 1)}


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

        validate_params(type(self).__name__, _PARAMETERS, {"history_share": history_share, "max_history": max_history})
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

    @classmethod
    def from_config(
        cls,
        path: str | os.PathLike[str],
        *,
        generator: str = "smollm2",
        generator_options: Mapping[str, Any] | None = None,
        cache_dir: str | os.PathLike[str] | None = None,
        max_calls: int | None = None,
        history_share: float = 0.8,
        max_history: int = 12,
        movielens: Mapping[str, Any] | None = None,
        seed: int = 0,
    ) -> LLMUserWorld:
        """The LLM users of the MovieLens folder ``path``, their answers from the generator named ``generator``.

        Parameters
        ----------
        path : a MovieLens folder (``ml-100k``, ``ml-1m``, ...).
        generator : a spec of :func:`abrec.llm.make_generator`: ``"smollm2"`` (the local model, the
            default), ``"openai"`` / ``"openai:MODEL"`` (an endpoint from ``ABREC_LLM_BASE_URL``...), a
            ``.gguf`` file, or ``"fake"`` (tests).
        generator_options : keyword arguments of that generator's constructor (e.g. ``n_threads``).
        cache_dir : folder of the on-disk response cache (one file per model identity); None: no cache.
        max_calls : the call budget of the world's generator (None: unlimited); when it is spent a step
            raises :class:`~abrec.errors.BudgetExhaustedError` before any call.
        history_share, max_history : see :class:`LLMUserWorld`.
        movielens : keyword arguments of the base :class:`~abrec.envs.MovieLensWorld` (``rank``,
            ``cold_share``, ``horizon``...).
        seed : seeds the base world.

        Raises
        ------
        abrec.errors.InputError
            A key of ``movielens`` that MovieLensWorld does not take, or ``generator_options`` not a mapping.
        abrec.errors.UnknownNameError
            ``generator`` is no generator spec.
        abrec.errors.GenerationError
            The generator could not be built (missing package, model file or endpoint settings).
        """
        from ..data import load_movielens
        from ..llm.registry import make_generator

        known = [
            p.name
            for p in list(inspect.signature(MovieLensWorld).parameters.values())[1:]
            if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name != "seed"
        ]
        world_args = dict(movielens or {})
        for key in world_args:
            if key not in known:
                raise unknown_key(key, "env.world.movielens", known)
        if generator_options is not None and not isinstance(generator_options, Mapping):
            raise InputError(f"env.world.generator_options must be a mapping. Got {generator_options!r}.")
        model = make_generator(generator, cache_dir=cache_dir, budget=max_calls, **dict(generator_options or {}))
        data = load_movielens(path)
        base = MovieLensWorld(data, **world_args, seed=seed)
        return cls(base, data.ratings, model, history_share=history_share, max_history=max_history)

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
