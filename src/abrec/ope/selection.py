"""Choose an off-policy estimator for a given log and target policy, and say why.

No estimator wins everywhere: the direct method has little variance but the reward model's bias;
IPS and DR are unbiased (given support) but their variance grows with the importance weights. Two
data-driven choices are offered, both from one paired bootstrap of the log (every candidate is
computed on the same resamples; given the :class:`~abrec.ope.RewardEstimates` of a linear reward
model, the model is refitted on each resample to first order, see
:mod:`abrec.ope.model_influence`, so the direct method's variance includes the model's own
estimation error instead of only the noise of averaging fixed predictions):

``"slope"`` (default)
    SLOPE (Su, Srinath & Krishnamurthy 2020; Lepski's method): walk the candidates down the
    bias-variance ladder, from the unbiased ones (IPW, SNIPW, DR, SNDR, replay; among them from the
    largest standard error to the smallest) through the tuned ones (Switch-DR, DRos) to the
    model-only DM (:attr:`Estimator.bias_rank`), and keep walking while each one's interval
    ``V +- 2 SE`` still intersects the intervals of all before it; choose the last one kept. The
    ladder is the order SLOPE's guarantee assumes (bias falls and variance grows along it); it is
    fixed by the estimators' construction and not by their estimated standard errors, because those
    are noisy and tied to the estimate itself when rewards are rare (a resample that happens to
    miss the few high-weight clicks has both a low IPW estimate and a small IPW standard error).
``"mse"``
    Estimated mean squared error ``bias^2 + variance`` of each candidate. The variance is its
    bootstrap variance; the bias is measured against an unbiased reference (DR when a reward model
    is given, else IPS): ``bias^2 = max(0, (V_c - V_ref)^2 - Var(V_c - V_ref))``, the squared
    difference minus what noise alone explains (Thomas & Brunskill 2016, "MAGIC"; the same
    de-biased bias estimate as OBP's ``_estimate_mse_score``). The reference itself counts as
    unbiased. The bias estimate inherits the reference's noise: with heavy-tailed weights it moves
    to DR whenever DR lands far from DM, which is mostly when DR is wrong (benchmark W2).

Either way the result names the winner, its estimate (with the candidate's own CI) and a sentence
giving the reason, plus the table of every candidate's numbers.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from .._params import StrOptions, validate_params
from .._random import Seed
from ..errors import AbrecError, InputError, ParameterError
from .base import Estimator, Rewards, make_estimator, registered_estimators, resample_counts
from .feedback import LoggedFeedback
from .result import EstimateResult
from .reward_model import RewardEstimates

__all__ = ["EstimatorSelection", "select_estimator"]

FloatArray = npt.NDArray[np.float64]
METHODS = ("slope", "mse")


@dataclass(frozen=True)
class EstimatorSelection:
    """Which estimator was chosen, its result, why, and every candidate's numbers.

    Attributes
    ----------
    chosen : str
        The chosen estimator's name.
    result : EstimateResult
        The chosen estimator's full result on the whole log.
    method : str
        ``"mse"`` or ``"slope"``.
    reason : str
        One sentence with the numbers behind the choice.
    candidates : tuple of dict
        Per candidate: ``name``, ``value``, ``standard_error`` (bootstrap), ``bias`` (estimated,
        ``mse`` only), ``mse`` (estimated), ``kept`` (``slope`` only).
    n_bootstrap, seed
        The paired bootstrap behind the variances.
    """

    chosen: str
    result: EstimateResult
    method: str
    reason: str
    candidates: tuple[dict[str, Any], ...]
    n_bootstrap: int
    seed: int | None


def _default_candidates(feedback: LoggedFeedback, estimated_rewards: Rewards | None) -> list[str]:
    """Every registered estimator that applies (asked through ``Estimator.applies``: a reward model, a uniform log)."""
    return [name for name, cls in sorted(registered_estimators().items()) if cls.applies(feedback, estimated_rewards)]


def select_estimator(
    feedback: LoggedFeedback,
    action_dist: Any,
    estimated_rewards: Rewards | None = None,
    *,
    candidates: Sequence[str] | None = None,
    method: str = "slope",
    n_bootstrap: int = 100,
    seed: Seed = 0,
    alpha: float = 0.05,
) -> EstimatorSelection:
    """Choose among off-policy estimators for this log and target policy; see the module docstring.

    Parameters
    ----------
    feedback : LoggedFeedback
    action_dist : abrec.policies.ActionDistribution or array_like
        The target policy: the record of ``policy.action_distribution`` or
        :func:`~abrec.ope.bts_action_distribution`, ``(n_actions, n_positions)`` or ``(n_rows, n_actions)``
        (see :func:`~abrec.ope.at_logged_positions`).
    estimated_rewards : RewardEstimates or array_like of shape (n_rows, n_actions), optional
        Cross-fitted reward predictions (:func:`~abrec.ope.cross_fit_rewards`); without them the
        estimators that need a reward model are not candidates. Pass the ``RewardEstimates``
        object itself so that the variances include the reward model's fitting error (a bare
        array holds the model fixed, which understates the direct method's variance).
    candidates : sequence of str, optional
        Registered estimator names; default every applicable one.
    method : {"slope", "mse"}, default "slope"
    n_bootstrap : int, default 100
        Paired bootstrap resamples for the variances (at least 10).
    seed : int, numpy.random.Generator or None, default 0
    alpha : float, default 0.05
        Level of the chosen estimator's confidence interval.

    Returns
    -------
    EstimatorSelection

    Examples
    --------
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> action = rng.integers(0, 4, 3000)
    >>> reward = (rng.random(3000) < 0.1 + 0.05 * action).astype(float)
    >>> fb = LoggedFeedback.from_arrays(action=action, reward=reward, propensity=0.25)
    >>> target = np.array([[0.1], [0.1], [0.1], [0.7]])
    >>> choice = select_estimator(fb, target, candidates=["ipw", "snipw"], n_bootstrap=50)
    >>> choice.chosen in {"ipw", "snipw"}, len(choice.candidates)
    (True, 2)
    """
    validate_params("select_estimator", {"method": StrOptions(METHODS)}, {"method": method})
    if not isinstance(n_bootstrap, int) or n_bootstrap < 10:
        raise ParameterError(
            f"The 'n_bootstrap' parameter of select_estimator must be an int >= 10. Got {n_bootstrap!r} instead."
        )
    q = estimated_rewards
    if q is not None and not isinstance(q, RewardEstimates):
        q = np.asarray(q, dtype=np.float64)
    names = list(candidates) if candidates is not None else _default_candidates(feedback, q)
    if not names:
        raise InputError("select_estimator needs at least one candidate estimator.")
    estimators = {name: make_estimator(name, n_bootstrap=0, alpha=alpha) for name in names}
    for name, est in estimators.items():
        if est.needs_reward_model and q is None:
            raise InputError(f"The candidate {name!r} needs estimated_rewards (see abrec.ope.cross_fit_rewards).")
    # Every estimator is a function of per-row terms (see abrec.ope.base): build them once on the whole log;
    # a resample's estimate is then the estimator's own resample formula applied to resample counts.
    terms: dict[str, FloatArray] = {}
    skipped: list[str] = []
    for name, est in estimators.items():
        try:
            rows = est.rows(feedback, action_dist, q)
            terms[name] = est._with_model_error(rows, est._terms(rows), q)
        except AbrecError:
            if candidates is not None:
                raise
            skipped.append(name)
    usable = list(terms)
    if not usable:
        raise InputError(f"None of the candidates {names} applies to this log and target.")
    full = {name: estimators[name]._point(terms[name]) for name in usable}
    boot = _paired_bootstrap([estimators[name] for name in usable], [terms[name] for name in usable], n_bootstrap, seed)
    finite = np.isfinite(boot)
    stable = [j for j in range(len(usable)) if finite[:, j].sum() >= 2 and np.isfinite(full[usable[j]])]
    if not stable:
        raise InputError(f"No candidate among {usable} has a finite estimate on this log and its resamples.")
    skipped += [usable[j] for j in range(len(usable)) if j not in stable]
    usable = [usable[j] for j in stable]
    boot = boot[:, stable]
    se = np.array([np.std(col[np.isfinite(col)], ddof=1) for col in boot.T])
    values = np.array([full[name] for name in usable])
    if method == "mse":
        chosen, table, reason = _by_mse(usable, values, boot, se, q is not None)
    else:
        ranks = [estimators[name].bias_rank for name in usable]
        chosen, table, reason = _by_slope(usable, values, se, ranks)
    if skipped:
        reason += f" Not candidates here: {', '.join(skipped)} (not applicable, or not finite on the resamples)."
    result = make_estimator(chosen, alpha=alpha, seed=seed if isinstance(seed, int) else 0).estimate(
        feedback, action_dist, q
    )
    return EstimatorSelection(
        chosen=chosen,
        result=result,
        method=method,
        reason=reason,
        candidates=tuple(table),
        n_bootstrap=n_bootstrap,
        seed=seed if isinstance(seed, int) else None,
    )


def _paired_bootstrap(estimators: list[Estimator], terms: list[FloatArray], n_bootstrap: int, seed: Seed) -> FloatArray:
    """``(n_bootstrap, n_candidates)`` estimates, every candidate on the same resamples of the rows."""
    out = np.empty((n_bootstrap, len(estimators)))
    start = 0
    for counts in resample_counts(seed, terms[0].shape[0], n_bootstrap):
        b = counts.shape[0]
        with np.errstate(divide="ignore", invalid="ignore"):
            for j, (est, t) in enumerate(zip(estimators, terms, strict=True)):
                out[start : start + b, j] = est._resample(t, counts)
        start += b
    return out


def _by_mse(
    names: list[str], values: FloatArray, boot: FloatArray, se: FloatArray, has_rewards: bool
) -> tuple[str, list[dict[str, Any]], str]:
    preferred = ("dr", "ipw") if has_rewards else ("ipw", "dr")
    reference = next((r for r in preferred if r in names), None)
    table = []
    if reference is None:
        bias2 = np.zeros(len(names))
        ref_note = "no unbiased reference (dr or ipw) among the candidates: bias taken as 0, variance alone decides"
    else:
        r = names.index(reference)
        diff = values - values[r]
        paired = boot - boot[:, [r]]
        var_diff = np.array([np.var(c[np.isfinite(c)], ddof=1) if np.isfinite(c).sum() > 1 else 0.0 for c in paired.T])
        bias2 = np.maximum(0.0, diff**2 - var_diff)
        ref_note = f"bias measured against the unbiased {reference} ({values[r]:.6g})"
    mse = bias2 + se**2
    best = int(np.argmin(mse))
    for j, name in enumerate(names):
        table.append(
            {
                "name": name,
                "value": float(values[j]),
                "standard_error": float(se[j]),
                "bias": float(np.sqrt(bias2[j])),
                "mse": float(mse[j]),
            }
        )
    runner = sorted(range(len(names)), key=lambda j: mse[j])
    second = f"; next {names[runner[1]]} (MSE {mse[runner[1]]:.3g})" if len(names) > 1 else ""
    reason = (
        f"{names[best]}: smallest estimated MSE {mse[best]:.3g} = bias^2 {bias2[best]:.3g} + variance "
        f"{se[best] ** 2:.3g} among {len(names)} candidates{second}; {ref_note}."
    )
    return names[best], table, reason


def _by_slope(
    names: list[str], values: FloatArray, se: FloatArray, ranks: list[int]
) -> tuple[str, list[dict[str, Any]], str]:
    order = sorted(range(len(names)), key=lambda j: (ranks[j], -se[j]))
    low, high = -np.inf, np.inf
    kept: list[int] = []
    stop_note = "every candidate's interval overlaps those of all candidates before it"
    for j in order:
        lo, hi = values[j] - 2 * se[j], values[j] + 2 * se[j]
        if lo > high or hi < low:
            stop_note = f"{names[j]}'s interval [{lo:.4g}, {hi:.4g}] leaves the common range [{low:.4g}, {high:.4g}]"
            break
        low, high = max(low, lo), min(high, hi)
        kept.append(int(j))
    chosen = kept[-1]
    table = [
        {"name": name, "value": float(values[j]), "standard_error": float(se[j]), "kept": j in kept}
        for j, name in enumerate(names)
    ]
    ladder = " > ".join(names[j] for j in order)
    reason = (
        f"{names[chosen]} (SE {se[chosen]:.3g}): the last candidate down the bias-variance ladder ({ladder}) "
        f"whose +-2 SE interval still intersects those of all candidates before it (SLOPE); {stop_note}."
    )
    return names[chosen], table, reason
