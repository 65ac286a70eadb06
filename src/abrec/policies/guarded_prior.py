"""Bernoulli Thompson sampling warm-started from item priors (e.g. a language model's), with an alignment guard.

:class:`GuardedPriorThompson` starts every item from its given prior ``Beta(a_i, b_i)`` (items without
one from the uninformative ``Beta(prior_alpha, prior_beta)``) and, after every update, runs the
prior-alignment check of :mod:`abrec.policies.alignment` on every item's clicks so far, against an
equal mixture of two alternatives fixed at construction: the uninformative prior, and the pooled prior
(every item at the average given mean and strength). When the evidence against the priors reaches
``log(1 / false_alarm)`` the priors are judged misaligned and their strength shrinks to zero: every
item's prior becomes the uninformative one, its own clicks kept. The check is anytime-valid: with
click rates drawn from the priors the chance that it ever fires is at most ``false_alarm``. Which
prior is in force is :attr:`GuardedPriorThompson.prior_in_force` (``"given"`` or ``"uninformative"``)
and :attr:`GuardedPriorThompson.fired_at` (the observation count at which the check fired); a
decision log records it beside each decision (``Decision.version`` stays the class's version, as the
policy protocol requires).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval
from .._random import Seed
from .alignment import alignment_threshold, guard_log_evidence, pooled_prior
from .base import FloatArray, IntArray
from .records import Feedback
from .registry import register
from .thompson import BernoulliThompson

__all__ = ["GuardedPriorThompson"]


@register
class GuardedPriorThompson(BernoulliThompson):
    """Beta-Bernoulli Thompson sampling from given item priors that drops them once the clicks contradict them.

    Parameters
    ----------
    priors : item id -> ``(alpha, beta)`` prior pseudo-counts (e.g. from
        :func:`abrec.llm.item_priors`); ``alpha / (alpha + beta)`` is the prior click rate and
        ``alpha + beta`` its strength.
    prior_alpha, prior_beta : the uninformative prior (items without a given prior, and every
        item once the check fires); also the alternative of the alignment check.
    false_alarm : the most probability that the check ever fires when the priors are right.
    propensity_draws : posterior draws behind each decision's propensities.

    Attributes
    ----------
    evidence : the current log Bayes factor against the given priors.
    fired_at : observations seen when the check fired (None while the priors are trusted).

    Examples
    --------
    >>> import numpy as np
    >>> p = GuardedPriorThompson(priors={"a": (18.0, 2.0), "b": (2.0, 18.0)}, seed=0)
    >>> p.prior_in_force
    'given'
    >>> for _ in range(30):  # the clicks say the opposite
    ...     p.update(Feedback(items=np.array(["a", "b"]), rewards=np.array([0.0, 1.0])))
    >>> p.fired_at, p.prior_in_force
    (2, 'uninformative')
    """

    name: ClassVar[str] = "guarded_prior_ts"
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {
        **BernoulliThompson._parameter_constraints,
        "false_alarm": Interval("float", 0.0, 1.0, closed="neither"),
    }

    def __init__(
        self,
        prior_alpha: float = 1.0,
        prior_beta: float = 1.0,
        priors: Mapping[Any, tuple[float, float]] | None = None,
        false_alarm: float = 0.05,
        propensity_draws: int = 1000,
        *,
        seed: Seed = None,
    ) -> None:
        self.false_alarm = false_alarm
        super().__init__(prior_alpha, prior_beta, priors, propensity_draws, seed=seed)
        given = np.array(list((self.priors or {}).values()), dtype=np.float64).reshape(-1, 2)
        self._pooled = pooled_prior(given[:, 0], given[:, 1]) if given.size else (prior_alpha, prior_beta)
        self.evidence = 0.0
        self.observations = 0
        self.fired_at: int | None = None

    # ----------------------------------------------------------------- per-item priors
    def _item_state(self) -> dict[str, tuple[tuple[int, ...], Any]]:
        return {**super()._item_state(), "given_alpha": ((), self.prior_alpha), "given_beta": ((), self.prior_beta)}

    def _on_new_items(self, start: int, stop: int) -> None:
        super()._on_new_items(start, stop)
        self._state["given_alpha"][start:stop] = self._state["alpha0"][start:stop]
        self._state["given_beta"][start:stop] = self._state["beta0"][start:stop]
        if self.fired_at is not None:
            self._state["alpha0"][start:stop] = self.prior_alpha
            self._state["beta0"][start:stop] = self.prior_beta

    @property
    def prior_in_force(self) -> str:
        """``"given"`` while the given priors are trusted, ``"uninformative"`` once the check has fired."""
        return "given" if self.fired_at is None else "uninformative"

    # ----------------------------------------------------------------- learning and the check
    def _update(
        self,
        rows: IntArray,
        rewards: FloatArray,
        contexts: FloatArray | None,
        item_features: FloatArray | None,
        feedback: Feedback,
    ) -> None:
        super()._update(rows, rewards, contexts, item_features, feedback)
        self.observations += int(rows.shape[0])
        if self.fired_at is not None or not self.priors:
            return
        n = self.n_items
        count, total = self._state["count"][:n], self._state["total"][:n]
        self.evidence = guard_log_evidence(
            total,
            count - total,
            self._state["given_alpha"][:n],
            self._state["given_beta"][:n],
            (self.prior_alpha, self.prior_beta),
            self._pooled,
        )
        if self.evidence >= alignment_threshold(self.false_alarm):
            self.fired_at = self.observations
            self._state["alpha0"][:] = self.prior_alpha
            self._state["beta0"][:] = self.prior_beta

    # ----------------------------------------------------------------- persistence
    def _extra_state(self) -> dict[str, npt.NDArray[Any]]:
        fired = -1 if self.fired_at is None else self.fired_at
        return {"guard": np.array([self.evidence, float(self.observations), float(fired)])}

    def _load_extra_state(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        guard = arrays.get("guard")
        if guard is not None and guard.shape == (3,):
            self.evidence, self.observations = float(guard[0]), int(guard[1])
            self.fired_at = None if guard[2] < 0 else int(guard[2])
