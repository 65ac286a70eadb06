"""The counterfactual A/B test: several target policies evaluated off-policy on one log, and its report.

:func:`evaluate_policies` answers "had we run these policies instead of the logging one, what would
each have earned per logged action?" from one log:

1. the reward model is cross-fitted once (:func:`~abrec.ope.cross_fit_rewards`), shared by every policy;
2. each policy's action distribution on the logged rows, as the policy itself gives it
   (:func:`~abrec.ope.policy_action_dist`, which asks ``policy.action_distribution``), or given;
3. every applicable estimator, each with its bootstrap confidence interval (one that cannot run, e.g.
   for lack of support, is listed with the reason instead);
4. the automatic choice among them (:func:`~abrec.ope.select_estimator`) with its reason;
5. for a policy that learns, on a uniformly random log: the replay of Li et al. (2011), which
   estimates the policy *learning online*, while the estimators above evaluate it frozen as it stands.

The logging policy's own value (the mean logged reward) is reported next to them.
:func:`abrec.report.evaluation.evaluation_report` turns the result into a self-contained HTML page.
"""

from __future__ import annotations

import contextlib
import json
import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist
from typing import Any

import numpy as np
import numpy.typing as npt

from .._interval import ConfidenceInterval
from .._params import Interval, StrOptions, validate_params
from .._threads import single_blas
from ..errors import AbrecError, InputError, UnknownNameError
from ..policies import Policy
from . import replay as _replay
from ._support import is_uniform_log
from .base import registered_estimators
from .feedback import LoggedFeedback, at_logged_positions
from .result import EstimateResult, _json_float
from .reward_model import RewardEstimates, cross_fit_rewards
from .selection import EstimatorSelection, select_estimator
from .target import policy_action_dist

__all__ = ["Evaluation", "EvaluationRow", "PolicyEvaluation", "evaluate_policies"]

FloatArray = npt.NDArray[np.float64]

LOGGING = "logging policy"
"""The ``policy`` of the table row holding the logging policy's on-policy value."""

_MAX_CURVE_POINTS = 500


@dataclass(frozen=True)
class EvaluationRow:
    """One line of :meth:`Evaluation.table`: one policy's estimate by one estimator.

    ``estimator`` is a registered estimator name, ``"replay_learning"`` (the policy learning online,
    Li et al. 2011) or ``"on_policy"`` (the logging policy's mean reward). ``ess`` is the effective
    sample size of the importance weights (NaN where there are none; the accepted rows for
    ``replay_learning``, all rows for ``on_policy``); ``chosen`` marks the estimator picked by the selection.
    """

    policy: str
    estimator: str
    value: float
    ci_low: float
    ci_high: float
    se: float
    ess: float
    chosen: bool

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite numbers become None)."""
        out: dict[str, Any] = {"policy": self.policy, "estimator": self.estimator}
        for key in ("value", "ci_low", "ci_high", "se", "ess"):
            out[key] = _json_float(getattr(self, key))
        out["chosen"] = self.chosen
        return out


@dataclass(frozen=True)
class PolicyEvaluation:
    """Everything measured for one target policy.

    Attributes
    ----------
    name : str
        The policy's label (the key given to :func:`evaluate_policies`).
    estimates : tuple of EstimateResult
        One per estimator that ran, in registry order.
    skipped : Mapping[str, str]
        Estimators that could not run on this policy and log, with the reason.
    selection : EstimatorSelection or None
        The chosen estimator and why (None when selection was off or had no candidate).
    replay : ReplayResult or None
        The replay of the policy learning online (None: not a learning policy, not a uniform log, or off).
    learns : bool
        Whether the policy learns from feedback (a frozen copy is what the estimators evaluate).
    dist_source : str
        Where the action distribution came from: ``"given"``, or ``"policy"`` (the policy's own
        ``action_distribution``, through :func:`~abrec.ope.policy_action_dist`).
    notes : tuple of str
        Warnings raised on the way (extreme weights, ...) and why replay or selection did not run.
    """

    name: str
    estimates: tuple[EstimateResult, ...]
    skipped: Mapping[str, str]
    selection: EstimatorSelection | None
    replay: _replay.ReplayResult | None
    learns: bool
    dist_source: str
    notes: tuple[str, ...] = ()

    @property
    def chosen(self) -> EstimateResult | None:
        """The chosen estimator's result, if a selection was made."""
        return None if self.selection is None else self.selection.result

    def estimate(self, estimator: str) -> EstimateResult:
        """The result of the estimator named ``estimator``."""
        for result in self.estimates:
            if result.estimator == estimator:
                return result
        raise UnknownNameError(f"estimate of {self.name!r} by", estimator, [r.estimator for r in self.estimates])


@dataclass(frozen=True)
class Evaluation:
    """The counterfactual A/B test of several policies on one log (see :func:`evaluate_policies`).

    Attributes
    ----------
    policies : tuple of PolicyEvaluation
    logging_value, logging_se : float
        The logging policy's on-policy value (mean logged reward) and its standard error.
    n_rows, n_actions, n_positions : int
        Shape of the log.
    reward_model : str
        The cross-fitted model (``repr``), or ``""`` when none could be fitted.
    heldout_brier : float
        Mean squared error of the held-out predictions of the logged rewards (NaN without a model).
    model_error_in_intervals : bool
        Whether the intervals of DM and the DR family include the reward model's own estimation error
        (linear models, :mod:`abrec.ope.model_influence`) or hold the fitted model fixed.
    n_folds, n_bootstrap : int
    alpha : float
    seed : int
    notes : tuple of str
        Log-level notes (e.g. why no reward model could be fitted).
    """

    policies: tuple[PolicyEvaluation, ...]
    logging_value: float
    logging_se: float
    n_rows: int
    n_actions: int
    n_positions: int
    reward_model: str
    heldout_brier: float
    n_folds: int
    n_bootstrap: int
    alpha: float
    seed: int
    notes: tuple[str, ...] = field(default=())
    model_error_in_intervals: bool = False

    def __getitem__(self, name: str) -> PolicyEvaluation:
        for policy in self.policies:
            if policy.name == name:
                return policy
        raise UnknownNameError("evaluated policy", name, [p.name for p in self.policies])

    def logging_ci(self) -> ConfidenceInterval:
        """Normal ``1 - alpha`` interval of the logging policy's value."""
        z = NormalDist().inv_cdf(1.0 - self.alpha / 2.0)
        return ConfidenceInterval(
            self.logging_value - z * self.logging_se, self.logging_value + z * self.logging_se, 1.0 - self.alpha
        )

    def table(self) -> list[EvaluationRow]:
        """One row per (policy, estimator), then the replay rows, then the logging policy's on-policy value."""
        rows = []
        for p in self.policies:
            chosen = None if p.selection is None else p.selection.chosen
            for r in p.estimates:
                rows.append(
                    EvaluationRow(
                        p.name,
                        r.estimator,
                        r.value,
                        r.ci_low,
                        r.ci_high,
                        r.standard_error,
                        r.effective_sample_size,
                        r.estimator == chosen,
                    )
                )
            if p.replay is not None:
                low, high = p.replay.confidence_interval(1.0 - self.alpha)
                rows.append(
                    EvaluationRow(
                        p.name,
                        "replay_learning",
                        p.replay.value,
                        low,
                        high,
                        p.replay.standard_error,
                        float(p.replay.n_accepted),
                        False,
                    )
                )
        low, high = self.logging_ci()
        rows.append(
            EvaluationRow(
                LOGGING, "on_policy", self.logging_value, low, high, self.logging_se, float(self.n_rows), False
            )
        )
        return rows

    def to_dict(self) -> dict[str, Any]:
        """Everything as JSON-ready dicts and lists (replay curves thinned to at most 500 points)."""
        return {
            "log": {"n_rows": self.n_rows, "n_actions": self.n_actions, "n_positions": self.n_positions},
            "logging_policy": {
                "value": _json_float(self.logging_value),
                "standard_error": _json_float(self.logging_se),
                "ci": [_json_float(v) for v in self.logging_ci()],
            },
            "reward_model": {
                "model": self.reward_model,
                "n_folds": self.n_folds,
                "heldout_brier": _json_float(self.heldout_brier),
                "model_error_in_intervals": self.model_error_in_intervals,
            },
            "settings": {"n_bootstrap": self.n_bootstrap, "alpha": self.alpha, "seed": self.seed},
            "notes": list(self.notes),
            "policies": [_policy_dict(p, self.alpha) for p in self.policies],
            "table": [row.to_dict() for row in self.table()],
        }

    def to_json(self, indent: int | None = 2) -> str:
        """:meth:`to_dict` as a JSON string (NaN written as null)."""
        return json.dumps(self.to_dict(), indent=indent)


def _policy_dict(p: PolicyEvaluation, alpha: float) -> dict[str, Any]:
    out: dict[str, Any] = {
        "name": p.name,
        "learns": p.learns,
        "dist_source": p.dist_source,
        "estimates": [r.to_dict() for r in p.estimates],
        "skipped": dict(p.skipped),
        "notes": list(p.notes),
        "selection": None,
        "replay_learning": None,
    }
    if p.selection is not None:
        s = p.selection
        out["selection"] = {
            "chosen": s.chosen,
            "method": s.method,
            "reason": s.reason,
            "n_bootstrap": s.n_bootstrap,
            "candidates": [
                {k: _json_float(v) if isinstance(v, float) else v for k, v in c.items()} for c in s.candidates
            ],
        }
    if p.replay is not None:
        r = p.replay
        keep = np.unique(np.linspace(0, r.n_accepted - 1, min(r.n_accepted, _MAX_CURVE_POINTS)).round().astype(int))
        out["replay_learning"] = {
            "value": _json_float(r.value),
            "standard_error": _json_float(r.standard_error),
            "ci": [_json_float(v) for v in r.confidence_interval(1.0 - alpha)],
            "n_accepted": r.n_accepted,
            "n_rows": r.n_rows,
            "curve_t": (keep + 1).tolist() if r.n_accepted else [],
            "curve": [_json_float(float(v)) for v in r.curve[keep]] if r.n_accepted else [],
        }
    return out


# ---------------------------------------------------------------------------------------- evaluation
def _learns(policy: Policy) -> bool:
    return bool(policy.learns)


def _as_dist(value: Any, feedback: LoggedFeedback, name: str) -> FloatArray:
    try:
        return at_logged_positions(value, feedback)
    except InputError as exc:
        raise InputError(f"The action distribution given for {name!r} does not fit the log: {exc}") from exc


def _run(notes: list[str], fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn(*args, **kwargs)``, turning the warnings it raises into notes."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(*args, **kwargs)
    for w in caught:
        text = str(w.message)
        if text not in notes:
            notes.append(text)
    return out


def evaluate_policies(
    feedback: LoggedFeedback,
    policies: Mapping[str, Policy],
    *,
    dists: Mapping[str, Any] | None = None,
    estimators: Sequence[str] | None = None,
    reward_model: Any = None,
    rewards: RewardEstimates | None = None,
    n_folds: int = 3,
    n_bootstrap: int = 200,
    alpha: float = 0.05,
    seed: int = 0,
    select: bool = True,
    select_method: str = "slope",
    replay_learning: bool = True,
    replay_batch_size: int = 1,
    n_draws: int = 100_000,
    row_draws: int = 100,
) -> Evaluation:
    """Evaluate several target policies off-policy on one log: the counterfactual A/B test.

    Parameters
    ----------
    feedback : LoggedFeedback
        The log, in time order (the replay reads it in order).
    policies : Mapping[str, Policy]
        Label -> policy. Each is evaluated as it stands (a private frozen copy; the policy itself is not
        changed); one that learns is also replayed on a uniform log.
    dists : Mapping[str, abrec.policies.ActionDistribution or array_like], optional
        Label -> precomputed action distribution, in any form :func:`~abrec.ope.at_logged_positions`
        reads: an :class:`~abrec.policies.ActionDistribution` (e.g. of
        :func:`~abrec.ope.zozotown_bts_action_distribution`, or ``policy.action_distribution``; one
        request's table for every row, or one request per row), a table ``(n_actions, n_positions)`` or
        ``(n_rows, n_actions)``. Overrides the computed one for a label in ``policies``; a label only here
        is evaluated as a static target (no replay).
    estimators : sequence of str, optional
        Registered estimator names; default every estimator that applies (those needing a reward model
        when one was fitted, ``replay`` on uniform logs).
    reward_model : scikit-learn estimator, optional
        For :func:`~abrec.ope.cross_fit_rewards` (default: logistic regression for 0/1 rewards).
    rewards : RewardEstimates, optional
        Cross-fitted predictions to use instead of fitting (``reward_model`` and ``n_folds`` are then unused).
    n_folds : int, default 3
        Cross-fitting folds.
    n_bootstrap : int, default 200
        Bootstrap resamples of each estimator's interval (and of the selection, when at least 10).
    alpha : float, default 0.05
        Intervals at level ``1 - alpha``.
    seed : int, default 0
        Seeds the fold split, the Monte Carlo action distributions, the bootstraps and the replay.
    select : bool, default True
        Choose an estimator per policy (:func:`~abrec.ope.select_estimator`).
    select_method : {"slope", "mse"}, default "slope"
    replay_learning : bool, default True
        Replay learning policies on uniform logs (Li et al. 2011).
    replay_batch_size : int, default 1
        Rows decided before the replayed policy learns (1: exact replay).
    n_draws : int, default 100_000
        Monte Carlo slates for a context-free sampling policy's table (Bernoulli TS, ZOZOTOWN's BTS).
    row_draws : int, default 100
        Monte Carlo slates per row for a contextual sampling policy (Thompson sampling on contexts).

    Returns
    -------
    Evaluation

    Raises
    ------
    abrec.errors.InputError
        No policy to evaluate, or a given distribution that does not fit the log.
    abrec.errors.ParameterError
        Out-of-range settings.

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.policies import UniformRandom, UCB1
    >>> rng = np.random.default_rng(0)
    >>> action = rng.integers(0, 4, 2000)
    >>> reward = (rng.random(2000) < np.array([0.1, 0.1, 0.1, 0.4])[action]).astype(float)
    >>> log = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=0.25)
    >>> best = {"best": np.array([[0.0], [0.0], [0.0], [1.0]])}
    >>> ev = evaluate_policies(log, {"uniform": UniformRandom(), "ucb1": UCB1()}, dists=best, n_bootstrap=50)
    >>> [p.name for p in ev.policies], ev["ucb1"].replay is not None, ev["uniform"].replay is None
    (['uniform', 'ucb1', 'best'], True, True)
    >>> 0.3 < ev["best"].estimate("ipw").value < 0.5, ev["best"].selection.chosen in {"dm", "dr", "ipw", "snipw"}
    (True, True)
    """
    validate_params(
        "evaluate_policies",
        {
            "n_folds": Interval("int", 2),
            "n_bootstrap": Interval("int", 0),
            "alpha": Interval("float", 0.0, 1.0, closed="neither"),
            "seed": Interval("int", 0),
            "replay_batch_size": Interval("int", 1),
            "n_draws": Interval("int", 1),
            "row_draws": Interval("int", 1),
            "select_method": StrOptions(("mse", "slope")),
        },
        {
            "n_folds": n_folds,
            "n_bootstrap": n_bootstrap,
            "alpha": alpha,
            "seed": seed,
            "replay_batch_size": replay_batch_size,
            "n_draws": n_draws,
            "row_draws": row_draws,
            "select_method": select_method,
        },
    )
    if not isinstance(feedback, LoggedFeedback):
        raise InputError(f"feedback must be a LoggedFeedback; got {type(feedback).__name__}.")
    given = dict(dists or {})
    labels = [*policies, *(name for name in given if name not in policies)]
    if not labels:
        raise InputError("evaluate_policies needs at least one policy (policies=) or distribution (dists=).")
    known = registered_estimators()
    for name in estimators or ():
        if name not in known:
            raise UnknownNameError("estimator", name, known)

    log_notes: list[str] = []
    q: FloatArray | None = None
    model, brier = "", math.nan
    if rewards is None:
        try:
            # The default (linear) model on one BLAS thread: its fit is many small products (L-BFGS steps) that
            # otherwise wait on thread wake-ups, with the same numbers (tests/ope/test_speed_identity.py).
            with single_blas() if reward_model is None else contextlib.nullcontext():
                rewards = _run(log_notes, cross_fit_rewards, feedback, reward_model, n_folds=n_folds, seed=seed)
        except AbrecError as exc:
            log_notes.append(f"No reward model (DM and the DR family skipped): {exc}")
    if rewards is not None:
        q, model, brier, n_folds = rewards.values, rewards.model, rewards.heldout_brier, rewards.n_folds

    uniform = is_uniform_log(feedback, feedback.n_actions)  # what replay_learning needs
    names = list(estimators) if estimators is not None else [n for n, c in known.items() if c.applies(feedback, q)]
    results = []
    for label in labels:
        policy = policies.get(label)
        notes: list[str] = []
        if label in given:
            dist, source = _as_dist(given[label], feedback, label), "given"
        else:
            assert policy is not None
            draws = row_draws if policy.contextual else n_draws
            dist = _run(notes, policy_action_dist, policy, feedback, n_draws=draws, seed=seed)
            source = "policy"
        estimates, skipped = [], {}
        for name in names:
            try:
                est = known[name](alpha=alpha, n_bootstrap=n_bootstrap, seed=seed)
                estimates.append(_run(notes, est.estimate, feedback, dist, rewards))
            except AbrecError as exc:
                skipped[name] = str(exc)
        selection = None
        if select and estimates:
            try:
                selection = _run(
                    notes,
                    select_estimator,
                    feedback,
                    dist,
                    rewards,
                    candidates=[r.estimator for r in estimates],
                    method=select_method,
                    n_bootstrap=max(10, n_bootstrap),
                    seed=seed,
                    alpha=alpha,
                )
            except AbrecError as exc:
                notes.append(f"No estimator selected: {exc}")
        replay = None
        learns = policy is not None and _learns(policy)
        if replay_learning and learns and policy is not None:
            if not uniform:
                notes.append(
                    "Not replayed: replay learning needs a uniformly random log (every propensity 1/n_actions)."
                )
            else:
                try:
                    replay = _run(
                        notes, _replay.replay_learning, policy, feedback, batch_size=replay_batch_size, seed=seed
                    )
                except AbrecError as exc:
                    notes.append(f"Not replayed: {exc}")
        results.append(
            PolicyEvaluation(
                name=label,
                estimates=tuple(estimates),
                skipped=skipped,
                selection=selection,
                replay=replay,
                learns=learns,
                dist_source=source,
                notes=tuple(notes),
            )
        )
    r = feedback.reward
    return Evaluation(
        policies=tuple(results),
        logging_value=float(r.mean()),
        logging_se=float(r.std(ddof=1) / math.sqrt(r.size)) if r.size > 1 else math.nan,
        n_rows=feedback.n_rows,
        n_actions=feedback.n_actions,
        n_positions=feedback.n_positions,
        reward_model=model,
        heldout_brier=brier,
        model_error_in_intervals=rewards is not None and rewards.influence is not None,
        n_folds=n_folds,
        n_bootstrap=n_bootstrap,
        alpha=alpha,
        seed=seed,
        notes=tuple(log_notes),
    )
