"""SlateQ (Ie et al. 2019): item-wise long-term values, a slate's value decomposed through the user's choice model.

A slate ``A`` shown in session state ``s`` is worth ``Q(s, A) = sum_{i in A} P(i | s, A) Q(s, i)``, where ``Q(s, i)``
is the long-term value of the user choosing item ``i`` and ``P(i | s, A)`` the user's choice model, here a
conditional logit with a no-click option:

    P(i | s, A) = v(s, i) / (v_null + sum_{j in A} v(s, j)),    v(s, i) = exp(u(s, i)),    v_null = 1.

``u(s, i) = [s, 1]^T W [f_i, 1]`` is bilinear in the state and the item's text features (so it has a state term,
an item term and a constant), learned from the logged clicks by maximum likelihood with Adam: a slate with no
click is a choice of the null option, a slate with ``c`` clicks counts as ``c`` choices from the same slate
(the environment may give several clicks; the conditional logit allows one); a one-item slate, such as the
policy protocol's ``update`` feedback, is a logistic regression on the same features.

``Q(s, i)`` is the network of :class:`~abrec.agents.DQNAgent`, learned by SlateQ's **Q-learning** variant (the
paper's other variant, SARSA on the next slate actually shown, is not implemented): the item shown at
position ``i`` of a slate regresses on

    y_i = r_i + gamma * sum_{j in A'} P(j | s', A') Q_target(s', j),

where ``A'`` is the slate the policy would choose in ``s'`` (by the online network with ``double=True``,
by the target network otherwise) and the sum is over ``A'`` only. Replay, target network, Huber loss,
gradient clipping and Adam are DQN's.

**Slate optimisation** (``slate_method``): the best slate of ``k`` items maximises
``(sum_{i in A} v_i Q_i) / (v_null + sum_{i in A} v_i)``, a linear-fractional problem.

- ``"exact"`` (default): Dinkelbach's method, which is exact for this problem (the paper solves it as a
  linear programme; both find the optimum): with ``lambda`` the value of the current slate, the next slate
  is the top ``k`` by ``v_i (Q_i - lambda)``; the value never decreases and stops at the optimum, where no
  slate has ``sum v_i (Q_i - lambda) > lambda v_null``. It costs a few top-k passes (3.8 per request on
  average, at most 7, for 20 candidates and slates of 3 with log-normal ``v``: about 6 times ``"top_k"``'s
  time, 32 microseconds a request), cheap enough not to settle for a heuristic.
- ``"greedy"``: the paper's greedy heuristic, adding one item at a time, the one that raises the slate's
  value most.
- ``"top_k"``: the paper's top-k heuristic, the ``k`` items with the largest ``v_i Q_i``.

Within a slate, items are ordered by ``v_i Q_i`` (highest first; the decomposition ignores positions), and a
decision's ``scores`` are ``v_i Q_i``.

**Exploration**, with exact propensities (:mod:`abrec.agents._exploration`): epsilon-greedy takes the
optimised slate with probability ``1 - epsilon`` and a uniformly random slate otherwise; Boltzmann draws a
Plackett-Luce slate on ``exp(v_i Q_i / temperature)``.

Only one-step returns (``n_step=1``): the choice model needs each position's own click, which an n-step
return no longer shows. A position counts as chosen when its reward is positive, which is exactly "clicked"
because ``reward_weights`` must weigh clicks or watch time (positive exactly when clicked) positively and
every outcome (purchases and revenue follow a click) non-negatively.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval, StrOptions
from .._random import Seed
from ..errors import ParameterError
from ..policies.base import FloatArray, IntArray, Request
from ..policies.registry import register
from . import _exploration
from .dqn import DQNAgent, _torch
from .transitions import Transitions

__all__ = ["SLATE_METHODS", "SlateQAgent", "best_slates", "choice_probabilities", "slate_targets", "slate_values"]

BoolArray = npt.NDArray[np.bool_]

#: The slate optimisers: Dinkelbach's exact method, the greedy and the top-k heuristics of the paper.
SLATE_METHODS = ("exact", "greedy", "top_k")

#: Outcomes that are positive exactly when the item was clicked (watch time: RecSim's interest evolution).
_CLICK_SIGNALS = ("click", "watch_time")

#: Weight of the no-click option: ``u_null = 0`` fixes the scale of the conditional logit.
V_NULL = 1.0

# Adam's constants for the choice model (those of torch.optim.Adam's defaults).
_BETA1, _BETA2, _ADAM_EPS = 0.9, 0.999, 1e-8
# Logits are clipped here so that exp(u) stays finite; a choice probability of 1 - e^-30 is certainty.
_MAX_LOGIT = 30.0


# --------------------------------------------------------------------------- the decomposition
def choice_probabilities(v: npt.ArrayLike, v_null: float = V_NULL) -> FloatArray:
    """``P(i | s, A)`` of the items of slates whose choice scores are ``v`` (n, k): ``v_i / (v_null + sum v)``.

    Examples
    --------
    >>> choice_probabilities(np.array([[1.0, 2.0]])).tolist()  # and the null option: 1 / 4
    [[0.25, 0.5]]
    """
    w = np.asarray(v, dtype=np.float64)
    out: FloatArray = w / (v_null + w.sum(axis=-1, keepdims=True))
    return out


def slate_values(
    v: npt.ArrayLike, q: npt.ArrayLike, slots: npt.ArrayLike, mask: npt.ArrayLike | None = None
) -> FloatArray:
    """``Q(s, A) = sum_{i in A} P(i | s, A) Q(s, i)`` (n,) of the slates ``slots`` (n, k) among candidates (n, m).

    ``v`` and ``q`` (n, m) are the candidates' choice scores and item-wise values; a slot on a candidate
    that ``mask`` (n, m) excludes counts as an empty position.

    Examples
    --------
    >>> slate_values(np.array([[1.0, 2.0, 4.0]]), np.array([[3.0, 1.0, 0.0]]), np.array([[0, 1]])).tolist()
    [1.25]
    """
    cols = np.asarray(slots, dtype=np.int64)
    vs = np.take_along_axis(np.asarray(v, dtype=np.float64), cols, axis=1)
    qs = np.take_along_axis(np.asarray(q, dtype=np.float64), cols, axis=1)
    if mask is not None:
        vs = vs * np.take_along_axis(np.asarray(mask, dtype=bool), cols, axis=1)
    out: FloatArray = (vs * qs).sum(axis=1) / (V_NULL + vs.sum(axis=1))
    return out


def _top(keys: FloatArray, k: int) -> IntArray:
    """Columns of the ``k`` largest keys per row (ties: the lower column first)."""
    out: IntArray = np.argsort(-keys, axis=1, kind="stable")[:, :k].astype(np.int64)
    return out


def _greedy(v: FloatArray, q: FloatArray, k: int, valid: BoolArray) -> IntArray:
    n, m = v.shape
    rows = np.arange(n)
    num, den = np.zeros(n), np.full(n, V_NULL)
    taken = np.zeros((n, m), dtype=bool)
    slots = np.empty((n, k), dtype=np.int64)
    for p in range(k):
        value = (num[:, None] + v * q) / (den[:, None] + v)
        # Valid items first; an invalid one only once none is left (it fills an empty position); never twice.
        value = np.where(valid, value, np.finfo(np.float64).min)
        pick = np.where(taken, -np.inf, value).argmax(axis=1)
        slots[:, p] = pick
        taken[rows, pick] = True
        live = valid[rows, pick]
        num += np.where(live, v[rows, pick] * q[rows, pick], 0.0)
        den += np.where(live, v[rows, pick], 0.0)
    return slots


def _dinkelbach(v: FloatArray, q: FloatArray, k: int, valid: BoolArray) -> IntArray:
    slots = _top(np.where(valid, v * q, -np.inf), k)
    lam = slate_values(v, q, slots, valid)
    open_ = np.ones(v.shape[0], dtype=bool)
    for _ in range(v.shape[1] + 1):  # each round strictly raises the value; there are finitely many slates
        rows = np.flatnonzero(open_)
        if rows.size == 0:
            break
        keys = np.where(valid[rows], v[rows] * (q[rows] - lam[rows, None]), -np.inf)
        new_slots = _top(keys, k)
        new = slate_values(v[rows], q[rows], new_slots, valid[rows])
        better = new > lam[rows] + 1e-12 * (1.0 + np.abs(lam[rows]))
        slots[rows[better]] = new_slots[better]
        lam[rows[better]] = new[better]
        open_[rows[~better]] = False
    return slots


def best_slates(
    v: npt.ArrayLike, q: npt.ArrayLike, k: int, method: str = "exact", mask: npt.ArrayLike | None = None
) -> IntArray:
    """The slates (n, k) of candidate columns that maximise ``Q(s, A)`` by ``method`` (see :data:`SLATE_METHODS`).

    ``v`` and ``q`` (n, m): choice scores and item-wise values; ``mask`` (n, m): valid candidates (rows with
    fewer than ``k`` fill the rest with excluded columns, which count as empty positions). Each slate is
    ordered by ``v Q``, highest first.

    Examples
    --------
    >>> v, q = np.array([[4.0, 1.0, 1.0]]), np.array([[1.0, 2.0, 2.0]])
    >>> best_slates(v, q, 2, "top_k").tolist(), best_slates(v, q, 2, "exact").tolist()  # values 1 and 4/3
    ([[0, 1]], [[1, 2]])
    """
    if method not in SLATE_METHODS:
        raise ParameterError(f"The 'method' parameter of best_slates must be one of {SLATE_METHODS}. Got {method!r}.")
    w = np.asarray(v, dtype=np.float64)
    val = np.asarray(q, dtype=np.float64)
    valid = np.ones(w.shape, dtype=bool) if mask is None else np.asarray(mask, dtype=bool)
    if method == "top_k":
        slots = _top(np.where(valid, w * val, -np.inf), k)
    elif method == "greedy":
        slots = _greedy(w, val, k, valid)
    else:
        slots = _dinkelbach(w, val, k, valid)
    key = np.where(np.take_along_axis(valid, slots, axis=1), np.take_along_axis(w * val, slots, axis=1), -np.inf)
    order = np.argsort(-key, axis=1, kind="stable")
    out: IntArray = np.take_along_axis(slots, order, axis=1)
    return out


def slate_targets(
    returns: npt.ArrayLike,
    discounts: npt.ArrayLike,
    v_next: npt.ArrayLike,
    q_select: npt.ArrayLike,
    q_eval: npt.ArrayLike,
    next_mask: npt.ArrayLike,
    k: int,
    method: str = "exact",
) -> FloatArray:
    """SlateQ's Q-learning targets ``r + discount * sum_{j in A'} P(j | s', A') Q_eval(s', j)`` (N,).

    ``A'`` is the best slate of ``k`` among the next candidates by ``(v_next, q_select)`` (the online network's
    values for double Q-learning); rows with discount 0 are their returns.
    """
    g = np.asarray(returns, dtype=np.float64)
    disc = np.asarray(discounts, dtype=np.float64)
    mask = np.asarray(next_mask, dtype=bool)
    live = (disc > 0) & mask.any(axis=1)
    out = g.copy()
    if live.any():
        v = np.asarray(v_next, dtype=np.float64)[live]
        width = min(k, mask.shape[1])
        slots = best_slates(v, np.asarray(q_select)[live], width, method, mask[live])
        out[live] += disc[live] * slate_values(v, np.asarray(q_eval)[live], slots, mask[live])
    return out


# --------------------------------------------------------------------------- the agent
@register
class SlateQAgent(DQNAgent):
    """SlateQ: a DQN's item-wise ``Q(s, i)`` and a learned conditional-logit choice model (see the module docstring).

    Parameters
    ----------
    slate_method : {"exact", "greedy", "top_k"}, default "exact"
        How the best slate is found, for decisions and for the learning targets.
    choice_learning_rate : float, default 0.02
        Adam's step size for the choice model, which takes one step per ``batch_size`` slates it learns from.
    hidden, learning_rate, batch_size, buffer_size, learning_starts, replay_ratio, target_every, huber_delta,
    max_grad_norm, double, device, id_buckets, id_learning_rate
        The item-wise Q-network and its learning, as in :class:`~abrec.agents.DQNAgent`.
    exploration, epsilon, temperature, gamma, reward_weights, train_seed, seed
        See :class:`~abrec.agents.Agent`; Boltzmann slates weigh items by ``exp(v Q / temperature)``.
    n_step : 1
        Only one-step returns (the choice model learns from each position's own reward).

    Examples
    --------
    >>> import numpy as np
    >>> agent = SlateQAgent(hidden=8, seed=0)
    >>> d = agent.decide(np.array(["a", "b", "c", "d"]), np.zeros((1, 2)), k=2, item_features=np.eye(4, 3))
    >>> d.items.shape, d.propensities.round(3).tolist()  # the optimised slate's items: 0.9 + 0.1 / 4 each
    ((1, 2), [[0.925, 0.925]])
    """

    name: ClassVar[str] = "slateq"
    # Every DQN setting but ``learner`` and ``actor_lag``: the choice model learns beside the Q-network, here.
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        **{key: value for key, value in DQNAgent._parameter_constraints.items() if key not in ("learner", "actor_lag")},
        "n_step": Interval("int", 1, 1),
        "slate_method": StrOptions(SLATE_METHODS),
        "choice_learning_rate": Interval("float", 0.0, 1.0, closed="right"),
    }

    def __init__(
        self,
        hidden: int = 64,
        learning_rate: float = 1e-3,
        batch_size: int = 64,
        buffer_size: int = 50_000,
        learning_starts: int = 64,
        replay_ratio: float = 4.0,
        target_every: int = 100,
        huber_delta: float = 1.0,
        max_grad_norm: float = 10.0,
        double: bool = True,
        device: str = "cpu",
        id_buckets: int = 0,
        id_learning_rate: float | None = None,
        slate_method: str = "exact",
        choice_learning_rate: float = 0.02,
        *,
        exploration: str = "epsilon",
        epsilon: float = 0.1,
        temperature: float = 0.1,
        gamma: float = 0.9,
        n_step: int = 1,
        reward_weights: Mapping[str, float] | None = None,
        train_seed: int = 0,
        seed: Seed = None,
    ) -> None:
        self.slate_method = slate_method
        self.choice_learning_rate = choice_learning_rate
        super().__init__(
            hidden=hidden,
            learning_rate=learning_rate,
            batch_size=batch_size,
            buffer_size=buffer_size,
            learning_starts=learning_starts,
            replay_ratio=replay_ratio,
            target_every=target_every,
            huber_delta=huber_delta,
            max_grad_norm=max_grad_norm,
            double=double,
            device=device,
            id_buckets=id_buckets,
            id_learning_rate=id_learning_rate,
            exploration=exploration,
            epsilon=epsilon,
            temperature=temperature,
            gamma=gamma,
            n_step=n_step,
            reward_weights=reward_weights,
            train_seed=train_seed,
            seed=seed,
        )
        self.choice_weights: FloatArray | None = None
        self._choice_adam: dict[str, Any] = {}
        self.next_slate_size = 1

    def _check_reward_weights(self) -> None:
        super()._check_reward_weights()
        weights = self.reward_weight_map
        if max(weights.get(name, 0.0) for name in _CLICK_SIGNALS) <= 0 or min(weights.values()) < 0:
            raise ParameterError(
                f"The 'reward_weights' parameter of {type(self).__name__} must weigh 'click' or 'watch_time' "
                f"positively and every outcome non-negatively (the choice model reads a positive reward as a "
                f"click). Got {self.reward_weights!r} instead."
            )

    # ----------------------------------------------------------------- choice model
    def _ensure_choice(self) -> FloatArray:
        if self.choice_weights is None:
            assert self._dim is not None and self._feature_dim is not None
            shape = (self._dim + 1, self._feature_dim + 1)
            self.choice_weights = np.zeros(shape)
            self._choice_adam = {"m": np.zeros(shape), "v": np.zeros(shape), "steps": 0}
        return self.choice_weights

    @staticmethod
    def _with_one(a: FloatArray) -> FloatArray:
        return np.concatenate([a, np.ones((*a.shape[:-1], 1))], axis=-1)

    def _logits(self, states: FloatArray, features: FloatArray) -> FloatArray:
        w = self._ensure_choice()
        u = np.einsum("nd,dq,nmq->nm", self._with_one(states), w, self._with_one(features))
        out: FloatArray = np.clip(u, -_MAX_LOGIT, _MAX_LOGIT)
        return out

    def choice_scores(self, states: npt.ArrayLike, item_features: npt.ArrayLike) -> FloatArray:
        """The choice model's ``v(s, i) = exp(u(s, i))`` (n, m) of candidates (n, m, p) or (m, p) in states (n, d)."""
        s = np.atleast_2d(np.asarray(states, dtype=np.float64))
        f = np.asarray(item_features, dtype=np.float64)
        if f.ndim == 2:
            f = np.broadcast_to(f, (s.shape[0], *f.shape))
        self._set_dim(s.shape[1])
        self._set_dim(f.shape[2], "_feature_dim", "item features")
        return np.exp(self._logits(s, f))

    def _fit_choice(self, states: FloatArray, features: FloatArray, chosen: BoolArray) -> None:
        """One Adam step per ``batch_size`` slates on the conditional logit's negative log-likelihood."""
        w = self._ensure_choice()
        adam = self._choice_adam
        for start in range(0, states.shape[0], self.batch_size):
            part = slice(start, start + self.batch_size)
            x, y, c = self._with_one(states[part]), self._with_one(features[part]), chosen[part].astype(np.float64)
            u = np.clip(np.einsum("nd,dq,nkq->nk", x, w, y), -_MAX_LOGIT, _MAX_LOGIT)
            top = np.maximum(u.max(axis=1, keepdims=True), 0.0)
            e = np.exp(u - top)
            prob = e / (np.exp(-top) + e.sum(axis=1, keepdims=True))
            choices = np.maximum(c.sum(axis=1, keepdims=True), 1.0)
            grad_u = choices * prob - c  # d(-log-likelihood) / du
            grad = np.einsum("nd,nk,nkq->dq", x, grad_u, y) / x.shape[0]
            adam["steps"] += 1
            t = adam["steps"]
            adam["m"] = _BETA1 * adam["m"] + (1 - _BETA1) * grad
            adam["v"] = _BETA2 * adam["v"] + (1 - _BETA2) * grad**2
            m_hat = adam["m"] / (1 - _BETA1**t)
            v_hat = adam["v"] / (1 - _BETA2**t)
            w -= self.choice_learning_rate * m_hat / (np.sqrt(v_hat) + _ADAM_EPS)

    # ----------------------------------------------------------------- slates
    def _values(self, req: Request) -> tuple[FloatArray, FloatArray]:
        assert req.contexts is not None
        q = self._full_scores(req)
        v = np.exp(self._logits(req.contexts, self._candidate_features(req)))
        return v, q

    def slate_values(self, states: npt.ArrayLike, item_features: npt.ArrayLike, slots: npt.ArrayLike) -> FloatArray:
        """``Q(s, A)`` (n,) of the slates ``slots`` (n, k) of candidate columns (see :func:`slate_values`)."""
        v = self.choice_scores(states, item_features)
        return slate_values(v, self.q_values(states, item_features), slots)

    def _greedy_keys(self, v: FloatArray, q: FloatArray, k: int, mask: BoolArray | None) -> FloatArray:
        """Scores whose top ``k`` (ties broken at random) are the optimised slate: ``v Q`` on it, -inf elsewhere."""
        slots = best_slates(v, q, k, self.slate_method, mask)
        keys = np.full(v.shape, -np.inf)
        np.put_along_axis(keys, slots, np.take_along_axis(v * q, slots, axis=1), axis=1)
        return keys

    def _choose(self, req: Request, k: int) -> tuple[IntArray, FloatArray, FloatArray, int]:
        v, q = self._values(req)
        if self.exploration == "epsilon":
            keys = self._greedy_keys(v, q, k, req.mask)
            slots, props = _exploration.epsilon_greedy(keys, k, self.epsilon, req.mask, req.valid, self._rng)
        else:
            slots, props = _exploration.boltzmann(v * q, k, self.temperature, req.mask, self._rng)
        return slots, props, v * q, 0

    def _exact_distribution(self, req: Request, k: int) -> FloatArray | None:
        v, q = self._values(req)
        if self.exploration == "epsilon":
            keys = self._greedy_keys(v, q, k, req.mask)
            return _exploration.epsilon_greedy_distribution(keys, k, self.epsilon, req.mask, req.valid)
        return _exploration.boltzmann_distribution(v * q, k, self.temperature, req.mask)

    # ----------------------------------------------------------------- learning
    def _learn(self, t: Transitions, rows: IntArray | None = None, next_rows: IntArray | None = None) -> None:
        self._fit_choice(t.states, t.item_features, t.rewards > 0)
        if (t.discounts > 0).any():
            self.next_slate_size = int(t.item_features.shape[1])
        super()._learn(t, rows, next_rows)

    def _network_q(self, net: Any, states: FloatArray, features: FloatArray, rows: IntArray) -> FloatArray:
        torch = _torch()
        device = next(net.parameters()).device
        with torch.no_grad():
            q = self._forward(
                net,
                torch.as_tensor(states, device=device),
                torch.as_tensor(features, device=device),
                torch.as_tensor(rows, device=device),
            )
        out: FloatArray = q.cpu().numpy().astype(np.float64)
        return out

    def _targets(self, batch: dict[str, npt.NDArray[Any]]) -> FloatArray:
        """The SlateQ targets of a replay batch (see :func:`slate_targets`)."""
        returns, discounts, mask = batch["returns"], batch["discounts"], batch["next_mask"]
        live = (discounts > 0) & mask.any(axis=1)
        if not live.any():
            return returns.astype(np.float64)
        s2, f2, r2 = batch["next_states"][live], batch["next_features"][live], batch["next_rows"][live]
        q_eval = np.zeros(mask.shape)
        q_select = np.zeros(mask.shape)
        v = np.zeros(mask.shape)
        q_eval[live] = self._network_q(self._target, s2, f2, r2)
        q_select[live] = self._network_q(self._online, s2, f2, r2) if self.double else q_eval[live]
        v[live] = np.exp(self._logits(s2.astype(np.float64), f2.astype(np.float64)))
        return slate_targets(returns, discounts, v, q_select, q_eval, mask, self.next_slate_size, self.slate_method)

    def _gradient_step(self) -> None:
        torch = _torch()
        device = next(self._online.parameters()).device
        batch = self.replay.sample(self.batch_size, self._train_rng)
        y = torch.as_tensor(self._targets(batch).astype(np.float32), device=device)
        s, f = torch.as_tensor(batch["states"], device=device), torch.as_tensor(batch["features"], device=device)
        rows = torch.as_tensor(batch["rows"], device=device)
        q = self._forward(self._online, s, f[:, None, :], rows[:, None]).squeeze(1)
        loss = torch.nn.functional.huber_loss(q, y, delta=self.huber_delta)
        self._optimizer.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self._online.parameters(), self.max_grad_norm)
        self._optimizer.step()
        self.gradient_steps += 1
        if self.gradient_steps % self.target_every == 0:
            self._target.load_state_dict(self._online.state_dict())

    # ----------------------------------------------------------------- state
    def _model_state(self) -> dict[str, npt.NDArray[Any]]:
        out = super()._model_state()
        out["next_slate_size"] = np.array(self.next_slate_size, dtype=np.int64)
        if self.choice_weights is not None:
            out["choice.weights"] = self.choice_weights
            out["choice.adam_m"] = self._choice_adam["m"]
            out["choice.adam_v"] = self._choice_adam["v"]
            out["choice.adam_steps"] = np.array(self._choice_adam["steps"], dtype=np.int64)
        return out

    def _load_model_state(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        self.next_slate_size = int(arrays.pop("next_slate_size", 1))
        if "choice.weights" in arrays:
            self.choice_weights = np.array(arrays.pop("choice.weights"), dtype=np.float64)
            self._choice_adam = {
                "m": np.array(arrays.pop("choice.adam_m"), dtype=np.float64),
                "v": np.array(arrays.pop("choice.adam_v"), dtype=np.float64),
                "steps": int(arrays.pop("choice.adam_steps")),
            }
        super()._load_model_state(arrays)
