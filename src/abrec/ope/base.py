"""One protocol for every off-policy estimator, its bootstrap, and the registry of estimators.

Each estimator is a vectorised function of per-row arrays (:class:`Rows`): the importance weight
``w_i = pi(a_i | x_i, pos_i) / p_i``, the reward ``r_i``, the reward model's ``q(x_i, a_i)`` and
``dm_i = sum_a pi(a | x_i, pos_i) q(x_i, a)``. A subclass gives

- ``_terms(rows)``: an ``(n_rows, k)`` matrix of per-row quantities whose column means are all it needs;
- ``_combine(means, n_rows)``: the estimate from a ``(B, k)`` matrix of such means (one row per sample);
- ``_gradient(means)``: the gradient of ``_combine`` for the delta-method standard error (None: none).

The point estimate is ``_combine`` of the column means; the bootstrap draws a ``(B, n)`` matrix of
row indices (in chunks that bound memory), turns it into resample counts and gets all ``B`` resample
means with one matrix product, so 200 resamples of 10,000 rows cost a few milliseconds.

Given the reward model as the :class:`~abrec.ope.RewardEstimates` of
:func:`~abrec.ope.cross_fit_rewards` (not only its ``values``), the estimators that read it add
each row's influence on the fitted model to their terms (:mod:`abrec.ope.model_influence`): their
standard errors and intervals then include the model's own estimation error, as if it were refitted
on every resample. With a bare array the model is taken as fixed.

Slates are handled position-wise (as OBP does on the Open Bandit Dataset): each row is one
(item, position) action and the target's distribution is read at the row's position.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from statistics import NormalDist
from typing import Any, ClassVar, TypeVar

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval, validate_params
from .._random import Seed, as_generator
from ..errors import InputError, ParameterError, UnknownNameError
from ..policies import ActionDistribution
from ._support import check_support, logging_zeros, warn_extreme_weights
from .feedback import LoggedFeedback, at_logged_positions
from .model_influence import ModelInfluence
from .result import EstimateResult
from .reward_model import RewardEstimates

__all__ = [
    "Estimator",
    "Rows",
    "estimate_all",
    "make_estimator",
    "register_estimator",
    "registered_estimators",
]

FloatArray = npt.NDArray[np.float64]
E = TypeVar("E", bound="type[Estimator]")
Rewards = npt.ArrayLike | RewardEstimates
"""The reward model: an ``(n_rows, n_actions)`` array, or the :class:`RewardEstimates` that carry its influence."""

#: Cells of one bootstrap chunk (``chunk x n_rows`` indices): bounds the memory at about 32 MB.
_MAX_CELLS = 1 << 21
#: Resample counts up to this many cells (32 MB of float64) are cached per (int seed, n_rows, resamples).
_CACHED_CELLS = 1 << 22
_NO_MODEL = (
    "{name} needs a reward model: pass estimated_rewards, an (n_rows, n_actions) array of q(x_i, a, position_i), "
    "cross-fitted so that no row's own reward trained its prediction."
)


@dataclass(frozen=True, eq=False)
class Rows:
    """The per-row arrays an estimator reads (built once per call by :meth:`Estimator.rows`).

    Attributes
    ----------
    reward : (n,) observed rewards ``r_i``
    weight : (n,) importance weights ``w_i = pi(a_i | x_i, pos_i) / p_i``
    target : (n,) the target's probability of the logged action, ``pi(a_i | x_i, pos_i)``
    propensity : (n,) the logging propensities ``p_i``
    position : (n,) the positions
    q_logged : (n,) ``q(x_i, a_i)`` or None (no reward model given)
    dm : (n,) ``sum_a pi(a | x_i, pos_i) q(x_i, a)`` or None
    pi : (n, n_actions) the target's distribution at each row, or None
    action : (n,) the logged actions, or None
    """

    reward: FloatArray
    weight: FloatArray
    target: FloatArray
    propensity: FloatArray
    position: npt.NDArray[np.int64]
    q_logged: FloatArray | None
    dm: FloatArray | None
    pi: FloatArray | None = None
    action: npt.NDArray[np.int64] | None = None

    @property
    def n_rows(self) -> int:
        return int(self.reward.shape[0])

    def model(self, estimator: str) -> tuple[FloatArray, FloatArray]:
        """``(q_logged, dm)``; InputError when no reward model was given."""
        if self.q_logged is None or self.dm is None:
            raise InputError(_NO_MODEL.format(name=estimator))
        return self.q_logged, self.dm


_COMMON: dict[str, Constraint] = {
    "alpha": Interval("float", 0.0, 1.0, closed="neither"),
    "n_bootstrap": Interval("int", 0),
    "ess_threshold": Interval("float", 0.0, 1.0),
}


def interval_of(
    value: float, se: float, boot: npt.NDArray[np.float64] | None, alpha: float
) -> tuple[float, float, float]:
    """(standard error, low, high) of an estimate: the percentile interval of the finite bootstrap replicates
    ``boot`` (whose standard deviation stands in for a missing ``se``), or, without a bootstrap, the normal
    interval ``value -+ z se``."""
    if boot is None:
        z = NormalDist().inv_cdf(1.0 - alpha / 2.0)
        return se, value - z * se, value + z * se
    finite = boot[np.isfinite(boot)]
    if math.isnan(se) and finite.size > 1:
        se = float(np.std(finite, ddof=1))
    if not finite.size:
        return se, math.nan, math.nan
    low, high = (float(x) for x in np.quantile(finite, [alpha / 2.0, 1.0 - alpha / 2.0]))
    return se, low, high


class Estimator(ABC):
    """Base class of the off-policy estimators.

    Parameters
    ----------
    alpha : float, default 0.05
        The confidence interval's level is ``1 - alpha``.
    n_bootstrap : int, default 200
        Bootstrap resamples for the percentile interval (0: normal interval from the standard error).
    seed : int, numpy.random.Generator or None, default 0
        Seed of the bootstrap; an int gives the same interval on every call.
    ess_threshold : float, default 0.01
        Warn with :class:`~abrec.errors.ExtremeWeightsWarning` when the weights' effective sample size
        is below this fraction of the rows.

    Class attributes
    ----------------
    name : the registry name.
    needs_reward_model : whether ``estimated_rewards`` is required.
    uses_weights : whether it reads importance weights (reports an ESS, may warn).
    requires_support : whether a target outside the logging support raises SupportError.
    exact_on_policy : whether the estimate is the mean reward whenever the target equals the logging
        policy, whatever the reward model (checked by :func:`abrec.testing.check_estimator`).
    bias_rank : where it sits on the bias-variance ladder that SLOPE walks
        (:func:`~abrec.ope.select_estimator`): 0 = unbiased or consistent given the logging
        propensities (IPW, SNIPW, DR, SNDR, replay), 1 = trades bias for variance through a tuned
        hyperparameter (Switch-DR, DRos), 2 = the reward model alone (DM).
    """

    name: ClassVar[str]
    needs_reward_model: ClassVar[bool] = False
    uses_weights: ClassVar[bool] = True
    requires_support: ClassVar[bool] = False
    exact_on_policy: ClassVar[bool] = True
    bias_rank: ClassVar[int] = 0
    _parameter_constraints: ClassVar[dict[str, Constraint]] = {}

    def __init__(
        self, *, alpha: float = 0.05, n_bootstrap: int = 200, seed: Seed = 0, ess_threshold: float = 0.01
    ) -> None:
        self.alpha = alpha
        self.n_bootstrap = n_bootstrap
        self.seed = seed
        self.ess_threshold = ess_threshold
        self._validate_common()

    def _validate_common(self) -> None:
        owner = type(self).__name__
        validate_params(owner, _COMMON, self.__dict__)
        validate_params(owner, self._parameter_constraints, self.__dict__)
        seed = self.seed
        if not (seed is None or isinstance(seed, np.random.Generator) or type(seed) is int):
            raise ParameterError(
                f"The 'seed' parameter of {owner} must be an int, a numpy.random.Generator or None. "
                f"Got {seed!r} instead."
            )

    def get_params(self) -> dict[str, Any]:
        """The constructor arguments, as given (``type(e)(**e.get_params())`` builds a twin)."""
        return {k: v for k, v in self.__dict__.items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"

    # ------------------------------------------------------------------ the estimator's formula
    @abstractmethod
    def _terms(self, rows: Rows) -> FloatArray:
        """Per-row quantities, ``(n_rows, k)``, whose column means determine the estimate."""

    def _combine(self, means: FloatArray, n_rows: int) -> FloatArray:
        """The estimate of each sample from its ``(B, k)`` column means; default: the first mean."""
        out: FloatArray = means[:, 0]
        return out

    def _gradient(self, means: FloatArray) -> FloatArray | None:
        """Gradient of ``_combine`` at ``means`` (k,), for the delta-method SE; None when there is none."""
        return np.ones(1) if means.shape[0] == 1 else None

    def _params(self, terms: FloatArray, n_rows: int) -> dict[str, float]:
        """Hyperparameters used on these rows (reported in the result)."""
        return {}

    def _point(self, terms: FloatArray) -> float:
        """The estimate on all rows (column means by pairwise summation, so on-policy IPW is exactly the mean)."""
        return float(self._combine(terms.mean(axis=0)[None, :], terms.shape[0])[0])

    def _resample(self, terms: FloatArray, counts: FloatArray) -> FloatArray:
        """Estimates on bootstrap resamples given as ``(B, n)`` row counts."""
        n = terms.shape[0]
        return self._combine(counts @ terms / n, n)

    def _check_inputs(self, feedback: LoggedFeedback, pi: FloatArray) -> None:
        """Estimator-specific input requirements (replay: a uniform logging policy)."""
        return None

    def _standard_error(self, terms: FloatArray, means: FloatArray) -> float:
        n = terms.shape[0]
        grad = self._gradient(means)
        if grad is None or n < 2:
            return math.nan
        influence = (terms - means) @ grad
        return float(np.sqrt(np.dot(influence, influence) / (n - 1) / n))

    @classmethod
    def applies(cls, feedback: LoggedFeedback, estimated_rewards: Rewards | None = None) -> bool:
        """Whether the estimator can run on these inputs (what :func:`estimate_all` runs by default)."""
        return estimated_rewards is not None or not cls.needs_reward_model

    # ------------------------------------------------------------------ inputs
    def rows(
        self,
        feedback: LoggedFeedback,
        action_dist: ActionDistribution | npt.ArrayLike,
        estimated_rewards: Rewards | None = None,
        *,
        logging_dist: npt.ArrayLike | None = None,
    ) -> Rows:
        """Validate the inputs and build the per-row arrays (checks support where the estimator needs it)."""
        if not isinstance(feedback, LoggedFeedback):
            raise InputError(
                f"feedback must be a LoggedFeedback (see LoggedFeedback.from_arrays); got {type(feedback).__name__}."
            )
        pi = at_logged_positions(action_dist, feedback)
        n, na = feedback.n_rows, feedback.n_actions
        idx = np.arange(n)
        q_logged = dm = None
        if estimated_rewards is not None:
            q = np.asarray(
                estimated_rewards.values if isinstance(estimated_rewards, RewardEstimates) else estimated_rewards,
                dtype=np.float64,
            )
            if q.shape != (n, na):
                raise InputError(
                    f"estimated_rewards must have shape (n_rows, n_actions) = ({n}, {na}): q(x_i, a, position_i) "
                    f"for every row and action; got {q.shape}."
                )
            if not np.isfinite(q).all():
                raise InputError("estimated_rewards must be finite (no NaN or infinity).")
            q_logged = q[idx, feedback.action]
            dm = np.einsum("ij,ij->i", pi, q) / pi.sum(axis=1)  # np.average(q, weights=pi, axis=1), as OBP
        elif self.needs_reward_model:
            raise InputError(_NO_MODEL.format(name=self.name))
        if self.requires_support:
            check_support(feedback, pi, logging_dist, self.name)
        elif logging_dist is not None:
            logging_zeros(feedback, logging_dist)  # validated even where unused
        self._check_inputs(feedback, pi)
        target = pi[idx, feedback.action]
        return Rows(
            reward=feedback.reward,
            weight=target / feedback.propensity,
            target=target,
            propensity=feedback.propensity,
            position=feedback.position,
            q_logged=q_logged,
            dm=dm,
            pi=pi,
            action=feedback.action,
        )

    def _model_columns(self, k: int) -> npt.NDArray[np.intp]:
        """The columns of ``_terms`` that are linear in the reward model's predictions (default: all)."""
        return np.arange(k)

    def _with_model_error(self, rows: Rows, terms: FloatArray, estimated_rewards: Any) -> FloatArray:
        """``terms`` plus each row's influence through the refitted reward model (unchanged without one).

        The derivatives of the terms with respect to ``q(x_i, a_i)`` and ``dm_i`` are read off the
        terms themselves (they are linear in both on :meth:`_model_columns`).
        """
        influence = estimated_rewards.influence if isinstance(estimated_rewards, RewardEstimates) else None
        if not (self.needs_reward_model and isinstance(influence, ModelInfluence)):
            return terms
        q_logged, dm = rows.model(self.name)
        cols = self._model_columns(terms.shape[1])
        d_logged = (self._terms(replace(rows, q_logged=q_logged + 1.0)) - terms)[:, cols]
        d_dm = (self._terms(replace(rows, dm=dm + 1.0)) - terms)[:, cols]
        assert rows.pi is not None and rows.action is not None
        out = terms.copy()
        out[:, cols] += influence.row_terms(rows.action, rows.pi, d_logged, d_dm)
        return out

    # ------------------------------------------------------------------ public API
    def value(
        self,
        feedback: LoggedFeedback,
        action_dist: ActionDistribution | npt.ArrayLike,
        estimated_rewards: Rewards | None = None,
        *,
        logging_dist: npt.ArrayLike | None = None,
    ) -> float:
        """The point estimate only (no standard error, no bootstrap).

        Parameters are those of :meth:`estimate`.
        """
        rows = self.rows(feedback, action_dist, estimated_rewards, logging_dist=logging_dist)
        if self.uses_weights:
            warn_extreme_weights(rows.weight, self.ess_threshold, self.name)
        return self._point(self._terms(rows))

    def estimate(
        self,
        feedback: LoggedFeedback,
        action_dist: ActionDistribution | npt.ArrayLike,
        estimated_rewards: Rewards | None = None,
        *,
        logging_dist: npt.ArrayLike | None = None,
    ) -> EstimateResult:
        """Estimate the target policy's value per logged row, with a standard error and a confidence interval.

        Parameters
        ----------
        feedback : LoggedFeedback
            The logged rows (action, position, reward, logging propensity).
        action_dist : abrec.policies.ActionDistribution or array_like
            The target policy: the record of ``policy.action_distribution`` or
            :func:`~abrec.ope.bts_action_distribution` (one request's table for every row, or one request
            per row), a table ``(n_actions, n_positions)`` for every row, or ``pi(a | x_i, position_i)``
            per row, ``(n_rows, n_actions)`` (see :func:`~abrec.ope.at_logged_positions`).
        estimated_rewards : array_like ``(n_rows, n_actions)`` or RewardEstimates, optional
            The reward model's ``q(x_i, a, position_i)`` (cross-fitted by the caller); required by
            DM and the DR family, ignored by the others. Pass the
            :class:`~abrec.ope.RewardEstimates` of :func:`~abrec.ope.cross_fit_rewards` itself for
            intervals that include the model's estimation error (a bare array: the model is fixed).
        logging_dist : array_like ``(n_actions, n_positions)``, optional
            The logging policy's probabilities, for an exact support check (see :mod:`abrec.ope`).

        Returns
        -------
        EstimateResult

        Raises
        ------
        abrec.errors.InputError
            Shapes that do not fit, distributions that do not sum to 1, a missing reward model.
        abrec.errors.SupportError
            (an InputError) importance-weighting estimators, when the target leaves the logging support.

        Warns
        -----
        abrec.errors.ExtremeWeightsWarning
            When the weights' effective sample size is below ``ess_threshold`` of the rows.
        """
        rows = self.rows(feedback, action_dist, estimated_rewards, logging_dist=logging_dist)
        n = rows.n_rows
        ess = warn_extreme_weights(rows.weight, self.ess_threshold, self.name) if self.uses_weights else math.nan
        terms = self._terms(rows)
        value = self._point(terms)
        params = self._params(terms, n)
        terms = self._with_model_error(rows, terms, estimated_rewards)
        se = self._standard_error(terms, terms.mean(axis=0))
        boot = self._bootstrap(terms, self.seed) if self.n_bootstrap > 0 else None
        se, low, high = interval_of(value, se, boot, self.alpha)
        return EstimateResult(
            estimator=self.name,
            value=value,
            standard_error=se,
            ci_low=low,
            ci_high=high,
            alpha=self.alpha,
            n_bootstrap=self.n_bootstrap,
            seed=self.seed if isinstance(self.seed, int) else None,
            n_rows=n,
            effective_sample_size=ess,
            params=params,
        )

    def _bootstrap(self, terms: FloatArray, seed: Seed) -> FloatArray:
        """``n_bootstrap`` resample estimates from one vectorised pass over a ``(B, n)`` index matrix."""
        out = np.empty(self.n_bootstrap)
        start = 0
        for counts in resample_counts(seed, terms.shape[0], self.n_bootstrap):
            b = counts.shape[0]
            with np.errstate(divide="ignore", invalid="ignore"):
                out[start : start + b] = self._resample(terms, counts)
            start += b
        return out


def _draw_counts(rng: np.random.Generator, n: int, total: int) -> Iterator[FloatArray]:
    chunk = max(1, _MAX_CELLS // n)
    for start in range(0, total, chunk):
        b = min(chunk, total - start)
        idx = rng.integers(0, n, size=(b, n))
        idx += (np.arange(b) * n)[:, None]
        yield np.bincount(idx.ravel(), minlength=b * n).reshape(b, n).astype(np.float64)


@lru_cache(maxsize=2)
def _cached_counts(seed: int, n: int, total: int) -> tuple[FloatArray, ...]:
    chunks = tuple(_draw_counts(np.random.default_rng(seed), n, total))
    for c in chunks:
        c.setflags(write=False)
    return chunks


def resample_counts(seed: Seed, n: int, total: int) -> Iterable[FloatArray]:
    """Bootstrap resamples of ``n`` rows as ``(b, n)`` row-count chunks, ``total`` rows in all.

    Resample ``k`` draws ``n`` row indices uniformly with replacement from ``seed``'s stream, in
    order (so every estimator, and :func:`~abrec.ope.select_estimator`, given one int seed resamples
    the same rows). For an int seed and at most :data:`_CACHED_CELLS` cells the counts are cached:
    several estimators on one log draw them once.
    """
    if type(seed) is int and n * total <= _CACHED_CELLS:
        return _cached_counts(seed, n, total)
    return _draw_counts(as_generator(seed), n, total)


# ---------------------------------------------------------------------- registry
_REGISTRY: dict[str, type[Estimator]] = {}


def register_estimator(cls: E) -> E:
    """Class decorator: register an :class:`Estimator` subclass under its ``name``.

    Examples
    --------
    >>> from abrec.ope import IPW
    >>> register_estimator(IPW) is IPW
    True
    """
    name = getattr(cls, "name", None)
    if not isinstance(name, str) or not name:
        raise ParameterError(f"An estimator class needs a non-empty str 'name' to be registered; got {name!r}.")
    existing = _REGISTRY.get(name)
    if existing is not None and existing is not cls:
        raise ParameterError(f"The estimator name {name!r} is taken by {existing.__name__}.")
    _REGISTRY[name] = cls
    return cls


def registered_estimators() -> dict[str, type[Estimator]]:
    """Every registered estimator class by name (sorted by name).

    Examples
    --------
    >>> sorted(registered_estimators())
    ['dm', 'dr', 'dros', 'ipw', 'replay', 'sndr', 'snipw', 'switch_dr']
    """
    return {name: _REGISTRY[name] for name in sorted(_REGISTRY)}


def make_estimator(name: str, **params: Any) -> Estimator:
    """Build the estimator registered as ``name`` with ``params``.

    Examples
    --------
    >>> make_estimator("switch_dr", tau=100.0).tau
    100.0
    >>> make_estimator("snips")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    abrec.errors.UnknownNameError: Unknown estimator 'snips'. Did you mean 'snipw'? Known: dm, ...
    """
    cls = _REGISTRY.get(name)
    if cls is None:
        raise UnknownNameError("estimator", name, _REGISTRY)
    return cls(**params)


def estimate_all(
    feedback: LoggedFeedback,
    action_dist: ActionDistribution | npt.ArrayLike,
    estimated_rewards: Rewards | None = None,
    names: Iterable[str] | None = None,
    *,
    logging_dist: npt.ArrayLike | None = None,
    **common: Any,
) -> list[EstimateResult]:
    """Run several registered estimators on one log with shared settings (``alpha``, ``n_bootstrap``, ``seed``...).

    With ``names=None``, every registered estimator that applies: those needing a reward model only
    when ``estimated_rewards`` is given, ``replay`` only on a uniform log. Named estimators always run
    (and raise if they cannot).

    Examples
    --------
    >>> from abrec.ope import LoggedFeedback
    >>> fb = LoggedFeedback.from_arrays(action=[0, 1, 1, 0], reward=[1, 0, 1, 0], propensity=0.5)
    >>> [(r.estimator, r.value) for r in estimate_all(fb, [[0.5], [0.5]], names=["ipw", "snipw"])]
    [('ipw', 0.5), ('snipw', 0.5)]
    """
    if names is None:
        chosen = [cls for cls in registered_estimators().values() if cls.applies(feedback, estimated_rewards)]
    else:
        chosen = []
        for name in names:
            if name not in _REGISTRY:
                raise UnknownNameError("estimator", name, _REGISTRY)
            chosen.append(_REGISTRY[name])
    return [
        cls(**common).estimate(feedback, action_dist, estimated_rewards, logging_dist=logging_dist) for cls in chosen
    ]
