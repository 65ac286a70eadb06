"""Shared fixtures of the simulator tests: small worlds, a generic test-double World, MiniLM (offline)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest

from _shared import bundled_minilm
from abrec.embeddings import SentenceTransformerEncoder
from abrec.envs.synthetic import SyntheticCatalog
from abrec.envs.world import FloatArray, IntArray, Users, World


class LinearWorld(World):
    """A minimal World with dense latent vectors, to check that the bandit view works on any World.

    It overrides ``best_slates`` (same result as the base class), so the env must call it.
    """

    def __init__(self, n_items: int = 30, dim: int = 4, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.item_ids = np.array([f"sku-{i}" for i in range(n_items)])
        self.item_vectors = rng.standard_normal((n_items, dim))
        self.price = rng.uniform(5, 50, n_items)
        self.arrival = np.where(np.arange(n_items) < n_items - 5, 0, 3).astype(np.int64)
        self.examination = np.array([1.0, 0.6, 0.4, 0.3])
        self.best_slates_calls = 0

    @property
    def context_dim(self) -> int:
        return int(self.item_vectors.shape[1])

    def item_texts(self) -> list[str]:
        return [f"item {i}" for i in range(self.n_items)]

    def sample_users(self, n: int, rng: np.random.Generator) -> Users:
        taste = rng.standard_normal((n, self.context_dim))
        return Users(taste + 0.1 * rng.standard_normal(taste.shape), taste)

    def attraction(self, users: Users, items: IntArray) -> FloatArray:
        logit = np.einsum("nd,nmd->nm", users.taste, self.item_vectors[items]) - 2.0
        out: FloatArray = 1 / (1 + np.exp(-logit))
        return out

    def purchase(self, users: Users, items: IntArray) -> FloatArray:
        return np.broadcast_to(np.clip(10 / self.price[items], 0, 1), items.shape).copy()

    def best_slates(self, users: Users, candidates: IntArray, k: int) -> IntArray:
        self.best_slates_calls += 1
        return super().best_slates(users, candidates, k)


@pytest.fixture
def linear_world() -> LinearWorld:
    """A fresh :class:`LinearWorld` (30 items, 5 arriving at step 3)."""
    return LinearWorld()


@pytest.fixture(scope="session")
def world() -> SyntheticCatalog:
    """A small catalog (200 items, 40 arriving over steps 1..9)."""
    return SyntheticCatalog(n_items=200, horizon=10, seed=0)


@pytest.fixture(scope="session")
def catalog() -> SyntheticCatalog:
    """The default-sized catalog (1,000 items)."""
    return SyntheticCatalog(seed=0)


@pytest.fixture(scope="session")
def minilm() -> Iterator[SentenceTransformerEncoder]:
    """The bundled all-MiniLM-L6-v2 on the CPU, loaded once per session with the hub switched off."""
    yield from bundled_minilm()
