"""RecBanditEnv: the Gymnasium bandit view of any :class:`~abrec.envs.world.World`.

Each step, a batch of ``n_users`` fresh users arrives; each gets ``n_candidates`` distinct items
drawn uniformly (in random order) from the items available at that step, and the agent answers
with a slate of ``slate_size`` of them per user. Clicks follow the world's position-based model,
purchases follow clicks; the reward is the batch's clicks (or revenue).

Observation (a ``Dict``):

- ``context``: ``(n_users, context_dim)`` float32, what the agent may know about each user;
- ``candidates``: ``(n_users, n_candidates)`` int64 item **rows** of the world (``world.item_ids[row]``
  is an item's public id; policies may use rows as ids, and ``env.item_texts()[row]`` is its text).

Action: ``(n_users, slate_size)`` ints, the *columns* of the chosen candidates, position 0 first
(``MultiDiscrete``). A column repeated within a slate is shown once: its later positions get no
click, purchase or revenue.

Info of a step (all per user of the batch; ``k = slate_size``):

==================  ============  ===========================================================
key                 shape, dtype  meaning
==================  ============  ===========================================================
``clicks``          (n, k) int8   1 where the item at that position was clicked
``purchases``       (n, k) int8   1 where it was clicked and bought
``revenue``         (n, k) float  price of the purchases (0 elsewhere)
``items``           (n, k) int64  item rows shown
``expected_clicks`` (n,) float    exact expected clicks of the chosen slate (repeats count 0)
``oracle_clicks``   (n,) float    expected clicks of the best slate among the user's candidates
``new_items``       (n, k) bool   the item shown arrived after step 0 (cold start)
``step``            int           index of the step just played (0 = the first after reset)
==================  ============  ===========================================================

``oracle_clicks`` equals ``world.expected_clicks(users, world.best_slates(users, candidates, k))``
and is computed from the candidates' attractions in one pass (unless the world overrides
``best_slates``, which is then called).
"""

from __future__ import annotations

from typing import Any, ClassVar

import gymnasium as gym
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from .._params import Constraint, Interval, StrOptions, validate_params
from .._random import Seed
from ..errors import InputError, ParameterError
from . import _sim_kernels as kernels
from .world import FloatArray, IntArray, Users, World

__all__ = ["REWARDS", "RecBanditEnv"]

#: The rewards a :class:`RecBanditEnv` can pay.
REWARDS = ("clicks", "revenue")

Observation = dict[str, Any]


class RecBanditEnv(gym.Env[Observation, npt.NDArray[np.int64]]):
    """The bandit view of a :class:`World`: batches of users, candidate items, slates (see the module docstring).

    Parameters
    ----------
    world : the simulated market (e.g. :class:`~abrec.envs.synthetic.SyntheticCatalog`).
    n_users : users arriving at each step.
    n_candidates : candidate items per user, at most the number of items available at step 0.
    slate_size : items shown per user, at most ``n_candidates`` and ``world.n_positions``.
    horizon : steps per episode (``truncated`` is True from the ``horizon``-th step on).
    reward : ``"clicks"`` (the batch's clicks) or ``"revenue"`` (the batch's revenue).
    seed : seed of the first :meth:`reset` when it is called without one (int or
        ``numpy.random.Generator``); ``reset(seed=...)`` reseeds as in every Gymnasium env.

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.envs.synthetic import SyntheticCatalog
    >>> env = RecBanditEnv(SyntheticCatalog(n_items=100, seed=0), n_users=4, n_candidates=10, seed=1)
    >>> obs, info = env.reset()
    >>> obs["context"].shape, obs["candidates"].shape
    ((4, 24), (4, 10))
    >>> obs, reward, terminated, truncated, info = env.step(np.tile([0, 1, 2], (4, 1)))
    >>> info["clicks"].shape, bool((info["oracle_clicks"] >= info["expected_clicks"]).all())
    ((4, 3), True)
    """

    metadata = {"render_modes": []}  # noqa: RUF012 - Gymnasium declares it a plain class attribute
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        "n_users": Interval("int", 1),
        "n_candidates": Interval("int", 1),
        "slate_size": Interval("int", 1),
        "horizon": Interval("int", 1),
        "reward": StrOptions(REWARDS),
    }

    def __init__(
        self,
        world: World,
        *,
        n_users: int = 1000,
        n_candidates: int = 50,
        slate_size: int = 3,
        horizon: int = 100,
        reward: str = "clicks",
        seed: Seed = None,
    ) -> None:
        owner = type(self).__name__
        validate_params(
            owner,
            self._parameter_constraints,
            {
                "n_users": n_users,
                "n_candidates": n_candidates,
                "slate_size": slate_size,
                "horizon": horizon,
                "reward": reward,
            },
        )
        if not isinstance(world, World):
            raise ParameterError(f"The 'world' parameter of {owner} must be a World. Got {type(world).__name__}.")
        available = world.available(0).shape[0]
        if n_candidates > available:
            raise ParameterError(
                f"The 'n_candidates' parameter of {owner} must be at most the {available} items available at "
                f"step 0 of the world. Got {n_candidates} instead: lower n_candidates or use a larger world."
            )
        if slate_size > min(n_candidates, world.n_positions):
            raise ParameterError(
                f"The 'slate_size' parameter of {owner} must be at most n_candidates ({n_candidates}) and the "
                f"world's number of positions ({world.n_positions}). Got {slate_size} instead."
            )
        if isinstance(seed, bool) or not (seed is None or isinstance(seed, np.random.Generator | int | np.integer)):
            raise ParameterError(
                f"The 'seed' parameter of {owner} must be an int, a numpy.random.Generator or None. Got {seed!r}."
            )
        self.world = world
        self.n_users = n_users
        self.n_candidates = n_candidates
        self.slate_size = slate_size
        self.horizon = horizon
        self.reward = reward
        self.seed = seed
        self.observation_space = spaces.Dict(
            {
                "context": spaces.Box(-np.inf, np.inf, (n_users, world.context_dim), np.float32),
                "candidates": spaces.Box(0, world.n_items - 1, (n_users, n_candidates), np.int64),
            }
        )
        self.action_space = spaces.MultiDiscrete(np.full((n_users, slate_size), n_candidates, dtype=np.int64))
        self._exam = np.ascontiguousarray(world.examination[:slate_size], dtype=np.float64)
        self._fast_oracle = type(world).best_slates is World.best_slates
        self._seeded = False
        self._t = 0
        self._users: Users | None = None
        self._candidates: IntArray = np.zeros((0, n_candidates), dtype=np.int64)
        self._attraction: FloatArray = np.zeros((0, n_candidates))
        self._pool_step = -1
        self._pool: IntArray = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ helpers for policies
    def item_texts(self) -> list[str]:
        """The text of each item row (index it with ``obs["candidates"]``)."""
        return self.world.item_texts()

    @property
    def users(self) -> Users:
        """The users of the current observation (simulator-only: their taste is hidden from agents)."""
        if self._users is None:
            raise InputError("Call reset() before reading the current users.")
        return self._users

    @property
    def step_index(self) -> int:
        """Index of the step whose users are in the current observation (0 after reset)."""
        return self._t

    # ------------------------------------------------------------------ Gymnasium API
    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start an episode: step 0, a fresh batch of users and candidates.

        Without ``seed``, the first reset uses the constructor's ``seed``; later ones continue the
        environment's random stream (Gymnasium's convention).
        """
        if seed is None and not self._seeded and self.seed is not None:
            if isinstance(self.seed, np.random.Generator):
                super().reset()
                self.np_random = self.seed
            else:
                super().reset(seed=int(self.seed))
        else:
            super().reset(seed=seed)
        self._seeded = True
        self._t = 0
        return self._observe(), {"step": 0}

    def step(self, action: npt.NDArray[np.int64]) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Show each user the slate of candidate columns ``action`` (n_users, slate_size); see the module docstring."""
        users = self._users
        if users is None:
            raise InputError("Call reset() before step().")
        cols = self._columns(action)
        shown = kernels.show(cols, self._candidates, self._attraction, self._exam)
        if shown is None:
            raise InputError(
                f"action holds candidate columns in [0, {self.n_candidates - 1}]. "
                f"Got values in [{cols.min()}, {cols.max()}]."
            )
        items, p_click, expected = shown
        n, k = cols.shape
        u = self.np_random.random((2, n, k))
        clicks = u[0] < p_click
        purchases = clicks & (u[1] < self.world.purchase(users, items))
        revenue = np.where(purchases, self.world.price[items], 0.0)
        if self._fast_oracle:
            oracle = kernels.top_k_sum(self._attraction, self._exam)
        else:
            oracle = self.world.expected_clicks(users, self.world.best_slates(users, self._candidates, k))
        reward = float(clicks.sum()) if self.reward == "clicks" else float(revenue.sum())
        info: dict[str, Any] = {
            "clicks": clicks.view(np.int8),
            "purchases": purchases.view(np.int8),
            "revenue": revenue,
            "items": items,
            "expected_clicks": expected,
            "oracle_clicks": oracle,
            "new_items": self.world.arrival[items] > 0,
            "step": self._t,
        }
        self._t += 1
        return self._observe(), reward, False, self._t >= self.horizon, info

    # ------------------------------------------------------------------ internals
    def _columns(self, action: npt.ArrayLike) -> IntArray:
        cols = np.asarray(action)
        shape = (self.n_users, self.slate_size)
        if cols.shape != shape or cols.dtype.kind not in "iu":
            raise InputError(
                f"action must be an integer array of shape {shape} (candidate columns per user, position 0 "
                f"first). Got {cols.dtype} array of shape {cols.shape}."
            )
        return np.ascontiguousarray(cols, dtype=np.int64)

    def _observe(self) -> Observation:
        rng = self.np_random
        if self._pool_step != self._t:
            self._pool = np.ascontiguousarray(self.world.available(self._t), dtype=np.int64)
            self._pool_step = self._t
        users = self.world.sample_users(self.n_users, rng)
        bits = kernels.random_bits(rng, (self.n_users, (self.n_candidates + 1) // 2))
        self._candidates = kernels.sample_rows(self._pool, bits, self.n_candidates)
        self._attraction = self.world.attraction(users, self._candidates)
        self._users = users
        return {"context": users.context.astype(np.float32), "candidates": self._candidates.copy()}
