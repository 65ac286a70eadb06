"""A small, deterministic k-means (k-means++ seeding, Lloyd iterations) for the tabular agent's codebooks (private)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]

__all__ = ["kmeans", "nearest"]


def nearest(points: FloatArray, centroids: FloatArray) -> IntArray:
    """Index of the nearest centroid (squared Euclidean) of each row of ``points`` (..., p)."""
    flat = points.reshape(-1, points.shape[-1])
    d2 = (flat**2).sum(axis=1)[:, None] - 2.0 * flat @ centroids.T + (centroids**2).sum(axis=1)[None, :]
    out: IntArray = d2.argmin(axis=1).astype(np.int64).reshape(points.shape[:-1])
    return out


def kmeans(points: FloatArray, k: int, rng: np.random.Generator, *, iterations: int = 25) -> FloatArray:
    """``min(k, distinct rows)`` centroids of ``points`` (N, p): k-means++ seeding, then Lloyd iterations.

    Examples
    --------
    >>> x = np.array([[0.0, 0.0], [0.1, 0.0], [5.0, 5.0], [5.1, 5.0]])
    >>> np.round(kmeans(x, 2, np.random.default_rng(0)), 2)[np.argsort(kmeans(x, 2, np.random.default_rng(0))[:, 0])]
    array([[0.05, 0.  ],
           [5.05, 5.  ]])
    """
    unique = np.unique(points, axis=0)
    k = min(k, unique.shape[0])
    centroids = np.empty((k, points.shape[1]))
    centroids[0] = unique[rng.integers(unique.shape[0])]
    d2 = ((unique - centroids[0]) ** 2).sum(axis=1)
    for c in range(1, k):
        total = d2.sum()
        pick = int(rng.choice(unique.shape[0], p=d2 / total)) if total > 0 else int(rng.integers(unique.shape[0]))
        centroids[c] = unique[pick]
        d2 = np.minimum(d2, ((unique - centroids[c]) ** 2).sum(axis=1))
    for _ in range(iterations):
        label = nearest(points, centroids)
        counts = np.bincount(label, minlength=k).astype(np.float64)
        sums = np.zeros_like(centroids)
        np.add.at(sums, label, points)
        moved = np.where(counts[:, None] > 0, sums / np.maximum(counts, 1.0)[:, None], centroids)
        if np.allclose(moved, centroids, rtol=0.0, atol=1e-12):
            break
        centroids = moved
    return centroids
