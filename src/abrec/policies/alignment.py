"""The prior-alignment check: an anytime-valid test of "the item priors describe the observed clicks".

Each item ``i`` has a prior ``Beta(a_i, b_i)`` on its click rate (e.g. from a language model) and the
uninformative alternative ``Beta(a0, b0)``. After ``s_i`` clicks and ``f_i`` non-clicks the evidence
against the prior is the Bayes factor of the two models' prior-predictive likelihoods::

    log BF = sum_i [ lnB(a0 + s_i, b0 + f_i) - lnB(a0, b0) ] - [ lnB(a_i + s_i, b_i + f_i) - lnB(a_i, b_i) ]

(``lnB`` the log Beta function). For binary rewards it equals the product, over every observation,
of the two models' one-step predictive probabilities, whatever rule chose which item to show (the
choice probabilities cancel). If click rates are drawn from the priors, that product is a nonnegative
martingale of mean 1, so by Ville's inequality the chance that it *ever* reaches ``1 / alpha`` is at
most ``alpha``: checking after every update, as often as one likes, keeps the false-alarm rate at or
below ``alpha``. The check fires when ``log BF >= log(1 / alpha)``; it then stays fired.

:func:`mixture_log_evidence` averages the Bayes factors of several alternatives fixed in advance (an
average of such martingales is one too, so the guarantee holds for the mixture). The policy uses two:
the uninformative prior, and the *pooled* prior (every item gets the average of the given prior means,
at the given strength: "the priors know the base rate but nothing about the items"), which has the
power where clicks are rare and the uniform prior predicts them badly.

Items whose prior is the alternative add nothing. Fractional rewards count as fractional clicks (the
formula still ranks the models, but the guarantee is for 0/1 rewards).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt
from scipy.special import betaln

__all__ = [
    "alignment_log_evidence",
    "alignment_threshold",
    "guard_log_evidence",
    "mixture_log_evidence",
    "pooled_prior",
]

FloatArray = npt.NDArray[np.float64]


def alignment_threshold(false_alarm: float) -> float:
    """``log(1 / false_alarm)``: the evidence at which the check fires.

    Examples
    --------
    >>> round(alignment_threshold(0.05), 3)
    2.996
    """
    if not 0.0 < false_alarm < 1.0:
        raise ValueError(f"false_alarm must be in (0, 1). Got {false_alarm!r}.")
    return math.log(1.0 / false_alarm)


def alignment_log_evidence(
    successes: npt.ArrayLike,
    failures: npt.ArrayLike,
    prior_alpha: npt.ArrayLike,
    prior_beta: npt.ArrayLike,
    alt_alpha: npt.ArrayLike = 1.0,
    alt_beta: npt.ArrayLike = 1.0,
) -> float:
    """The log Bayes factor of the alternative priors over the item priors (see the module docstring).

    ``alt_alpha``, ``alt_beta``: the alternative, one pair for every item or one per item.

    Positive: the clicks favour the uninformative prior (the item priors are misaligned).

    Examples
    --------
    >>> round(alignment_log_evidence([0, 9], [10, 1], [9.0, 1.0], [1.0, 9.0]), 2)  # inverted priors
    15.87
    >>> round(alignment_log_evidence([9, 0], [1, 10], [9.0, 1.0], [1.0, 9.0]), 2)  # aligned priors
    -2.71
    """
    s = np.asarray(successes, dtype=np.float64)
    f = np.asarray(failures, dtype=np.float64)
    a = np.asarray(prior_alpha, dtype=np.float64)
    b = np.asarray(prior_beta, dtype=np.float64)
    seen = (s + f) > 0
    if not seen.any():
        return 0.0
    a0 = np.broadcast_to(np.asarray(alt_alpha, dtype=np.float64), seen.shape)[seen]
    b0 = np.broadcast_to(np.asarray(alt_beta, dtype=np.float64), seen.shape)[seen]
    s, f, a, b = s[seen], f[seen], np.broadcast_to(a, seen.shape)[seen], np.broadcast_to(b, seen.shape)[seen]
    alt = betaln(a0 + s, b0 + f) - betaln(a0, b0)
    null = betaln(a + s, b + f) - betaln(a, b)
    return float(np.sum(alt - null))


def mixture_log_evidence(log_factors: list[float]) -> float:
    """``log(mean(exp(log_factors)))``: the evidence of an equal-weight mixture of alternatives.

    Examples
    --------
    >>> round(mixture_log_evidence([0.0, math.log(3.0)]), 4) == round(math.log(2.0), 4)
    True
    """
    x = np.asarray(log_factors, dtype=np.float64)
    top = float(x.max())
    return top + math.log(float(np.exp(x - top).mean()))


def pooled_prior(prior_alpha: npt.ArrayLike, prior_beta: npt.ArrayLike) -> tuple[float, float]:
    """The pooled alternative of priors ``Beta(a_i, b_i)``: their average mean at their average strength.

    Examples
    --------
    >>> pooled_prior([18.0, 2.0], [2.0, 18.0])
    (10.0, 10.0)
    """
    a = np.asarray(prior_alpha, dtype=np.float64).ravel()
    b = np.asarray(prior_beta, dtype=np.float64).ravel()
    strength = float(np.mean(a + b))
    mean = float(np.mean(a / (a + b)))
    return strength * mean, strength * (1.0 - mean)


def guard_log_evidence(
    successes: npt.ArrayLike,
    failures: npt.ArrayLike,
    prior_alpha: npt.ArrayLike,
    prior_beta: npt.ArrayLike,
    uninformative: tuple[float, float] = (1.0, 1.0),
    pooled: tuple[float, float] | None = None,
) -> float:
    """The evidence the guard of :class:`~abrec.policies.GuardedPriorThompson` uses: the equal mixture of the
    uninformative and the pooled alternative (``pooled`` default: :func:`pooled_prior` of the given priors).

    Items whose given prior is the uninformative one are the same under every model (they add nothing).
    """
    a = np.asarray(prior_alpha, dtype=np.float64)
    b = np.asarray(prior_beta, dtype=np.float64)
    given = (a != uninformative[0]) | (b != uninformative[1])
    pa, pb = pooled if pooled is not None else pooled_prior(a[given], b[given]) if given.any() else uninformative
    return mixture_log_evidence(
        [
            alignment_log_evidence(successes, failures, a, b, *uninformative),
            alignment_log_evidence(successes, failures, a, b, np.where(given, pa, a), np.where(given, pb, b)),
        ]
    )
