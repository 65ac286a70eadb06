"""The agent protocol: a policy whose context is a session state and whose Q-function reads item features.

An :class:`Agent` is an abrec :class:`~abrec.policies.Policy` (same ``decide`` / ``update`` /
``action_distribution`` / ``clone`` / state files, same conformance suite) with two additions:

- its ``contexts`` are **session states** (what a :class:`~abrec.agents.StateEncoder` makes of the user and
  the session so far), and it scores each candidate by a Q-function of ``(state, item features)``: a
  never-seen item is scored from its text features like any other;
- besides the protocol's ``update(feedback)`` (one-step feedback, learned as transitions with nothing after
  them), it learns from n-step :class:`~abrec.agents.Transitions` with :meth:`Agent.learn`: what a session
  rollout (:func:`abrec.agents.run_sessions`) gives it, with its ``gamma`` and ``n_step``.

**Pair features.** Besides the candidates' item features, an agent's :meth:`Agent.decide` and
:meth:`Agent.action_distribution` take an optional keyword ``pair_features`` ``(n, m, q)``: features of each
(request, candidate) pair, what DRN calls user-item features (here: how tired the session's user is of the
candidate, how close it is to what the session clicked and showed: see
:meth:`~abrec.agents.StateEncoder.pair_features`). The agent reads ``[item features, pair features]`` as the
candidate's features ``(n, m, p + q)``, so everything downstream (Q-values, exploration, propensities,
:class:`~abrec.agents.Transitions`, state files) is unchanged; :func:`~abrec.agents.run_sessions` fills
them from the environment's observation for every policy whose ``uses_pair_features`` is True (agents),
and bandits never see them. An agent trained with ``q`` pair features must be given them when it decides.

Exploration is epsilon-greedy or Boltzmann over the Q-values, with exact propensities either way (see
:mod:`abrec.agents._exploration`); randomness used for *learning* (network initialisation, replay
sampling, codebooks) comes from its own generator seeded by ``train_seed``, so that two agents given the
same data learn the same Q-function whatever their decision seeds.
"""

from __future__ import annotations

import json
import math
from abc import abstractmethod
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval, StrOptions
from .._random import Seed
from ..errors import InputError, ParameterError
from ..policies.base import FloatArray, IntArray, Policy, Request
from ..policies.distribution import ActionDistribution
from ..policies.records import Decision, Feedback
from . import _exploration
from .transitions import Transitions

__all__ = ["REWARD_SIGNALS", "Agent"]

#: The outcomes a session rollout reports per shown item (``watch_time`` where the env reports it), which an
#: agent's ``reward_weights`` may combine.
REWARD_SIGNALS = ("click", "purchase", "revenue", "watch_time")

_COMMON: dict[str, Constraint] = {
    "exploration": StrOptions(("epsilon", "boltzmann")),
    "epsilon": Interval("float", 0.0, 1.0),
    "temperature": Interval("float", 0.0, 1e6, closed="right"),
    "gamma": Interval("float", 0.0, 1.0),
    "n_step": Interval("int", 1, 1000),
    "train_seed": Interval("int", 0, 2**63 - 1),
}


def _generator_state(rng: np.random.Generator) -> npt.NDArray[np.str_]:
    return np.array(json.dumps(rng.bit_generator.state))


def _restore_generator(rng: np.random.Generator, saved: npt.NDArray[Any]) -> None:
    rng.bit_generator.state = json.loads(str(saved))


class Agent(Policy):
    """Base class of the session agents: Q-values over (session state, item features), exact exploration.

    Parameters (shared by every agent)
    ----------------------------------
    exploration : {"epsilon", "boltzmann"}, default "epsilon"
        Epsilon-greedy slates, or Plackett-Luce slates on ``exp(Q / temperature)``.
    epsilon : float in [0, 1], default 0.1
    temperature : float > 0, default 0.1
    gamma : float in [0, 1], default 0.9
        Discount of later rewards in the session (0: a myopic agent).
    n_step : int >= 1, default 1
        Steps summed before bootstrapping (n-step returns).
    reward_weights : mapping or None, default None
        How a rollout combines the outcomes of a shown item into the agent's reward:
        ``{"click": 1.0}`` by default; ``{"click": 1.0, "revenue": 0.1}`` values purchases by price too.
    train_seed : int, default 0
        Seeds the generator used for learning (not for decisions, which use ``seed``).
    seed : int, Generator or None
        Seeds the decisions' exploration.
    """

    contextual: ClassVar[bool] = True
    uses_item_features: ClassVar[bool] = True
    #: Reads per-(request, candidate) ``pair_features`` besides the item features (see the module docstring).
    uses_pair_features: ClassVar[bool] = True
    _parameter_constraints: ClassVar[dict[str, Constraint]] = dict(_COMMON)

    def __init__(
        self,
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
        self.exploration = exploration
        self.epsilon = epsilon
        self.temperature = temperature
        self.gamma = gamma
        self.n_step = n_step
        self.reward_weights = None if reward_weights is None else dict(reward_weights)
        self.train_seed = train_seed
        super().__init__(seed=seed)
        self._check_reward_weights()
        self._train_rng = np.random.default_rng(train_seed)
        self.transitions_seen = 0

    def _extra_params(self) -> tuple[str, ...]:
        return ("reward_weights",)

    def _check_reward_weights(self) -> None:
        weights = self.reward_weights
        if weights is None:
            return
        if not weights:
            raise ParameterError(
                f"The 'reward_weights' parameter of {type(self).__name__} must name at least one of "
                f"{list(REWARD_SIGNALS)}. Got {weights!r} instead."
            )
        for key, value in weights.items():
            ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
            if key not in REWARD_SIGNALS or not ok:
                raise ParameterError(
                    f"The 'reward_weights' parameter of {type(self).__name__} must map outcomes among "
                    f"{list(REWARD_SIGNALS)} to finite numbers. Got {weights!r} instead."
                )

    @property
    def reward_weight_map(self) -> dict[str, float]:
        """The weights in force: ``reward_weights`` or ``{"click": 1.0}``."""
        return {"click": 1.0} if self.reward_weights is None else {k: float(v) for k, v in self.reward_weights.items()}

    def reward_of(self, outcomes: Mapping[str, npt.ArrayLike]) -> FloatArray:
        """The agent's reward of shown items from their outcomes by name (each array the same shape)."""
        weights = self.reward_weight_map
        shape = np.shape(next(iter(outcomes.values())))
        total = np.zeros(shape)
        for name, weight in weights.items():
            if name not in outcomes:
                raise ParameterError(
                    f"{type(self).__name__} weighs the outcome {name!r}, which this rollout does not report "
                    f"(it reports {sorted(outcomes)}); change reward_weights."
                )
            total = total + weight * np.asarray(outcomes[name], dtype=np.float64)
        return total

    # ----------------------------------------------------------------- pair features
    @staticmethod
    def with_pair_features(
        candidates: npt.ArrayLike, item_features: npt.ArrayLike | None, pair_features: npt.ArrayLike | None
    ) -> npt.ArrayLike | None:
        """``[item features, pair features]`` ``(n, m, p + q)``, what the agent reads (item features alone if no pairs).

        Raises
        ------
        abrec.errors.InputError
            ``pair_features`` not of shape ``(n, m, q)`` (one row per request, one column per candidate),
            not finite, or given without item features.
        """
        if pair_features is None:
            return item_features
        pairs = np.asarray(pair_features, dtype=np.float64)
        if item_features is None:
            raise InputError("pair_features complete the candidates' item_features: pass item_features too.")
        feats = np.asarray(item_features, dtype=np.float64)
        if pairs.ndim != 3 or feats.ndim not in (2, 3) or pairs.shape[:2] != (pairs.shape[0], feats.shape[-2]):
            raise InputError(
                f"pair_features must have shape (n, m, q), one row per request and one column per candidate; "
                f"got {pairs.shape} with item_features {feats.shape}."
            )
        cand = np.asarray(candidates)
        if cand.ndim == 2 and cand.shape[0] != pairs.shape[0]:
            raise InputError(f"pair_features have {pairs.shape[0]} rows for {cand.shape[0]} requests.")
        if not np.isfinite(pairs).all():
            raise InputError("pair_features contain NaN or infinite values.")
        if feats.ndim == 2:
            feats = np.broadcast_to(feats, (pairs.shape[0], *feats.shape))
        elif feats.shape[0] != pairs.shape[0]:
            raise InputError(f"pair_features have {pairs.shape[0]} rows; item_features have {feats.shape[0]}.")
        return np.concatenate([feats, pairs], axis=2)

    def decide(
        self,
        candidates: npt.ArrayLike,
        contexts: npt.ArrayLike | None = None,
        *,
        k: int = 1,
        mask: npt.ArrayLike | None = None,
        item_features: npt.ArrayLike | None = None,
        pair_features: npt.ArrayLike | None = None,
    ) -> Decision:
        """:meth:`abrec.policies.Policy.decide`, with optional ``pair_features`` ``(n, m, q)`` (module docstring)."""
        feats = self.with_pair_features(candidates, item_features, pair_features)
        return super().decide(candidates, contexts, k=k, mask=mask, item_features=feats)

    def action_distribution(
        self,
        candidates: npt.ArrayLike,
        contexts: npt.ArrayLike | None = None,
        *,
        k: int = 1,
        mask: npt.ArrayLike | None = None,
        item_features: npt.ArrayLike | None = None,
        pair_features: npt.ArrayLike | None = None,
        n_draws: int = 1000,
        seed: Seed = 0,
        exact: bool | None = None,
    ) -> ActionDistribution:
        """:meth:`abrec.policies.Policy.action_distribution`, with optional ``pair_features`` as in :meth:`decide`."""
        feats = self.with_pair_features(candidates, item_features, pair_features)
        return super().action_distribution(
            candidates, contexts, k=k, mask=mask, item_features=feats, n_draws=n_draws, seed=seed, exact=exact
        )

    # ----------------------------------------------------------------- Q-values
    @staticmethod
    def _candidate_features(req: Request) -> FloatArray:
        feats = req.item_features
        assert feats is not None
        if feats.ndim == 2:
            feats = np.broadcast_to(feats, (req.n, *feats.shape))
        return feats

    def q_values(self, states: npt.ArrayLike, item_features: npt.ArrayLike) -> FloatArray:
        """Q-values ``(n, m)`` of candidates with features ``(n, m, p)`` (or ``(m, p)``) in states ``(n, d)``."""
        s = np.atleast_2d(np.asarray(states, dtype=np.float64))
        f = np.asarray(item_features, dtype=np.float64)
        if f.ndim == 2:
            f = np.broadcast_to(f, (s.shape[0], *f.shape))
        return self._q(s, f, None)

    @abstractmethod
    def _q(self, states: FloatArray, features: FloatArray, rows: IntArray | None) -> FloatArray:
        """Q-values ``(n, m)`` of features ``(n, m, p)`` in states ``(n, d)`` (dimensions already checked).

        ``rows`` ``(n, m)`` are the candidates' rows in the agent's item index (None: unknown), for agents
        that add a per-item term to what they read from the text.
        """

    def _scores(self, req: Request) -> FloatArray:
        assert req.contexts is not None
        rows = req.rows if req.rows.ndim == 2 else np.broadcast_to(req.rows, (req.n, req.m))
        return self._q(req.contexts, self._candidate_features(req), rows)

    def _choose(self, req: Request, k: int) -> tuple[IntArray, FloatArray, FloatArray, int]:
        q = self._full_scores(req)
        if self.exploration == "epsilon":
            slots, props = _exploration.epsilon_greedy(q, k, self.epsilon, req.mask, req.valid, self._rng)
        else:
            slots, props = _exploration.boltzmann(q, k, self.temperature, req.mask, self._rng)
        return slots, props, q, 0

    def _exact_distribution(self, req: Request, k: int) -> FloatArray | None:
        q = self._full_scores(req)
        if self.exploration == "epsilon":
            return _exploration.epsilon_greedy_distribution(q, k, self.epsilon, req.mask, req.valid)
        return _exploration.boltzmann_distribution(q, k, self.temperature, req.mask)

    # ----------------------------------------------------------------- learning
    def _update(
        self,
        rows: IntArray,
        rewards: FloatArray,
        contexts: FloatArray | None,
        item_features: FloatArray | None,
        feedback: Feedback,
    ) -> None:
        # The protocol's feedback has no next state: each event is a one-step transition that ends there.
        assert contexts is not None and item_features is not None
        self._learn_checked(Transitions.terminal(contexts, item_features, rewards, np.asarray(feedback.items)))

    def learn(self, transitions: Transitions) -> None:
        """Learn from n-step transitions (see :class:`~abrec.agents.Transitions`).

        Raises
        ------
        abrec.errors.InputError
            Malformed arrays, or dimensions other than those the agent has seen.
        """
        t = transitions.checked(f"{type(self).__name__}.learn")
        if t.size == 0:
            return
        self._set_dim(t.states.shape[1])
        self._set_dim(t.item_features.shape[2], "_feature_dim", "item features")
        self._learn_checked(t)

    def _learn_checked(self, t: Transitions) -> None:
        self.transitions_seen += t.size
        rows = next_rows = None
        if t.items is not None and t.next_items is not None:
            rows = self._items.lookup(np.asarray(t.items), add=True)
            next_rows = self._items.lookup(np.asarray(t.next_items), add=True)
            self._ensure_rows()
        self._learn(t, rows, next_rows)

    @abstractmethod
    def _learn(self, t: Transitions, rows: IntArray | None, next_rows: IntArray | None) -> None:
        """Fold checked transitions into the Q-function (``rows``: the shown and next items' rows, or None)."""

    # ----------------------------------------------------------------- state
    def _extra_state(self) -> dict[str, npt.NDArray[Any]]:
        return {
            "train_rng": _generator_state(self._train_rng),
            "transitions_seen": np.array(self.transitions_seen, dtype=np.int64),
            **self._model_state(),
        }

    def _load_extra_state(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        arrays = dict(arrays)
        if "train_rng" in arrays:
            _restore_generator(self._train_rng, arrays.pop("train_rng"))
        self.transitions_seen = int(arrays.pop("transitions_seen", 0))
        self._load_model_state(arrays)

    @abstractmethod
    def _model_state(self) -> dict[str, npt.NDArray[Any]]:
        """The learned model as named arrays (pickle-free)."""

    @abstractmethod
    def _load_model_state(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        """Restore what :meth:`_model_state` wrote (dimensions are already restored)."""
