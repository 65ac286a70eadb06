"""Thompson sampling over independent Gaussian scores, k = 1: the choice and its propensity.

Each candidate j of a request has a score ``S_j ~ N(mu_j, sigma_j^2)``, independent across
candidates (linear Thompson sampling per item). The policy draws every score once and takes the
best, ``c``. Its propensity ``P(c wins) = E[ P(S_c > M) ]`` with ``M = max_{j != c} S_j`` is
estimated by Rao-Blackwellised Monte Carlo: ``draws`` samples of the other candidates' maximum
``M_s``, each contributing the exact Gaussian tail ``P(S_c > M_s) = erfc((M_s - mu_c) /
(sigma_c sqrt 2)) / 2`` rather than a 0/1 hit. That is unbiased and far more precise than
counting, most of all for small propensities (the ones that dominate importance weights).

The compiled kernel draws from the policy's own ``numpy.random.Generator`` in the same order as
the numpy reference (all decision draws, then each request's propensity draws), so both backends
take identical decisions.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ._kernels import HAVE_NUMBA

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

# Floor of an estimated propensity: a tail probability can underflow to 0.
FLOOR = 1e-12
_CHUNK_FLOATS = 2_000_000
_erfc = np.vectorize(math.erfc, otypes=[np.float64])


def race_numpy(
    rng: np.random.Generator, mean: FloatArray, scale: FloatArray, valid: BoolArray, draws: int
) -> tuple[IntArray, FloatArray]:
    """Reference: choose by one draw per candidate; propensity by Rao-Blackwellised Monte Carlo."""
    n, m = mean.shape
    sample = np.where(valid, mean + scale * rng.standard_normal((n, m)), -np.inf)
    chosen = sample.argmax(axis=1)
    props = np.empty(n)
    per_chunk = max(1, _CHUNK_FLOATS // (draws * m))
    for start in range(0, n, per_chunk):
        stop = min(n, start + per_chunk)
        rows = np.arange(start, stop)
        z = rng.standard_normal((stop - start, draws, m))
        others = np.where(valid[rows, None, :], mean[rows, None, :] + scale[rows, None, :] * z, -np.inf)
        others[np.arange(stop - start), :, chosen[rows]] = -np.inf
        best_other = others.max(axis=2)  # (rows, draws)
        mu_c, sd_c = mean[rows, chosen[rows]], scale[rows, chosen[rows]]
        props[rows] = _tail(best_other, mu_c[:, None], sd_c[:, None]).mean(axis=1)
    return chosen[:, None].astype(np.int64), np.maximum(props, FLOOR)[:, None]


def _tail(best_other: FloatArray, mu: FloatArray, sd: FloatArray) -> FloatArray:
    """P(N(mu, sd^2) > best_other), elementwise; sd = 0 gives the step (1/2 at equality)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(sd > 0, (best_other - mu) / (sd * math.sqrt(2.0)), 0.0)
    tail = 0.5 * _erfc(z)
    step = np.where(best_other < mu, 1.0, np.where(best_other > mu, 0.0, 0.5))
    out: FloatArray = np.where(sd > 0, tail, step)
    return out


if HAVE_NUMBA:
    import numba

    @numba.njit(cache=True)
    def _race_nb(rng: Any, mean: Any, scale: Any, valid: Any, draws: int) -> Any:  # pragma: no cover - compiled
        n, m = mean.shape
        chosen = np.empty((n, 1), dtype=np.int64)
        props = np.empty((n, 1))
        root2 = math.sqrt(2.0)
        for i in range(n):
            best = -np.inf
            c = 0
            for j in range(m):
                s = mean[i, j] + scale[i, j] * rng.standard_normal()
                if valid[i, j] and s > best:
                    best = s
                    c = j
            chosen[i, 0] = c
        for i in range(n):
            c = chosen[i, 0]
            mu, sd = mean[i, c], scale[i, c]
            total = 0.0
            for _ in range(draws):
                top = -np.inf
                for j in range(m):
                    s = mean[i, j] + scale[i, j] * rng.standard_normal()
                    if j != c and valid[i, j] and s > top:
                        top = s
                if sd > 0.0:
                    total += 0.5 * math.erfc((top - mu) / (sd * root2))
                elif top < mu:
                    total += 1.0
                elif top == mu:
                    total += 0.5
            props[i, 0] = max(total / draws, FLOOR)
        return chosen, props


def race(
    rng: np.random.Generator,
    mean: FloatArray,
    scale: FloatArray,
    valid: BoolArray | None,
    draws: int,
    use_numba: bool,
) -> tuple[IntArray, FloatArray]:
    """Slots (n, 1) of the Thompson choice and their propensities (n, 1); see the module docstring."""
    mask = np.ones(mean.shape, dtype=bool) if valid is None else valid
    if use_numba and HAVE_NUMBA:
        result: tuple[IntArray, FloatArray] = _race_nb(rng, mean, scale, mask, draws)
        return result
    return race_numpy(rng, mean, scale, mask, draws)
