"""A logistic linear contextual bandit with every reward drawn up front (workload W1's model)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from .._params import Interval, validate_params
from .._random import Seed, as_generator


@dataclass(frozen=True, slots=True, eq=False)
class LinearBandit:
    """Contexts ``X`` (T, d), item parameters ``theta`` (K, d), click probabilities
    ``p = sigmoid(scale * X theta' + bias)`` and pre-drawn clicks ``R`` (T, K), so every policy sees
    the same outcome for the same choice. ``oracle`` (T,) is the item of highest probability."""

    X: npt.NDArray[np.float64]
    theta: npt.NDArray[np.float64]
    R: npt.NDArray[np.uint8]
    oracle: npt.NDArray[np.int64]

    @property
    def rounds(self) -> int:
        return int(self.X.shape[0])

    @property
    def arms(self) -> int:
        return int(self.theta.shape[0])

    @property
    def oracle_reward(self) -> int:
        """Clicks the best item of each round would have received."""
        return int(self.R[np.arange(self.rounds), self.oracle].sum())


def _unit_rows(a: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    norms: npt.NDArray[np.float64] = np.linalg.norm(a, axis=1, keepdims=True)
    return a / norms


def make_linear_bandit(
    arms: int = 50, dim: int = 32, rounds: int = 20_000, scale: float = 4.0, bias: float = -3.0, *, seed: Seed = 0
) -> LinearBandit:
    """Draw a bandit: unit-norm Gaussian contexts and item vectors, logistic clicks.

    With the defaults (and ``rounds=100_000, seed=0`` drawn the same way) this is the model of
    benchmark W1: ``p[t, a] = sigmoid(4 x_t . theta_a - 3)``.

    Examples
    --------
    >>> b = make_linear_bandit(arms=5, dim=3, rounds=10, seed=1)
    >>> b.R.shape, b.X.shape
    ((10, 5), (10, 3))
    """
    validate_params(
        "make_linear_bandit",
        {"arms": Interval("int", 1), "dim": Interval("int", 1), "rounds": Interval("int", 1)},
        {"arms": arms, "dim": dim, "rounds": rounds},
    )
    rng = as_generator(seed)
    theta = _unit_rows(rng.standard_normal((arms, dim)))
    X = _unit_rows(rng.standard_normal((rounds, dim)))
    p = 1.0 / (1.0 + np.exp(-(scale * (X @ theta.T) + bias)))
    R = (rng.random((rounds, arms)) < p).astype(np.uint8)
    return LinearBandit(X, theta, R, np.argmax(p, axis=1).astype(np.int64))
