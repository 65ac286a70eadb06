"""The session view of a :class:`~abrec.envs.world.World`: RL sessions with drift, fatigue and leaving.

:class:`RecSessionEnv` runs ``n_users`` concurrent sessions, vectorised with numpy. Each session
starts from a freshly sampled user; at every step the agent shows each active user a slate drawn
from that user's candidates, the user clicks (and maybe buys), gets tired of what it has seen,
drifts towards what it clicked, and may leave. The return is the long-term engagement of the
batch: the clicks (or the revenue) summed over all sessions and steps.

:func:`repeat_slates` and :func:`diverse_slates` are two observation-only baselines ("more of the
same" and "least fatigued first") that make the effect of these dynamics visible.
"""

from __future__ import annotations

from typing import Any, Literal

import gymnasium
import numpy as np
import numpy.typing as npt
from gymnasium import spaces

from .._params import Interval, StrOptions, validate_params
from .._random import Seed, as_generator
from ..errors import InputError
from .world import Users, World

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]
Observation = dict[str, Any]

__all__ = ["RecSessionEnv", "diverse_slates", "repeat_slates"]

_CONSTRAINTS = {
    "n_users": Interval("int", 1),
    "n_candidates": Interval("int", 1),
    "slate_size": Interval("int", 1),
    "max_steps": Interval("int", 1),
    "drift": Interval("float", 0.0, 1.0),
    "drift_noise": Interval("float", 0.0),
    "fatigue": Interval("float", 0.0),
    "fatigue_decay": Interval("float", 0.0, 1.0),
    "leave_base": Interval("float", 0.0, 1.0),
    "leave_per_miss": Interval("float", 0.0, 1.0),
    "reward": StrOptions(("clicks", "revenue")),
}
# Users drawn (with a fixed seed, so it is a property of the world) to fit the taste -> context map.
_CONTEXT_FIT_USERS = 4096
_CONTEXT_FIT_SEED = 0x5E5510


class RecSessionEnv(gymnasium.Env[Observation, IntArray]):
    r"""``n_users`` concurrent recommendation sessions over a :class:`~abrec.envs.world.World`.

    **State** of session ``i`` (hidden unless said otherwise): the user's current taste ``u_i``
    (starts as the sampled user's taste ``u_i^0``), its observable context ``c_i``, an exposure
    memory ``h_i`` (a vector in item space, starts at 0), the number of consecutive steps without a
    click ``miss_i`` (observed) and whether the session is still active (observed).

    **Candidates.** Each step every active session gets ``n_candidates`` distinct item rows drawn
    uniformly, in random order, from ``world.available(0)`` (the catalog at step 0).

    **Fatigue.** With ``v̂`` the unit-norm ``world.item_vectors``, the fatigue user ``i`` feels for
    item ``x`` is ``phi_i(x) = max(0, v̂_x . h_i)``: the cosine-similarity-weighted, decayed count of
    what the user was shown, so a repeated item and items similar to it are both tiring. After a
    step, ``h_i <- (1 - fatigue_decay) h_i + sum_j w_ij v̂_{x_ij}`` over the shown positions, where
    ``w_ij = 1 + click_ij`` (shown counts once, clicked once more).

    **Clicks.** Position ``j`` holding item ``x`` is clicked with probability
    ``examination[j] * attraction(u_i, x) * exp(-fatigue * phi_i(x))``, where ``attraction`` is the
    world's ``P(click | examined)`` under the user's *current* taste; a click becomes a purchase
    with probability ``world.purchase`` (under the current taste). A column repeated within a slate
    shows nothing at its later positions.

    **Interest drift.** If session ``i`` clicked the items ``K_i`` this step, with
    ``g_i = normalise(mean_{x in K_i} v̂_x)``, ``û_i = u_i / |u_i|`` and ``xi_i ~ N(0, I_k / k)``,
    ``u_i <- |u_i| normalise(û_i + drift * (g_i + drift_noise * xi_i - û_i))``: the taste keeps its
    length and turns towards what was clicked (``drift=0`` freezes it). The world does not expose
    how it maps taste to context, so the context follows a linear proxy,
    ``c_i = c_i^0 + (u_i - u_i^0) W``, where ``W`` (k, d) is the least-squares regression of
    context on taste over 4096 users sampled from the world with a fixed seed (exact when the
    world's context is linear in taste plus independent noise; its R² is :attr:`context_map_r2_`).

    **Leaving.** ``miss_i`` becomes 0 after a step with a click and ``miss_i + 1`` otherwise; the
    session then ends with probability ``clip(leave_base + leave_per_miss * miss_i, 0, 1)``. A
    session that left is frozen: its actions are ignored, its reward is 0 and its observation rows
    keep their last values.

    **Episode.** ``reward`` is the sum over active sessions of their clicks (``reward="clicks"``)
    or of the prices of their purchases (``reward="revenue"``). ``terminated`` once every session
    has left, ``truncated`` after ``max_steps`` steps.

    Parameters
    ----------
    world : World
        The market being simulated.
    n_users : int, default 64
        Concurrent sessions (rows of every observation and action).
    n_candidates : int, default 20
        Candidate items per session and step (at most ``len(world.available(0))``).
    slate_size : int, default 3
        Positions per slate (at most ``n_candidates`` and ``world.n_positions``).
    max_steps : int, default 50
        Steps before the episode is truncated.
    drift, drift_noise : float, default 0.1 and 0.1
        Interest drift rate in [0, 1] and the noise added to the drift target.
    fatigue, fatigue_decay : float, default 0.5 and 0.3
        Strength of fatigue (0 disables it) and the fraction of the exposure memory forgotten per step.
    leave_base, leave_per_miss : float, default 0.02 and 0.05
        Leaving probability after a step with a click, and its increase per consecutive miss.
    reward : {"clicks", "revenue"}, default "clicks"
        What the return counts.
    seed : int, numpy.random.Generator or None, default None
        Seeds the draws until ``reset(seed=...)`` reseeds them.

    Attributes
    ----------
    observation_space : Dict
        ``context`` Box (n_users, d) float64: the drifted context; ``candidates`` Box (n_users,
        n_candidates) int64 item rows; ``fatigue`` Box (n_users, n_candidates): ``phi`` of each
        candidate; ``misses`` MultiDiscrete (n_users,): consecutive steps without a click;
        ``active`` MultiBinary (n_users,).
    action_space : MultiDiscrete
        (n_users, slate_size) candidate columns, best position first.
    context_map_ : ndarray of shape (k, d) or None
        ``W`` of the context proxy (fitted only when ``drift > 0``).
    context_map_r2_ : float or None
        Share of the context variance that ``W`` explains on its fitting sample.

    Notes
    -----
    ``info`` of :meth:`step` holds arrays over sessions: ``clicks`` and ``purchases`` (n, k) bool,
    ``shown`` (n, k) item rows (-1 where nothing was shown), ``rewards`` (n,), ``expected_clicks``
    and ``expected_revenue`` (n,) of the chosen slates under the state before the step (exact),
    ``active`` (sessions the step acted on), ``left`` (sessions that left after it), ``returns``
    (per-session return so far) and ``session_lengths`` (steps each session has been active).

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.envs.world import Users, World
    >>> class Tiny(World):
    ...     def __init__(self):
    ...         self.item_vectors = np.eye(4)
    ...         self.item_ids = np.arange(4)
    ...         self.price = np.ones(4)
    ...         self.arrival = np.zeros(4, dtype=np.int64)
    ...         self.examination = np.array([1.0, 0.5])
    ...     context_dim = 4
    ...     def item_texts(self):
    ...         return [f"item {i}" for i in range(4)]
    ...     def sample_users(self, n, rng):
    ...         taste = rng.standard_normal((n, 4))
    ...         return Users(taste.copy(), taste)
    ...     def attraction(self, users, items):
    ...         return 1 / (1 + np.exp(-np.take_along_axis(users.taste, items, axis=1)))
    ...     def purchase(self, users, items):
    ...         return np.full(items.shape, 0.5)
    >>> env = RecSessionEnv(Tiny(), n_users=5, n_candidates=3, slate_size=2, max_steps=10, seed=0)
    >>> obs, info = env.reset(seed=1)
    >>> obs["candidates"].shape, obs["fatigue"].shape
    ((5, 3), (5, 3))
    >>> obs, reward, terminated, truncated, info = env.step(diverse_slates(obs, 2))
    >>> info["clicks"].shape, bool(obs["fatigue"].max() > 0)
    ((5, 2), True)
    """

    def __init__(
        self,
        world: World,
        *,
        n_users: int = 64,
        n_candidates: int = 20,
        slate_size: int = 3,
        max_steps: int = 50,
        drift: float = 0.1,
        drift_noise: float = 0.1,
        fatigue: float = 0.5,
        fatigue_decay: float = 0.3,
        leave_base: float = 0.02,
        leave_per_miss: float = 0.05,
        reward: Literal["clicks", "revenue"] = "clicks",
        seed: Seed = None,
    ) -> None:
        validate_params(
            "RecSessionEnv",
            _CONSTRAINTS,
            {
                "n_users": n_users,
                "n_candidates": n_candidates,
                "slate_size": slate_size,
                "max_steps": max_steps,
                "drift": drift,
                "drift_noise": drift_noise,
                "fatigue": fatigue,
                "fatigue_decay": fatigue_decay,
                "leave_base": leave_base,
                "leave_per_miss": leave_per_miss,
                "reward": reward,
            },
        )
        self.world = world
        self.n_users = n_users
        self.n_candidates = n_candidates
        self.slate_size = slate_size
        self.max_steps = max_steps
        self.drift = drift
        self.drift_noise = drift_noise
        self.fatigue = fatigue
        self.fatigue_decay = fatigue_decay
        self.leave_base = leave_base
        self.leave_per_miss = leave_per_miss
        self.reward = reward
        self.seed = seed

        self._pool = world.available(0)
        if n_candidates > self._pool.size:
            raise InputError(
                f"RecSessionEnv needs n_candidates <= the {self._pool.size} items available at step 0; "
                f"got n_candidates={n_candidates}. Lower n_candidates or use a larger catalog."
            )
        if slate_size > min(n_candidates, world.n_positions):
            raise InputError(
                f"RecSessionEnv needs slate_size <= n_candidates ({n_candidates}) and <= the world's "
                f"{world.n_positions} examined positions; got slate_size={slate_size}."
            )
        vectors = np.asarray(world.item_vectors, dtype=np.float64)
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        self._unit = np.divide(vectors, norms, out=np.zeros_like(vectors), where=norms > 0)
        self._exam = np.asarray(world.examination[:slate_size], dtype=np.float64)
        decay_steps = max_steps if fatigue_decay == 0 else min(max_steps, 1.0 / fatigue_decay)
        # |h| <= sum_s (1 - decay)^s * 2 * slate_size over at most max_steps steps; phi <= |h|.
        self._fatigue_high = float(2 * slate_size * decay_steps) * (1 + 1e-9)

        self.context_map_: FloatArray | None = None
        self.context_map_r2_: float | None = None
        if drift > 0:
            self._fit_context_map()

        n, m, d = n_users, n_candidates, world.context_dim
        self.observation_space = spaces.Dict(
            {
                "context": spaces.Box(-np.inf, np.inf, (n, d), np.float64),
                "candidates": spaces.Box(0, max(world.n_items - 1, 1), (n, m), np.int64),
                "fatigue": spaces.Box(0.0, self._fatigue_high, (n, m), np.float64),
                "misses": spaces.MultiDiscrete(np.full(n, max_steps + 1, dtype=np.int64)),
                "active": spaces.MultiBinary(n),
            }
        )
        self.action_space = spaces.MultiDiscrete(np.full((n, slate_size), m, dtype=np.int64))
        if seed is not None:
            self._np_random = as_generator(seed)
        self._started = False

    # ------------------------------------------------------------------ set-up

    def _fit_context_map(self) -> None:
        """Least-squares ``W`` with ``context - mean ≈ (taste - mean) W`` on a fixed sample of users."""
        sample = self.world.sample_users(_CONTEXT_FIT_USERS, np.random.default_rng(_CONTEXT_FIT_SEED))
        taste = np.asarray(sample.taste, dtype=np.float64)
        context = np.asarray(sample.context, dtype=np.float64)
        if taste.shape[1] != self._unit.shape[1]:
            raise InputError(
                f"Interest drift turns tastes towards item vectors, so it needs them of the same dimension; "
                f"this world has tastes of dimension {taste.shape[1]} and item vectors of dimension "
                f"{self._unit.shape[1]}. Use drift=0."
            )
        t = taste - taste.mean(axis=0)
        c = context - context.mean(axis=0)
        w, *_ = np.linalg.lstsq(t, c, rcond=None)
        total = float((c**2).sum())
        self.context_map_ = np.asarray(w, dtype=np.float64)
        self.context_map_r2_ = 1.0 - float(((c - t @ w) ** 2).sum()) / total if total > 0 else 1.0

    # ------------------------------------------------------------------ state

    @property
    def users(self) -> Users:
        """The users as they are now (simulator-only: a policy must not read their taste)."""
        self._require_started()
        return Users(self._context.copy(), self._taste.copy())

    @property
    def step_count(self) -> int:
        """Steps taken since the last reset."""
        return self._t

    def _require_started(self) -> None:
        if not self._started:
            raise gymnasium.error.ResetNeeded("Call reset() before using a RecSessionEnv.")

    def _draw_candidates(self, rng: np.random.Generator) -> IntArray:
        """``n_candidates`` distinct pool rows per session, uniformly in random order."""
        n, m, size = self.n_users, self.n_candidates, self._pool.size
        if m * m <= 8 * size:
            # Floyd's algorithm, vectorised over sessions: O(n m^2), then a random order.
            picks = np.empty((n, m), dtype=np.int64)
            for col, top in enumerate(range(size - m, size)):
                draw = rng.integers(0, top + 1, size=n)
                taken = (picks[:, :col] == draw[:, None]).any(axis=1)
                picks[:, col] = np.where(taken, top, draw)
            picks = rng.permuted(picks, axis=1)
        else:
            picks = np.argsort(rng.random((n, size)), axis=1)[:, :m]
        rows: IntArray = self._pool[picks]
        return rows

    def _felt_fatigue(self, items: IntArray, rows: IntArray) -> FloatArray:
        """``phi`` of the items (len(rows), m) for the sessions ``rows``."""
        phi = np.matmul(self._unit[items], self._memory[rows][:, :, None])[..., 0]
        out: FloatArray = np.clip(phi, 0.0, self._fatigue_high)
        return out

    def _observation(self) -> Observation:
        return {
            "context": self._context.copy(),
            "candidates": self._candidates.copy(),
            "fatigue": self._cand_fatigue.copy(),
            "misses": self._misses.copy(),
            "active": self._active.astype(np.int8),
        }

    # ------------------------------------------------------------------ gymnasium API

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observation, dict[str, Any]]:
        """Start ``n_users`` new sessions with freshly sampled users."""
        super().reset(seed=seed)
        rng = self.np_random
        n = self.n_users
        users = self.world.sample_users(n, rng)
        self._taste0 = np.array(users.taste, dtype=np.float64)
        self._context0 = np.array(users.context, dtype=np.float64)
        self._taste = self._taste0.copy()
        self._context = self._context0.copy()
        self._memory = np.zeros((n, self._unit.shape[1]))
        self._misses = np.zeros(n, dtype=np.int64)
        self._active = np.ones(n, dtype=bool)
        self._returns = np.zeros(n)
        self._lengths = np.zeros(n, dtype=np.int64)
        self._t = 0
        self._candidates = self._draw_candidates(rng)
        self._cand_fatigue = np.zeros((n, self.n_candidates))
        self._started = True
        return self._observation(), {"returns": self._returns.copy(), "session_lengths": self._lengths.copy()}

    def step(self, action: npt.ArrayLike) -> tuple[Observation, float, bool, bool, dict[str, Any]]:
        """Show each active session its slate of candidate columns ``action`` (n_users, slate_size)."""
        self._require_started()
        if self._t >= self.max_steps or not self._active.any():
            raise gymnasium.error.ResetNeeded("The episode is over (every session left, or max_steps); call reset().")
        cols = self._check_action(action)
        rng = self.np_random
        n, k = self.n_users, self.slate_size

        # The slates, with later repeats of a column within a slate left empty.
        repeated = np.tril(cols[:, :, None] == cols[:, None, :], -1).any(axis=2)
        items = np.take_along_axis(self._candidates, cols, axis=1)
        active = self._active.copy()
        shown_mask = active[:, None] & ~repeated
        rows = np.flatnonzero(active)

        # Click and purchase probabilities under the state before the step.
        current = Users(self._context[rows], self._taste[rows])
        act_items = items[rows]
        attraction = np.asarray(self.world.attraction(current, act_items), dtype=np.float64)
        buy = np.asarray(self.world.purchase(current, act_items), dtype=np.float64)
        phi = np.take_along_axis(self._cand_fatigue[rows], cols[rows], axis=1)
        p_click = np.zeros((n, k))
        p_buy = np.zeros((n, k))
        p_click[rows] = self._exam * attraction * np.exp(-self.fatigue * phi)
        p_buy[rows] = buy
        p_click *= shown_mask
        price = np.asarray(self.world.price, dtype=np.float64)[items]

        clicks: BoolArray = np.asarray(rng.random((n, k)) < p_click)
        purchases: BoolArray = clicks & (rng.random((n, k)) < p_buy)
        value = clicks if self.reward == "clicks" else purchases * price
        rewards: FloatArray = value.sum(axis=1, dtype=np.float64)

        # Fatigue memory, drift, misses and leaving (active sessions only).
        weights = shown_mask * (1.0 + clicks)
        exposure = np.matmul(weights[rows][:, None, :], self._unit[act_items])[:, 0]
        self._memory[rows] = (1.0 - self.fatigue_decay) * self._memory[rows] + exposure
        noise = rng.standard_normal(self._taste.shape) if self.drift > 0 and self.drift_noise > 0 else None
        clicked_any: BoolArray = np.asarray(clicks.any(axis=1))
        if self.drift > 0:
            self._drift(clicks, items, clicked_any, noise)
        self._misses[rows] = np.where(clicked_any[rows], 0, self._misses[rows] + 1)
        p_leave = np.clip(self.leave_base + self.leave_per_miss * self._misses, 0.0, 1.0)
        left = active & (rng.random(n) < p_leave)
        self._active = active & ~left
        self._returns += rewards
        self._lengths += active
        self._t += 1

        # The next candidates; sessions that left keep their last observation.
        fresh = self._draw_candidates(rng)
        still = np.flatnonzero(self._active)
        self._candidates[still] = fresh[still]
        self._cand_fatigue[still] = self._felt_fatigue(self._candidates[still], still)

        terminated = not self._active.any()
        truncated = self._t >= self.max_steps and not terminated
        info = {
            "clicks": clicks,
            "purchases": purchases,
            "shown": np.where(shown_mask, items, -1),
            "rewards": rewards,
            "expected_clicks": p_click.sum(axis=1),
            "expected_revenue": (p_click * p_buy * price).sum(axis=1),
            "active": active,
            "left": left,
            "returns": self._returns.copy(),
            "session_lengths": self._lengths.copy(),
        }
        return self._observation(), float(rewards.sum()), terminated, truncated, info

    def _check_action(self, action: npt.ArrayLike) -> IntArray:
        cols = np.asarray(action)
        shape = (self.n_users, self.slate_size)
        if cols.shape != shape or not np.issubdtype(cols.dtype, np.integer):
            raise InputError(
                f"RecSessionEnv.step expects an integer array of candidate columns of shape {shape}; "
                f"got dtype {cols.dtype} and shape {cols.shape}."
            )
        if cols.size and (cols.min() < 0 or cols.max() >= self.n_candidates):
            raise InputError(
                f"RecSessionEnv.step expects candidate columns in [0, {self.n_candidates}); "
                f"got values from {cols.min()} to {cols.max()}."
            )
        out: IntArray = cols.astype(np.int64, copy=False)
        return out

    def _drift(self, clicks: BoolArray, items: IntArray, clicked_any: BoolArray, noise: FloatArray | None) -> None:
        """Turn the tastes of the sessions that clicked towards what they clicked (see the class docstring)."""
        rows = np.flatnonzero(clicked_any)
        if rows.size == 0:
            return
        taste = self._taste[rows]
        length = np.linalg.norm(taste, axis=1, keepdims=True)
        u_hat = np.divide(taste, length, out=np.zeros_like(taste), where=length > 0)
        g = np.einsum("ns,nsk->nk", clicks[rows].astype(np.float64), self._unit[items[rows]])
        g_norm = np.linalg.norm(g, axis=1, keepdims=True)
        g = np.divide(g, g_norm, out=np.zeros_like(g), where=g_norm > 0)
        target = g if noise is None else g + self.drift_noise * noise[rows] / np.sqrt(g.shape[1])
        direction = u_hat + self.drift * (target - u_hat)
        d_norm = np.linalg.norm(direction, axis=1, keepdims=True)
        ok = (d_norm[:, 0] > 0) & (length[:, 0] > 0)
        new = np.where(ok[:, None], length * direction / np.where(d_norm > 0, d_norm, 1.0), taste)
        self._taste[rows] = new
        assert self.context_map_ is not None
        self._context[rows] = self._context0[rows] + (new - self._taste0[rows]) @ self.context_map_


def _order_by_fatigue(observation: Observation, slate_size: int, sign: float) -> IntArray:
    fatigue = np.asarray(observation["fatigue"], dtype=np.float64)
    if not 1 <= slate_size <= fatigue.shape[1]:
        raise InputError(f"slate_size must be in [1, {fatigue.shape[1]}] (the candidate count); got {slate_size}.")
    order: IntArray = np.argsort(sign * fatigue, axis=1, kind="stable")[:, :slate_size].astype(np.int64)
    return order


def repeat_slates(observation: Observation, slate_size: int) -> IntArray:
    """ "More of the same": each session's ``slate_size`` most fatigued candidate columns, most first.

    The most fatigued candidates are those closest to what the user was shown (and clicked)
    recently; ties keep column order. Reads only the observation.

    Examples
    --------
    >>> import numpy as np
    >>> repeat_slates({"fatigue": np.array([[0.0, 2.0, 1.0], [0.5, 0.0, 0.0]])}, 2)
    array([[1, 2],
           [0, 1]])
    """
    return _order_by_fatigue(observation, slate_size, -1.0)


def diverse_slates(observation: Observation, slate_size: int) -> IntArray:
    """Each session's ``slate_size`` least fatigued candidate columns, least first.

    The least fatigued candidates are those least like what the user was shown recently; ties keep
    column order. Reads only the observation.

    Examples
    --------
    >>> import numpy as np
    >>> diverse_slates({"fatigue": np.array([[0.0, 2.0, 1.0], [0.5, 0.0, 0.0]])}, 2)
    array([[0, 2],
           [1, 2]])
    """
    return _order_by_fatigue(observation, slate_size, 1.0)
