"""Cross-fitted reward models: ``q(x, a, position)`` for every logged row and every action.

The direct method and the doubly robust family need a model of the expected reward of each action
in each logged context. Fitting that model and scoring it on the same rows overfits the very noise
the estimators average (most visibly with rare clicks), so :func:`cross_fit_rewards` splits the rows
into ``n_folds`` folds and predicts each fold with a model fitted on the other folds only
(Chernozhukov et al. 2018; OBP's ``RegressionModel.fit_predict``). With ``per_position=True`` (the
default, as OBP does for the Open Bandit Dataset) each slate position gets its own model.

Features of a row and a candidate action are ``[context, action features]``: the action's
``action_context`` row when the feedback carries one, else a one-hot code of the action. Any
scikit-learn estimator works: classifiers are read through ``predict_proba`` (the probability of the
positive class, for 0/1 rewards), regressors through ``predict``. Linear models (``coef_`` and
``intercept_``, e.g. ``LogisticRegression``, ``Ridge``) are scored for all actions at once through
their coefficients instead of materialising the ``(rows x actions, features)`` matrix.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .._params import Interval, validate_params
from .._random import Seed, as_generator
from ..errors import InputError, ParameterError
from .feedback import LoggedFeedback
from .model_influence import FoldInfluence, ModelInfluence, fit_influence, linear_model_penalty

__all__ = ["RewardEstimates", "cross_fit_rewards", "default_reward_model"]

FloatArray = npt.NDArray[np.float64]

_CHUNK_CELLS = 4_000_000
"""Cells of the (rows x actions, features) matrix scored at once by the generic path."""


@dataclass(frozen=True, eq=False)
class RewardEstimates:
    """Cross-fitted reward predictions.

    Attributes
    ----------
    values : (n_rows, n_actions) float array
        ``values[i, a]`` = the predicted reward of action ``a`` at row ``i``'s position and context,
        from a model that never saw row ``i``.
    fold : (n_rows,) int array
        The fold each row was predicted in.
    model : str
        The scikit-learn estimator, as its ``repr``.
    n_folds : int
    seed : int or None
        The seed of the fold split (None when a Generator was given).
    heldout_brier : float
        Mean squared error of the held-out prediction of the logged action (the Brier score for
        clicks): a diagnostic of the model's quality.
    influence : ModelInfluence or None
        Each row's first-order effect on the models that used it (linear models only, see
        :mod:`abrec.ope.model_influence`). Estimators given this object (rather than ``values``)
        include the model's own estimation error in their standard errors and intervals.
    """

    values: FloatArray
    fold: npt.NDArray[np.int64]
    model: str
    n_folds: int
    seed: int | None
    heldout_brier: float
    influence: ModelInfluence | None = None


def default_reward_model(binary: bool) -> Any:
    """The reward model used when none is given: L2 logistic regression for 0/1 rewards, else ridge.

    ``C=1.0`` / ``alpha=1.0`` are scikit-learn's defaults (not tuned on any benchmark).
    """
    from sklearn.linear_model import LogisticRegression, Ridge

    if binary:
        return LogisticRegression(C=1.0, max_iter=1000)
    return Ridge(alpha=1.0)


def _action_features(feedback: LoggedFeedback, action_features: str) -> FloatArray:
    if action_features == "auto":
        action_features = "context" if feedback.action_context is not None else "onehot"
    if action_features == "onehot":
        return np.eye(feedback.n_actions)
    if action_features == "context":
        if feedback.action_context is None:
            raise InputError("action_features='context' needs feedback.action_context; pass it or use 'onehot'.")
        return feedback.action_context
    if action_features == "both":
        if feedback.action_context is None:
            return np.eye(feedback.n_actions)
        return np.hstack([feedback.action_context, np.eye(feedback.n_actions)])
    raise ParameterError(
        "The 'action_features' parameter of cross_fit_rewards must be a str among "
        f"{{'auto', 'context', 'onehot', 'both'}}. Got {action_features!r} instead."
    )


def _linear_parts(model: Any) -> tuple[FloatArray, float] | None:
    coef = getattr(model, "coef_", None)
    intercept = getattr(model, "intercept_", None)
    if coef is None or intercept is None:
        return None
    from sklearn.linear_model import LinearRegression, LogisticRegression, Ridge

    if not isinstance(model, LogisticRegression | Ridge | LinearRegression):
        return None
    c = np.asarray(coef, dtype=np.float64)
    if c.ndim == 2:
        if c.shape[0] != 1:
            return None
        c = c[0]
    b = float(np.ravel(intercept)[0]) if np.ndim(intercept) else float(intercept)
    return c, b


def _predict_all(model: Any, context: FloatArray, actions: FloatArray, classifier: bool) -> FloatArray:
    """Predicted reward of every action (rows x actions) for the given contexts."""
    n, d = context.shape
    na = actions.shape[0]
    parts = _linear_parts(model)
    if parts is not None:
        coef, bias = parts
        logit = (context @ coef[:d])[:, None] + (actions @ coef[d:])[None, :] + bias
        if classifier:
            out: FloatArray = 1.0 / (1.0 + np.exp(-logit))
            return out
        return logit
    width = d + actions.shape[1]
    step = max(1, _CHUNK_CELLS // max(1, na * width))
    out = np.empty((n, na))
    for start in range(0, n, step):
        ctx = context[start : start + step]
        rows = ctx.shape[0]
        x = np.hstack([np.repeat(ctx, na, axis=0), np.tile(actions, (rows, 1))])
        pred = model.predict_proba(x)[:, 1] if classifier else model.predict(x)
        out[start : start + rows] = np.asarray(pred, dtype=np.float64).reshape(rows, na)
    return out


def cross_fit_rewards(
    feedback: LoggedFeedback,
    model: Any = None,
    *,
    n_folds: int = 3,
    seed: Seed = 0,
    per_position: bool = True,
    action_features: str = "auto",
    influence: bool = True,
) -> RewardEstimates:
    """Predict the reward of every action at every logged row with ``n_folds``-fold cross-fitting.

    Parameters
    ----------
    feedback : LoggedFeedback
        The log. ``feedback.context`` (may be None: no context) and ``feedback.action_context``
        are the features.
    model : scikit-learn estimator, optional
        Cloned for every fold (and position). Default :func:`default_reward_model`: logistic
        regression when every reward is 0 or 1, else ridge regression.
    n_folds : int, default 3
        At least 2: no row is predicted by a model fitted on it.
    seed : int, numpy.random.Generator or None, default 0
        Shuffles the fold split.
    per_position : bool, default True
        One model per slate position (rows of other positions are not used), as OBP does.
    action_features : {"auto", "context", "onehot", "both"}, default "auto"
        How an action is described: its ``action_context`` row, a one-hot code, or both.
        ``"auto"`` takes the action context when there is one, else one-hot.
    influence : bool, default True
        Also compute each row's influence on the fitted models (:mod:`abrec.ope.model_influence`),
        for linear models (logistic regression with an L2 penalty or none, ridge, least squares):
        the estimators then count the model's estimation error in their intervals.

    Returns
    -------
    RewardEstimates
        ``values`` of shape ``(n_rows, n_actions)``, to pass as ``estimated_rewards``.

    Raises
    ------
    abrec.errors.InputError
        A fold (of some position) has fewer than two rows or a single reward value for a
        classifier; the message says which and suggests fewer folds or ``per_position=False``.

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> action = rng.integers(0, 2, 400)
    >>> reward = (rng.random(400) < np.where(action == 1, 0.6, 0.2)).astype(float)
    >>> fb = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=0.5)
    >>> q = cross_fit_rewards(fb)
    >>> q.values.shape, bool((q.values[:, 1] > q.values[:, 0]).all())
    ((400, 2), True)
    """
    from sklearn.base import clone, is_classifier

    validate_params("cross_fit_rewards", {"n_folds": Interval("int", 2)}, {"n_folds": n_folds})
    binary = bool(np.isin(feedback.reward, (0.0, 1.0)).all())
    base = default_reward_model(binary) if model is None else model
    classifier = bool(is_classifier(base))
    if classifier and not hasattr(base, "predict_proba"):
        raise InputError(f"The reward model {base!r} is a classifier without predict_proba; use a probabilistic one.")
    actions = _action_features(feedback, action_features)
    n = feedback.n_rows
    context = feedback.context if feedback.context is not None else np.zeros((n, 0))
    rng = as_generator(seed)
    groups = [np.flatnonzero(feedback.position == p) for p in range(feedback.n_positions)] if per_position else []
    groups = [g for g in groups if g.size] or [np.arange(n)]
    values = np.empty((n, feedback.n_actions))
    fold = np.empty(n, dtype=np.int64)
    penalty = linear_model_penalty(base) if influence else None
    parts: list[FoldInfluence] = []
    for rows in groups:
        where = "" if len(groups) == 1 else f" of position {int(feedback.position[rows[0]])}"
        if rows.size < n_folds:
            raise InputError(
                f"cross_fit_rewards needs at least n_folds={n_folds} rows{where}; got {rows.size}. "
                "Use fewer folds or per_position=False."
            )
        assign = rng.permutation(rows.size) % n_folds
        fold[rows] = assign
        for k in range(n_folds):
            train, test = rows[assign != k], rows[assign == k]
            x = np.hstack([context[train], actions[feedback.action[train]]])
            y = feedback.reward[train]
            if classifier and np.unique(y).size < 2:
                raise InputError(
                    f"Fold {k}{where} has only reward {y[0]!r} to learn from; a classifier needs both 0 and 1. "
                    "Use fewer folds, per_position=False, or a regressor."
                )
            fitted = clone(base).fit(x, y)
            values[test] = _predict_all(fitted, context[test], actions, classifier)
            if penalty is not None:
                parts.append(fit_influence(fitted, x, y, train, test, penalty, logit=classifier))
    logged = values[np.arange(n), feedback.action]
    model_influence = None
    if penalty is not None:
        model_influence = ModelInfluence.build(context, actions, values, classifier, tuple(parts))
    return RewardEstimates(
        values=values,
        fold=fold,
        model=repr(base),
        n_folds=n_folds,
        seed=seed if isinstance(seed, int) else None,
        heldout_brier=float(np.mean((logged - feedback.reward) ** 2)),
        influence=model_influence,
    )
