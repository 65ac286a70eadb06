"""Cross-fitted reward models: no row is predicted by a model that saw it; fast linear path = generic path."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.linear_model import LogisticRegression, Ridge

from abrec.data import load_obd
from abrec.errors import InputError, ParameterError
from abrec.ope.feedback import LoggedFeedback
from abrec.ope.reward_model import _predict_all, cross_fit_rewards


class _Memoriser(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Predicts the training reward of an identical feature row, NaN for unseen rows; records what it saw."""

    seen: list[set[bytes]] = []  # noqa: RUF012 - shared record across clones, reset by the test

    def fit(self, x: Any, y: Any) -> _Memoriser:
        self.table_ = {row.tobytes(): float(v) for row, v in zip(np.asarray(x), np.asarray(y), strict=True)}
        _Memoriser.seen.append(set(self.table_))
        return self

    def predict(self, x: Any) -> Any:
        return np.array([self.table_.get(row.tobytes(), np.nan) for row in np.asarray(x)])


def _feedback(n: int = 600, seed: int = 0) -> LoggedFeedback:
    rng = np.random.default_rng(seed)
    context = rng.normal(size=(n, 3))
    action = rng.integers(0, 4, n)
    position = rng.integers(0, 2, n)
    p = 1 / (1 + np.exp(-(context[:, 0] * (action - 1.5) - 1.0)))
    reward = (rng.random(n) < p).astype(float)
    return LoggedFeedback.from_arrays(
        action=action, reward=reward, propensity=0.25, position=position, context=context, n_positions=2
    )


def test_no_row_is_predicted_by_a_model_fitted_on_it() -> None:
    fb = _feedback()
    # Unique context rows: the memoriser answers NaN for every row it was not trained on.
    _Memoriser.seen = []
    q = cross_fit_rewards(fb, _Memoriser(), n_folds=3, seed=1)
    logged = q.values[np.arange(len(fb)), fb.action]
    assert np.isnan(logged).all()
    assert len(_Memoriser.seen) == 2 * 3  # one model per position and fold
    assert np.bincount(q.fold, minlength=3).min() >= len(fb) // 3 - 2


def test_every_row_is_predicted_once_and_folds_depend_on_the_seed() -> None:
    fb = _feedback()
    a, b, c = (cross_fit_rewards(fb, seed=s) for s in (0, 0, 1))
    assert np.array_equal(a.values, b.values) and np.array_equal(a.fold, b.fold)
    assert not np.array_equal(a.fold, c.fold)
    assert a.values.shape == (len(fb), fb.n_actions) and np.isfinite(a.values).all()
    assert ((a.values > 0) & (a.values < 1)).all()


def test_a_logistic_model_recovers_the_reward_structure() -> None:
    fb = _feedback(n=4000)
    q = cross_fit_rewards(fb, LogisticRegression(C=10.0), action_features="onehot", per_position=False)
    truth = 1 / (1 + np.exp(-(fb.context[:, [0]] * (np.arange(4)[None, :] - 1.5) - 1.0)))
    # The model is additive in context and action (no interaction): it cannot fit the truth exactly,
    # but its held-out Brier score beats predicting the mean.
    assert q.heldout_brier < np.var(fb.reward)
    assert truth.shape == q.values.shape


@pytest.mark.parametrize("model", [LogisticRegression(C=0.5), Ridge(alpha=2.0)])
def test_linear_fast_path_equals_scoring_the_full_matrix(model: Any) -> None:
    obd = LoggedFeedback.from_obd(load_obd(campaign="men"))
    x = np.hstack([obd.context, obd.action_context[obd.action]])
    fitted = model.fit(x, obd.reward)
    classifier = isinstance(model, ClassifierMixin)
    fast = _predict_all(fitted, obd.context[:40], obd.action_context, classifier)
    full = np.hstack([np.repeat(obd.context[:40], obd.n_actions, 0), np.tile(obd.action_context, (40, 1))])
    slow = (fitted.predict_proba(full)[:, 1] if classifier else fitted.predict(full)).reshape(40, -1)
    np.testing.assert_allclose(fast, slow, rtol=1e-12, atol=1e-15)


def test_errors_say_what_to_do() -> None:
    fb = _feedback(n=20)
    with pytest.raises(ParameterError, match="n_folds"):
        cross_fit_rewards(fb, n_folds=1)
    one_click = LoggedFeedback.from_arrays(action=[0, 1, 0, 1, 0, 1], reward=[1, 0, 0, 0, 0, 0], propensity=0.5)
    with pytest.raises(InputError, match="only reward"):
        cross_fit_rewards(one_click, n_folds=3, per_position=False)
    with pytest.raises(InputError, match="at least n_folds"):
        cross_fit_rewards(LoggedFeedback.from_arrays(action=[0, 1], reward=[1, 0], propensity=0.5), n_folds=3)
    with pytest.raises(InputError, match="action_context"):
        cross_fit_rewards(fb, action_features="context")
    with pytest.raises(ParameterError, match="action_features"):
        cross_fit_rewards(fb, action_features="tfidf")
