"""Five small CUPED datasets (small, unequal and heteroskedastic, skewed, 0/1 metric, 0/1 covariate), shared by the
CUPED tests that compare abrec with statsmodels and gbstats on them."""

from __future__ import annotations

import numpy as np

from abrec.abtest import CupedStats

__all__ = ["DATASETS", "cuped_stats", "dataset"]


def dataset(name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(y_c, x_c, y_t, x_t): small, unequal and heteroskedastic, skewed, 0/1 metric, 0/1 covariate."""
    rng = np.random.default_rng(100 + DATASETS.index(name))
    if name == "small":
        x_c, x_t = rng.normal(3, 1, 5), rng.normal(3, 1, 7)
        return 1 + x_c + rng.normal(0, 1, 5), x_c, 2 + 0.5 * x_t + rng.normal(0, 1, 7), x_t
    if name == "unequal-heteroskedastic":
        x_c, x_t = rng.normal(2, 1, 40), rng.normal(2, 1, 400)
        y_c = 1 + x_c + rng.normal(0, 1, 40) * (0.5 + np.abs(x_c))
        return y_c, x_c, 1.5 + 2.0 * x_t + rng.normal(0, 3, 400), x_t
    if name == "skewed":
        x_c, x_t = 10 + rng.exponential(2, 150), 10 + rng.exponential(2, 120)
        return rng.lognormal(0, 0.5, 150) * x_c, x_c, rng.lognormal(0.1, 0.5, 120) * x_t, x_t
    if name == "binary-metric":
        x_c, x_t = rng.normal(0, 1, 300), rng.normal(0, 1, 250)
        y_c = (rng.random(300) < 1 / (1 + np.exp(-x_c))).astype(float)
        return y_c, x_c, (rng.random(250) < 1 / (1 + np.exp(-0.3 - x_t))).astype(float), x_t
    assert name == "binary-covariate"
    x_c, x_t = (rng.random(80) < 0.3).astype(float), (rng.random(90) < 0.3).astype(float)
    return 2 + 3 * x_c + rng.normal(0, 1, 80), x_c, 2.5 + 2 * x_t + rng.gamma(2, 1, 90), x_t


DATASETS = ["small", "unequal-heteroskedastic", "skewed", "binary-metric", "binary-covariate"]


def cuped_stats(y_c: np.ndarray, x_c: np.ndarray, y_t: np.ndarray, x_t: np.ndarray) -> tuple[CupedStats, CupedStats]:
    return CupedStats.from_values(y_c, x_c), CupedStats.from_values(y_t, x_t)
