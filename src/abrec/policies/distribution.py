"""What a policy would do with a batch of requests: its position-wise action distribution.

:meth:`abrec.policies.Policy.action_distribution` answers with an :class:`ActionDistribution`: for
every request ``i``, candidate ``j`` and slate position ``p``, the probability that the policy puts
``j`` at ``p``. Off-policy evaluation reads it instead of re-deriving a policy's maths from its class.
It is the one record of an action distribution in abrec: :func:`abrec.ope.bts_action_distribution` answers
with it too, and every off-policy estimator reads it (:func:`abrec.ope.at_logged_positions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np
import numpy.typing as npt

from ..errors import InputError, ParameterError

__all__ = ["ActionDistribution"]

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, eq=False)
class ActionDistribution:
    """Where a policy puts each candidate of each request: ``probabilities[i, j, p]``.

    An immutable record (its arrays are read-only).

    Attributes
    ----------
    probabilities : (n, m, k) float array
        The probability that the policy puts candidate ``j`` at position ``p`` of request ``i``'s
        slate; 0 for masked-out candidates. Each position's column sums to 1 over the candidates.
    standard_error : (n, m, k) float array
        Zeros where the distribution is exact; ``sqrt(p (1 - p) / draws)`` for a Monte Carlo count.
    exact : bool
        Whether the probabilities are exact (worked out from the policy's state) rather than counted.
    draws : int
        Monte Carlo draws behind each probability (0 when exact).

    Examples
    --------
    >>> import numpy as np
    >>> from abrec.policies import UniformRandom
    >>> dist = UniformRandom().action_distribution(np.array(["a", "b", "c", "d"]), k=2)
    >>> dist.probabilities.shape, dist.exact, dist.draws
    ((1, 4, 2), True, 0)
    >>> dist.probabilities[0].tolist()
    [[0.25, 0.25], [0.25, 0.25], [0.25, 0.25], [0.25, 0.25]]
    """

    probabilities: FloatArray
    standard_error: FloatArray
    exact: bool
    draws: int

    def __post_init__(self) -> None:
        p, se = _read_only(self.probabilities), _read_only(self.standard_error)
        if p.ndim != 3 or se.shape != p.shape:
            raise InputError(
                "An ActionDistribution needs probabilities of shape (n, m, k) and a standard_error of the same "
                f"shape. Got {p.shape} and {se.shape}."
            )
        if self.exact != (self.draws == 0):
            raise InputError(f"An exact ActionDistribution has draws == 0, a counted one draws > 0. Got {self.draws}.")
        object.__setattr__(self, "probabilities", p)
        object.__setattr__(self, "standard_error", se)

    @property
    def n(self) -> int:
        """Number of requests."""
        return int(self.probabilities.shape[0])

    @property
    def m(self) -> int:
        """Number of candidates per request."""
        return int(self.probabilities.shape[1])

    @property
    def k(self) -> int:
        """Number of slate positions."""
        return int(self.probabilities.shape[2])

    def confidence_interval(self, level: float = 0.95) -> tuple[FloatArray, FloatArray]:
        """Normal ``level`` interval of every probability, clipped to [0, 1] (a point where exact).

        Examples
        --------
        >>> import numpy as np
        >>> from abrec.policies import BernoulliThompson
        >>> dist = BernoulliThompson().action_distribution(np.arange(3), n_draws=10_000, seed=0)
        >>> low, high = dist.confidence_interval()
        >>> bool(((low <= 1 / 3) & (1 / 3 <= high)).all())
        True
        """
        if not 0.0 < level < 1.0:
            raise ParameterError(f"The 'level' parameter must be a float in (0, 1). Got {level!r} instead.")
        z = NormalDist().inv_cdf(0.5 + level / 2.0)
        low = np.clip(self.probabilities - z * self.standard_error, 0.0, 1.0)
        high = np.clip(self.probabilities + z * self.standard_error, 0.0, 1.0)
        return low, high


def _read_only(values: npt.ArrayLike) -> FloatArray:
    """A read-only float view of ``values`` (no copy)."""
    view: FloatArray = np.asarray(values, dtype=np.float64).view()
    view.setflags(write=False)
    return view
