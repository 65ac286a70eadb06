"""Off-policy evaluation: estimate a target policy's value from another policy's logs.

:mod:`abrec.ope.bts` gives the action distribution of a Bernoulli Thompson sampling slate policy (the
Open Bandit Dataset's ``bts`` policy) as the record every policy answers with,
:class:`abrec.policies.ActionDistribution`. :class:`LoggedFeedback` holds logged rows; every estimator
(:class:`Estimator`: ``dm``, ``ipw`` (:class:`IPW`), ``snipw`` (:class:`SNIPW`), ``dr``, ``sndr``,
``switch_dr``, ``dros``, ``replay`` (:class:`Replay`)) answers ``estimate(feedback, action_dist,
estimated_rewards=None)`` with an :class:`EstimateResult` (value, standard error, bootstrap interval,
effective sample size). :mod:`abrec.ope.replay` also replays policies that learn while replayed
(:func:`replay_learning` on a :class:`LoggedFeedback`, :func:`replay_slates` on logged slates with
per-request candidates), each answering a :class:`ReplayResult`.

Sessions (:mod:`abrec.ope.sequential`): the value of a session policy (an agent) per session, from a log with
``session_id`` and ``step``: :class:`PDIS`, :class:`WPDIS`, :class:`TrajectoryDoublyRobust` and
:class:`WeightedTrajectoryDoublyRobust` (:class:`SessionEstimator`: ``estimate(log, target, q_model=None)``),
the target asked at each logged request by :func:`session_target`, Q-hat from :class:`FittedQEvaluation`.

Support: importance-weighting estimators (ipw, snipw, replay) raise :class:`~abrec.errors.SupportError`
when the target puts mass where the logging policy has none. The check is exact with
``logging_dist=`` (the logging policy's ``(n_actions, n_positions)`` table); without it, it reads the
support from the log only where the log is uniform: at each position one propensity ``1 / m``, a uniform
choice among ``m`` candidates (the one meaning of a uniform log in :mod:`abrec.ope`; replay needs it).
"""

from __future__ import annotations

from .._interval import ConfidenceInterval
from .base import Estimator, Rows, estimate_all, make_estimator, register_estimator, registered_estimators
from .bts import bts_action_distribution, zozotown_bts_action_distribution
from .direct import DirectMethod
from .doubly_robust import DoublyRobust, SelfNormalizedDoublyRobust
from .evaluation import Evaluation, EvaluationRow, PolicyEvaluation, evaluate_policies
from .feedback import LoggedFeedback, at_logged_positions
from .importance import IPW, SNIPW
from .model_influence import ModelInfluence
from .replay import Replay, ReplayResult, replay_learning, replay_slates
from .result import EstimateResult
from .reward_model import RewardEstimates, cross_fit_rewards, default_reward_model
from .selection import EstimatorSelection, select_estimator
from .sequential import (
    PDIS,
    WPDIS,
    SessionEstimator,
    TrajectoryDoublyRobust,
    WeightedTrajectoryDoublyRobust,
    estimate_sessions,
    session_estimators,
    session_returns,
)
from .sequential_models import (
    FittedQEvaluation,
    QEstimates,
    SessionQModel,
    SessionRequests,
    SessionTarget,
    session_target,
)
from .shrinkage import DoublyRobustWithShrinkage
from .switch import SwitchDoublyRobust
from .target import policy_action_dist
from .zozotown import zozotown_bts_policy

__all__ = [
    "ConfidenceInterval",
    "DirectMethod",
    "DoublyRobust",
    "DoublyRobustWithShrinkage",
    "EstimateResult",
    "Estimator",
    "EstimatorSelection",
    "Evaluation",
    "EvaluationRow",
    "FittedQEvaluation",
    "IPW",
    "LoggedFeedback",
    "ModelInfluence",
    "PDIS",
    "PolicyEvaluation",
    "QEstimates",
    "Replay",
    "ReplayResult",
    "RewardEstimates",
    "Rows",
    "SNIPW",
    "SelfNormalizedDoublyRobust",
    "SessionEstimator",
    "SessionQModel",
    "SessionRequests",
    "SessionTarget",
    "SwitchDoublyRobust",
    "TrajectoryDoublyRobust",
    "WPDIS",
    "WeightedTrajectoryDoublyRobust",
    "at_logged_positions",
    "bts_action_distribution",
    "cross_fit_rewards",
    "default_reward_model",
    "estimate_all",
    "estimate_sessions",
    "evaluate_policies",
    "make_estimator",
    "policy_action_dist",
    "register_estimator",
    "registered_estimators",
    "replay_learning",
    "replay_slates",
    "select_estimator",
    "session_estimators",
    "session_returns",
    "session_target",
    "zozotown_bts_action_distribution",
    "zozotown_bts_policy",
]
