"""Random generators: every random component owns one, never global state."""

from __future__ import annotations

import numpy as np

Seed = int | np.random.Generator | None


def as_generator(seed: Seed) -> np.random.Generator:
    """Return a generator for ``seed`` (an int, an existing generator, or None for OS entropy)."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is None or (isinstance(seed, int | np.integer) and not isinstance(seed, bool)):
        return np.random.default_rng(seed)
    raise TypeError(f"seed must be an int, a numpy.random.Generator or None. Got {seed!r} instead.")
