"""Overlap diagnostics shared by the estimators and the replays (private): uniform logs, support, ESS.

**Uniform log.** One meaning everywhere (:func:`is_uniform_log`, and :func:`uniform_candidates` for bare
propensities): at each position, the logging policy chose uniformly among ``m`` candidates, so every row
logged there carries the one propensity ``1 / m`` (``m`` a whole number; relative tolerance 1e-6). A
uniformly random slate of distinct items is uniform in this sense at every position (the marginal
probability of each candidate at each position is ``1 / m``). This is what replay needs: the logged item
at a position is then independent of what the replayed policy puts there.

Support check: importance weighting is blind to (action, position) pairs the logging policy never
takes. It is exact when the caller passes ``logging_dist`` (``(n_actions, n_positions)``, the
logging policy's probabilities; zeros mark the pairs it never takes). Without it, the logging
support is read from the log only where the log is uniform: at a position where the logger chose among
``m`` actions and the log shows ``m`` distinct actions, every other action is outside the support.
Where fewer than ``m`` actions were seen, or the log is not uniform (e.g. a Thompson sampling logger),
the log cannot say which actions have propensity 0 and no error is raised: pass ``logging_dist``.
"""

from __future__ import annotations

import warnings

import numpy as np
import numpy.typing as npt

from ..errors import ExtremeWeightsWarning, InputError, SupportError
from .feedback import LoggedFeedback

__all__ = [
    "check_support",
    "effective_sample_size",
    "is_uniform_log",
    "logging_zeros",
    "uniform_candidates",
    "warn_extreme_weights",
]

FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]


UNIFORM_RTOL = 1e-6
"""Relative tolerance of ``propensity == 1 / m`` in the uniform-log test (propensities stored as float32 pass)."""


def uniform_candidates(propensity: npt.ArrayLike, n_candidates: int | None = None) -> int | None:
    """``m`` when every propensity is ``1 / m`` for one whole number ``m``: a uniform choice among ``m`` candidates.

    Parameters
    ----------
    propensity : array_like
        Logged propensities of rows logged in one uniform choice (e.g. one position of a log).
    n_candidates : int, optional
        The number of candidates the choice was among, when the caller knows it: ``m`` must equal it.

    Returns
    -------
    int or None
        ``m``; None when the propensities are not all ``1 / m`` (relative tolerance :data:`UNIFORM_RTOL`),
        ``m`` differs from ``n_candidates``, or there are none.

    Examples
    --------
    >>> uniform_candidates([0.25, 0.25]), uniform_candidates([0.25, 0.5]), uniform_candidates([0.3])
    (4, None, None)
    >>> uniform_candidates([0.25, 0.25], n_candidates=5) is None
    True
    """
    p = np.asarray(propensity, dtype=np.float64).ravel()
    if p.size == 0 or not (p > 0).all():
        return None
    m = round(1.0 / float(p[0])) if n_candidates is None else int(n_candidates)
    if m < 1 or not bool((np.abs(p * m - 1.0) <= UNIFORM_RTOL).all()):
        return None
    return m


def _candidates_per_position(feedback: LoggedFeedback, n_candidates: int | None) -> list[int | None]:
    """:func:`uniform_candidates` at each position (0 for a position without rows)."""
    out: list[int | None] = []
    for k in range(feedback.n_positions):
        p = feedback.propensity[feedback.position == k]
        out.append(0 if p.size == 0 else uniform_candidates(p, n_candidates))
    return out


def is_uniform_log(feedback: LoggedFeedback, n_candidates: int | None = None) -> bool:
    """Whether the log is uniform: at every position, one propensity ``1 / m`` for a whole number ``m``.

    That is, at each position the logging policy chose uniformly among ``m`` candidates (``m`` may differ
    between positions; positions without rows are ignored). With ``n_candidates``, ``m`` must be it at
    every position: ``is_uniform_log(feedback, feedback.n_actions)`` says the logger chose uniformly among
    *all* the log's actions, which a replayed policy deciding over all of them needs
    (:func:`~abrec.ope.replay_learning`). Propensities match ``1 / m`` to a relative :data:`UNIFORM_RTOL`.

    Examples
    --------
    >>> from abrec.ope import LoggedFeedback
    >>> three_of_five = LoggedFeedback.from_arrays(action=[0, 1, 2], reward=[1, 0, 0], propensity=1 / 3, n_actions=5)
    >>> is_uniform_log(three_of_five), is_uniform_log(three_of_five, n_candidates=5)
    (True, False)
    >>> is_uniform_log(LoggedFeedback.from_arrays(action=[0, 1], reward=[1, 0], propensity=[0.5, 0.4]))
    False
    """
    return all(m is not None for m in _candidates_per_position(feedback, n_candidates))


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
    sizes = _candidates_per_position(feedback, None)
    if any(m is None for m in sizes):  # not a uniform log (is_uniform_log): the log cannot tell
        return zero, ""
    seen = np.bincount(feedback.action * npos + feedback.position, minlength=na * npos).reshape(na, npos) > 0
    for k, m in enumerate(sizes):
        assert m is not None
        if 0 < m < na and seen[:, k].sum() >= m:
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
