"""Sample ratio mismatch (SRM): are the units split across variants as the allocation said?

With allocation weights ``w_p`` in force during period ``p`` (a ramp-up, a bandit reallocating
traffic) and ``N_p`` units assigned then, the counts per variant are a sum of multinomials: their
expectation is ``e = sum_p N_p w_p`` and their covariance ``S = sum_p N_p (diag(w_p) - w_p w_p')``.
The test statistic is ``(o - e)' S^+ (o - e)`` (``S^+`` the pseudo-inverse), chi-square with
``k - 1`` degrees of freedom for ``k`` variants with traffic. When the weights never change it
equals Pearson's chi-square ``sum (o - e)**2 / e`` (``scipy.stats.chisquare``); when they do, a test
against the overall or final weights flags a mismatch that is not there, and Pearson's statistic
on the period-wise expectations is conservative. A unit counted in a period where its variant had
weight 0 is a certain mismatch (statistic ``inf``, p-value 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from scipy import special

from ..errors import InputError

__all__ = ["SRMResult", "srm_test"]


@dataclass(frozen=True, slots=True)
class SRMResult:
    """The outcome of a sample ratio mismatch test.

    Attributes
    ----------
    statistic : float
        The chi-square statistic.
    p_value : float
        ``P(chi2(df) >= statistic)``; small values mean the split is broken.
    df : int
        Degrees of freedom (variants with traffic minus one).
    observed : tuple of int
        Units per variant over all periods.
    expected : tuple of float
        Expected units per variant, ``sum_p N_p w_p``.
    """

    statistic: float
    p_value: float
    df: int
    observed: tuple[int, ...]
    expected: tuple[float, ...]

    def mismatch(self, threshold: float = 0.001) -> bool:
        """Whether ``p_value < threshold`` (GrowthBook's default threshold is 0.001)."""
        return self.p_value < threshold


def srm_test(counts: npt.ArrayLike, weights: npt.ArrayLike) -> SRMResult:
    """Chi-square test that units were assigned to variants with the weights in force when they arrived.

    Parameters
    ----------
    counts : array_like of int, shape (n_variants,) or (n_periods, n_variants)
        Units assigned to each variant (in each period).
    weights : array_like, shape (n_variants,) or (n_periods, n_variants)
        Allocation weights per period (each row is normalised to sum to 1); a single row applies to
        every period.

    Returns
    -------
    SRMResult

    Raises
    ------
    abrec.errors.InputError
        For negative or non-integer counts, negative or all-zero weights, mismatched shapes, fewer
        than two variants, or no units.

    Examples
    --------
    >>> r = srm_test([5050, 4950], [0.5, 0.5])
    >>> round(r.statistic, 3), round(r.p_value, 3), r.mismatch()
    (1.0, 0.317, False)

    A ramp from 10% to 50% treatment: tested against the final weights it looks broken; tested
    against the weights of each period it does not.

    >>> counts = [[9000, 1000], [10000, 10000]]
    >>> srm_test(counts, [[0.9, 0.1], [0.5, 0.5]]).p_value
    1.0
    >>> srm_test(counts, [0.5, 0.5]).mismatch()
    True
    """
    observed = np.asarray(counts, dtype=np.float64)
    if observed.ndim == 1:
        observed = observed[None, :]
    if observed.ndim != 2 or observed.shape[1] < 2:
        raise InputError(
            f"counts must have shape (n_variants,) or (n_periods, n_variants) with n_variants >= 2; "
            f"got shape {np.shape(counts)}."
        )
    if not np.isfinite(observed).all() or (observed < 0).any() or (observed != np.round(observed)).any():
        raise InputError("counts must be non-negative integers (units per variant and period).")
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim == 1:
        w = np.broadcast_to(w, observed.shape)
    if w.shape != observed.shape:
        raise InputError(
            f"weights must have shape {observed.shape} or ({observed.shape[1]},); got {np.shape(weights)}."
        )
    if not np.isfinite(w).all() or (w < 0).any() or (w.sum(axis=1) <= 0).any():
        raise InputError("weights must be finite, >= 0, and positive somewhere in every period.")
    w = w / w.sum(axis=1, keepdims=True)
    totals = observed.sum(axis=1)
    if totals.sum() <= 0:
        raise InputError("counts hold no units; the SRM test needs at least one assigned unit.")
    o = observed.sum(axis=0)
    e = totals @ w
    result_counts = tuple(int(x) for x in o)
    if ((observed > 0) & (w == 0)).any():
        df = max(int((e > 0).sum()) - 1, 1)
        return SRMResult(math.inf, 0.0, df, result_counts, tuple(float(x) for x in e))
    cov = np.diag(e) - np.einsum("p,pi,pj->ij", totals, w, w)
    df = int(np.linalg.matrix_rank(cov))
    if df == 0:
        return SRMResult(0.0, 1.0, 0, result_counts, tuple(float(x) for x in e))
    diff = o - e
    statistic = max(float(diff @ np.linalg.pinv(cov, hermitian=True) @ diff), 0.0)
    p_value = float(special.chdtrc(df, statistic))
    return SRMResult(statistic, p_value, df, result_counts, tuple(float(x) for x in e))
