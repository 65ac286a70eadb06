"""Exact probabilities that each variant is the best (and the second best) under independent posteriors.

With independent posteriors ``X_1 .. X_k`` of the variants' means, densities ``f_i`` and CDFs
``F_i``, variant ``i`` is the best with probability

    P(best = i) = integral f_i(x) prod_{j != i} F_j(x) dx,

and it is second behind ``b`` with probability

    P(best = b, second = i) = integral f_i(x) (1 - F_b(x)) prod_{j != i, b} F_j(x) dx,

one-dimensional integrals computed here by adaptive quadrature (``scipy.integrate.quad_vec``, all
``b`` at once) over the bulk of ``f_i`` (beyond which less than 1e-15 of its mass lies), with the
product taken in log space so that no factor underflows. They replace Monte Carlo win rates,
whose error is ``sqrt(p (1 - p) / draws)``, with numbers accurate to about 1e-10.

- :func:`prob_best_gaussian`, :func:`prob_best_beta`: ``P(best = i)`` for normal posteriors
  ``N(mean_i, sd_i**2)`` (e.g. GrowthBook's Gaussian model of each arm) or Beta posteriors
  ``Beta(a_i, b_i)`` (conversion rates: ``a = prior_a + successes``, ``b = prior_b + failures``).
- :func:`prob_best_student_t`, :func:`top_two_student_t`: the same for Student-t posteriors
  ``mean_i + scale_i T_{df_i}`` (a normal mean with unknown variance under a flat prior: ``scale = sd /
  sqrt(n)``, ``df = n - 1``), what :class:`~abrec.abtest.ThompsonAllocator` samples for Gaussian rewards.
- :func:`top_two_gaussian`, :func:`top_two_beta`: a :class:`TopTwoProbabilities` with ``best``,
  ``second`` and the joint ``P(best = b, second = i)``, what top-two Thompson sampling needs: its
  leader is the best with probability ``best[b]``, and the challenger drawn as the runner-up of the
  same posterior draw is ``i`` with probability ``joint[b, i] / best[b]``.

For two variants both reduce to closed forms: ``Phi((m_2 - m_1) / sqrt(s_1**2 + s_2**2))`` for the
Gaussian, and Evan Miller's sum for Beta posteriors with an integer parameter.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import integrate, special

from ..errors import InputError

__all__ = [
    "TopTwoProbabilities",
    "prob_best_beta",
    "prob_best_gaussian",
    "prob_best_student_t",
    "top_two_beta",
    "top_two_gaussian",
    "top_two_student_t",
]

FloatArray = npt.NDArray[np.float64]

_TAIL = 1e-15  # posterior mass left out of each integral, per tail
_LOG_FLOOR = -800.0  # exp(-800) is 0 in double precision: a floor that keeps 0 * log(0) out of the sums


@dataclass(frozen=True, slots=True)
class TopTwoProbabilities:
    """Which variant is best and which is second, under independent posteriors.

    Attributes
    ----------
    best : numpy.ndarray
        ``P(best = i)``, summing to 1.
    second : numpy.ndarray
        ``P(second = i)``, summing to 1.
    joint : numpy.ndarray
        ``joint[b, i] = P(best = b, second = i)`` (zero diagonal); its rows sum to ``best``, its
        columns to ``second``.
    """

    best: FloatArray
    second: FloatArray
    joint: FloatArray

    def runner_up(self, leader: int) -> FloatArray:
        """``P(second = i | best = leader)``: the challenger distribution of top-two Thompson sampling."""
        row: FloatArray = self.joint[leader] / self.best[leader] if self.best[leader] > 0 else np.zeros(len(self.best))
        return row


def _vector(owner: str, name: str, values: npt.ArrayLike, *, positive: bool) -> FloatArray:
    x = np.asarray(values, dtype=np.float64)
    if x.ndim != 1 or x.size < 2:
        raise InputError(f"{owner} needs {name} as a 1-D array with one value per variant (at least 2); got {x.shape}.")
    if not np.isfinite(x).all() or (positive and not (x > 0).all()):
        kind = "positive and finite" if positive else "finite"
        raise InputError(f"{owner} needs every {name} {kind}; got {x.tolist()!r}.")
    return x


def _pair(
    owner: str, first: tuple[str, npt.ArrayLike, bool], second: tuple[str, npt.ArrayLike, bool]
) -> tuple[FloatArray, FloatArray]:
    a = _vector(owner, first[0], first[1], positive=first[2])
    b = _vector(owner, second[0], second[1], positive=second[2])
    if a.shape != b.shape:
        raise InputError(f"{owner} needs {first[0]} and {second[0]} of one length; got {a.size} and {b.size}.")
    return a, b


class _Family:
    """Log density, log CDF and log survival of k independent posteriors, and each one's bulk."""

    def __init__(
        self,
        logpdf: Callable[[int, float], float],
        logcdf: Callable[[float], FloatArray],
        logsf: Callable[[float], FloatArray],
        bulk: list[tuple[float, float]],
        centres: FloatArray,
    ) -> None:
        self.logpdf, self.logcdf, self.logsf, self.bulk, self.centres = logpdf, logcdf, logsf, bulk, centres

    @property
    def k(self) -> int:
        return len(self.bulk)


def _integrate(family: _Family, second: bool) -> tuple[FloatArray, FloatArray]:
    """``P(best = i)`` and (if ``second``) ``joint[b, i]``, one quad_vec per variant ``i``."""
    k = family.k
    best = np.zeros(k)
    joint = np.zeros((k, k))
    for i in range(k):
        others = np.ones(k, dtype=bool)
        others[i] = False
        # row 0: prod_{j != i} F_j; row 1 + b: (1 - F_b) prod_{j != i, b} F_j (b = i gives 0)
        mask = np.vstack([others, np.logical_and(others[None, :], ~np.eye(k, dtype=bool))]).astype(np.float64)

        def integrand(x: float, i: int = i, mask: FloatArray = mask) -> FloatArray:
            log_f = family.logpdf(i, x)
            log_cdf = np.maximum(family.logcdf(x), _LOG_FLOOR)
            if not second:
                only: FloatArray = np.exp(np.array([mask[0] @ log_cdf + log_f]))
                return only
            logs = mask @ log_cdf
            logs[1:] += np.maximum(family.logsf(x), _LOG_FLOOR)
            logs[1 + i] = -math.inf
            out: FloatArray = np.exp(logs + log_f)
            return out

        lo, hi = family.bulk[i]
        inside = [float(c) for c in family.centres if lo < c < hi]
        value, _ = integrate.quad_vec(integrand, lo, hi, epsabs=1e-13, epsrel=1e-11, points=inside or None, limit=2000)
        best[i] = value[0]
        if second:
            joint[:, i] = value[1:]
    return best, joint


def _gaussian_family(means: FloatArray, sds: FloatArray) -> _Family:
    half = float(-special.ndtri(_TAIL))
    log_norm = np.log(sds) + 0.5 * math.log(2 * math.pi)

    def logpdf(i: int, x: float) -> float:
        z = (x - means[i]) / sds[i]
        return float(-0.5 * z * z - log_norm[i])

    def logcdf(x: float) -> FloatArray:
        out: FloatArray = special.log_ndtr((x - means) / sds)
        return out

    def logsf(x: float) -> FloatArray:
        out: FloatArray = special.log_ndtr((means - x) / sds)
        return out

    bulk = [(float(m - half * s), float(m + half * s)) for m, s in zip(means, sds, strict=True)]
    return _Family(logpdf, logcdf, logsf, bulk, means)


def _student_family(means: FloatArray, scales: FloatArray, dfs: FloatArray) -> _Family:
    # log(Gamma(df/2) sqrt(df pi) / Gamma((df+1)/2)) = log B(df/2, 1/2) + log(df)/2: no cancellation of two
    # huge gammaln values at large df
    log_norm = special.betaln(dfs / 2.0, 0.5) + 0.5 * np.log(dfs) + np.log(scales)

    def logpdf(i: int, x: float) -> float:
        z = (x - means[i]) / scales[i]
        return float(-(dfs[i] + 1.0) / 2.0 * math.log1p(z * z / dfs[i]) - log_norm[i])

    def logcdf(x: float) -> FloatArray:
        with np.errstate(divide="ignore"):
            out: FloatArray = np.log(special.stdtr(dfs, (x - means) / scales))
        return out

    def logsf(x: float) -> FloatArray:
        with np.errstate(divide="ignore"):
            out: FloatArray = np.log(special.stdtr(dfs, (means - x) / scales))
        return out

    half = -special.stdtrit(dfs, _TAIL)
    bulk = [(float(m - h * s), float(m + h * s)) for m, h, s in zip(means, half, scales, strict=True)]
    # Heavy tails make the bulk wide (+-5,600 scales at df = 4): break it at a ladder of scales around
    # every centre so that the adaptive rule sees where the mass is.
    steps = np.array([0.0, 1.0, 3.0, 10.0, 30.0, 100.0, 1e3, 1e4, 1e5])
    points = np.unique(np.concatenate([means[:, None] + scales[:, None] * np.r_[-steps, steps][None, :]]).ravel())
    return _Family(logpdf, logcdf, logsf, bulk, points)


def _beta_family(a: FloatArray, b: FloatArray) -> _Family:
    log_norm = special.betaln(a, b)

    def logpdf(i: int, x: float) -> float:
        if not 0.0 < x < 1.0:
            return -math.inf
        return float((a[i] - 1) * math.log(x) + (b[i] - 1) * math.log1p(-x) - log_norm[i])

    def logcdf(x: float) -> FloatArray:
        with np.errstate(divide="ignore"):
            out: FloatArray = np.log(special.betainc(a, b, x))
        return out

    def logsf(x: float) -> FloatArray:
        with np.errstate(divide="ignore"):
            out: FloatArray = np.log(special.betaincc(a, b, x))
        return out

    bulk = [
        (float(special.betaincinv(ai, bi, _TAIL)), float(special.betaincinv(ai, bi, 1.0 - _TAIL)))
        for ai, bi in zip(a, b, strict=True)
    ]
    return _Family(logpdf, logcdf, logsf, bulk, a / (a + b))


def _normalise(p: FloatArray) -> FloatArray:
    """Clip the quadrature's last-digit noise into [0, 1]."""
    out: FloatArray = np.clip(p, 0.0, 1.0)
    return out


def prob_best_gaussian(means: npt.ArrayLike, sds: npt.ArrayLike) -> FloatArray:
    """``P(best = i)`` for independent normal posteriors ``N(means[i], sds[i]**2)``, by quadrature.

    Parameters
    ----------
    means : array_like of shape (k,)
        Posterior means (finite), k >= 2.
    sds : array_like of shape (k,)
        Posterior standard deviations (positive, finite): for a variant's mean, ``sd / sqrt(n)``.

    Returns
    -------
    numpy.ndarray of shape (k,)
        Sums to 1 (to about 1e-10).

    Raises
    ------
    abrec.errors.InputError
        For arrays of different lengths, fewer than 2 variants, or non-positive sds.

    Examples
    --------
    >>> p = prob_best_gaussian([0.10, 0.12, 0.11], [0.01, 0.01, 0.02])
    >>> p.round(4).tolist(), round(float(p.sum()), 10)
    ([0.044, 0.638, 0.3181], 1.0)
    >>> round(float(prob_best_gaussian([0.0, 1.0], [1.0, 1.0])[1]), 6)  # Phi(1 / sqrt(2))
    0.76025
    """
    m, s = _pair("prob_best_gaussian", ("means", means, False), ("sds", sds, True))
    return _normalise(_integrate(_gaussian_family(m, s), second=False)[0])


def prob_best_beta(a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """``P(best = i)`` for independent ``Beta(a[i], b[i])`` posteriors (conversion rates), by quadrature.

    Parameters
    ----------
    a, b : array_like of shape (k,)
        Posterior parameters (finite, at least :data:`BETA_FLOOR` = 0.5), k >= 2: with a ``Beta(1, 1)`` prior,
        ``a = 1 + conversions`` and ``b = 1 + units - conversions``.

    Returns
    -------
    numpy.ndarray of shape (k,)

    Examples
    --------
    >>> p = prob_best_beta([101, 126, 111], [901, 876, 891])
    >>> p.round(4).tolist()
    [0.0258, 0.8317, 0.1425]
    """
    a_, b_ = _beta_pair("prob_best_beta", a, b)
    return _normalise(_integrate(_beta_family(a_, b_), second=False)[0])


#: The smallest Beta parameter the quadrature serves: a Beta(a, b) holds mass ~eps**b within one double-precision
#: step eps of 1 (and ~tiny**a near 0), which no quadrature in x can see; at 0.5 (Jeffreys) that is ~7e-9, at 0.1
#: already 2.5% (``prob_best_beta([1, 1], [0.01, 0.02])`` summed to 0.16 before this floor).
BETA_FLOOR = 0.5


def _beta_pair(owner: str, a: npt.ArrayLike, b: npt.ArrayLike) -> tuple[FloatArray, FloatArray]:
    a_, b_ = _pair(owner, ("a", a, True), ("b", b, True))
    low = float(min(a_.min(), b_.min()))
    if low < BETA_FLOOR:
        raise InputError(
            f"{owner} needs Beta parameters of at least {BETA_FLOOR} (got {low:g}): below that a Beta posterior holds "
            "mass within one floating-point step of 0 or 1 that its quadrature cannot resolve. Use a prior of at "
            "least (0.5, 0.5), e.g. Jeffreys' (0.5, 0.5) or the uniform (1, 1)."
        )
    return a_, b_


def _student_args(owner: str, means: npt.ArrayLike, scales: npt.ArrayLike, dfs: npt.ArrayLike) -> _Family:
    m, s = _pair(owner, ("means", means, False), ("scales", scales, True))
    d = _vector(owner, "dfs", np.broadcast_to(np.asarray(dfs, dtype=np.float64), m.shape), positive=True)
    return _student_family(m, s, d)


def prob_best_student_t(means: npt.ArrayLike, scales: npt.ArrayLike, dfs: npt.ArrayLike) -> FloatArray:
    """``P(best = i)`` for independent posteriors ``means[i] + scales[i] T`` with ``T ~ t(dfs[i])``, by quadrature.

    Parameters
    ----------
    means, scales : array_like of shape (k,)
        Locations (finite) and scales (positive), k >= 2.
    dfs : array_like of shape (k,) or float
        Degrees of freedom (positive); large values give the normal case.

    Examples
    --------
    >>> p = prob_best_student_t([0.10, 0.12, 0.11], [0.01, 0.01, 0.02], [4, 9, 30])
    >>> p.round(4).tolist()
    [0.0708, 0.6147, 0.3145]
    >>> bool(abs(prob_best_student_t([0.0, 1.0], [1.0, 1.0], 1e9)[1] - 0.76025) < 1e-5)
    True
    """
    return _normalise(_integrate(_student_args("prob_best_student_t", means, scales, dfs), second=False)[0])


def top_two_student_t(means: npt.ArrayLike, scales: npt.ArrayLike, dfs: npt.ArrayLike) -> TopTwoProbabilities:
    """Best, second-best and joint probabilities for independent Student-t posteriors.

    Parameters as in :func:`prob_best_student_t`.
    """
    return _top_two(_student_args("top_two_student_t", means, scales, dfs))


def _top_two(family: _Family) -> TopTwoProbabilities:
    best, joint = _integrate(family, second=True)
    joint = np.clip(joint, 0.0, 1.0)
    return TopTwoProbabilities(_normalise(best), _normalise(joint.sum(axis=0)), joint)


def top_two_gaussian(means: npt.ArrayLike, sds: npt.ArrayLike) -> TopTwoProbabilities:
    """Best, second-best and joint probabilities for independent normal posteriors.

    Parameters as in :func:`prob_best_gaussian`.

    Examples
    --------
    >>> r = top_two_gaussian([0.10, 0.12, 0.11], [0.01, 0.01, 0.02])
    >>> r.best.round(4).tolist(), r.second.round(4).tolist()
    ([0.044, 0.638, 0.3181], [0.3181, 0.3181, 0.3639])
    >>> r.runner_up(1).round(4).tolist()  # the challenger when variant 1 leads
    [0.4442, 0.0, 0.5558]
    """
    m, s = _pair("top_two_gaussian", ("means", means, False), ("sds", sds, True))
    return _top_two(_gaussian_family(m, s))


def top_two_beta(a: npt.ArrayLike, b: npt.ArrayLike) -> TopTwoProbabilities:
    """Best, second-best and joint probabilities for independent Beta posteriors.

    Parameters as in :func:`prob_best_beta`.

    Examples
    --------
    >>> r = top_two_beta([101, 126, 111], [901, 876, 891])
    >>> r.best.round(4).tolist(), r.second.round(4).tolist()
    ([0.0258, 0.8317, 0.1425], [0.2205, 0.1487, 0.6308])
    """
    a_, b_ = _beta_pair("top_two_beta", a, b)
    return _top_two(_beta_family(a_, b_))
