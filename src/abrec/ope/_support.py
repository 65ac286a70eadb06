"""Overlap diagnostics shared by the estimators (private): the support check and the ESS warning.

Support check: importance weighting is blind to (action, position) pairs the logging policy never
takes. It is exact when the caller passes ``logging_dist`` (``(n_actions, n_positions)``, the
logging policy's probabilities; zeros mark the pairs it never takes). Without it, the logging
support is read from the log only where the log is *uniform* at a position (one propensity ``p``
for all its rows, equal to ``1 / m`` for an integer ``m``): the logger then chose among ``m``
actions, and when the log shows ``m`` distinct actions there, every other action is outside the
support. Where fewer than ``m`` actions were seen, or the logged propensities vary (e.g. a Thompson
sampling logger), the log cannot say which actions have propensity 0 and no error is raised: pass ``logging_dist``.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import numpy.typing as npt

from ..errors import ExtremeWeightsWarning, InputError, SupportError
from .feedback import LoggedFeedback

__all__ = ["check_support", "effective_sample_size", "logging_zeros", "uniform_propensity", "warn_extreme_weights"]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


def uniform_propensity(feedback: LoggedFeedback) -> FloatArray | None:
    """The one logged propensity of each position (NaN where it has no rows), or None if one varies."""
    out = np.full(feedback.n_positions, np.nan)
    for k in np.unique(feedback.position):
        p = feedback.propensity[feedback.position == k]
        if not np.allclose(p, p[0], rtol=1e-9, atol=0.0):
            return None
        out[k] = p[0]
    return out


def _target_mass(feedback: LoggedFeedback, pi: FloatArray) -> tuple[FloatArray, FloatArray]:
    """The target's mean probability of each (action, position) over the rows at that position, and row shares."""
    onehot = np.zeros((feedback.n_rows, feedback.n_positions))
    onehot[np.arange(feedback.n_rows), feedback.position] = 1.0
    counts = onehot.sum(axis=0)
    mass = (onehot.T @ pi).T / np.maximum(counts, 1.0)
    return mass, counts / feedback.n_rows


def logging_zeros(feedback: LoggedFeedback, logging_dist: npt.ArrayLike | None) -> tuple[BoolArray, str]:
    na, npos = feedback.n_actions, feedback.n_positions
    if logging_dist is not None:
        dist = np.asarray(logging_dist, dtype=np.float64)
        if dist.shape != (na, npos):
            raise InputError(
                f"logging_dist must have shape (n_actions, n_positions) = ({na}, {npos}); got {dist.shape}."
            )
        if not (np.isfinite(dist).all() and (dist >= 0).all() and (dist <= 1).all()):
            raise InputError("logging_dist must hold probabilities in [0, 1].")
        return dist == 0.0, "logging_dist gives them probability 0"
    zero = np.zeros((na, npos), dtype=bool)
    uniform = uniform_propensity(feedback)
    if uniform is None:
        return zero, ""
    seen = np.bincount(feedback.action * npos + feedback.position, minlength=na * npos).reshape(na, npos) > 0
    for k in range(npos):
        if np.isnan(uniform[k]):
            continue
        m = round(1.0 / uniform[k])
        if not math.isclose(m * uniform[k], 1.0, rel_tol=1e-9):
            continue  # one propensity, but not 1/m: not a uniform choice among m actions
        if m < na and seen[:, k].sum() >= m:
            zero[:, k] = ~seen[:, k]
    return zero, "the log is uniform at their position and never shows them"


def check_support(feedback: LoggedFeedback, pi: FloatArray, logging_dist: npt.ArrayLike | None, estimator: str) -> None:
    """Raise SupportError if the target ``pi`` (per row, ``(n_rows, n_actions)``) leaves the logging support."""
    zero, why = logging_zeros(feedback, logging_dist)
    if not zero.any():
        return
    mass, share = _target_mass(feedback, pi)
    bad = zero & (mass > 0.0)
    if not bad.any():
        return
    total = float((mass * bad * share[None, :]).sum())
    pairs = np.argwhere(bad)
    order = np.argsort(-mass[bad], kind="stable")[:5]
    shown = ", ".join(
        f"(action {int(pairs[i, 0])}, position {int(pairs[i, 1])}): {mass[pairs[i, 0], pairs[i, 1]]:.3g}" for i in order
    )
    more = f" and {len(pairs) - len(order)} more" if len(pairs) > len(order) else ""
    raise SupportError(
        f"{estimator} cannot estimate this target policy: it puts {total:.3g} of its probability mass on "
        f"{len(pairs)} (action, position) pairs that the logging policy never takes ({why}); target probability "
        f"per pair: {shown}{more}. Importance weights cannot see their rewards. Use a reward-model estimator "
        "(make_estimator('dm') or 'dr'), restrict the target to the logged actions, or log with exploration "
        "(every action a positive propensity)."
    )


def effective_sample_size(weights: FloatArray) -> float:
    """Kish's effective sample size ``(sum w)^2 / sum w^2`` (0 when every weight is 0)."""
    total_sq = float(np.dot(weights, weights))
    return float(weights.sum()) ** 2 / total_sq if total_sq > 0 else 0.0


def warn_extreme_weights(weights: FloatArray, threshold: float, estimator: str) -> float:
    """Warn with ExtremeWeightsWarning when the ESS is below ``threshold`` of the rows; return the ESS."""
    ess = effective_sample_size(weights)
    n = weights.shape[0]
    if ess < threshold * n:
        warnings.warn(
            f"{estimator}: the importance weights' effective sample size is {ess:.1f} of {n} rows "
            f"({ess / n:.2%}, below {threshold:.2%}); the largest weight is {float(weights.max()):.4g}. The estimate "
            "rests on a few rows: prefer a reward-model estimator (dm, dr, switch_dr, dros) or a target closer to "
            "the logging policy.",
            ExtremeWeightsWarning,
            stacklevel=4,
        )
    return ess
