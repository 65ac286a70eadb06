"""Shared fixtures of the embeddings tests: the real MiniLM model (offline) and MovieLens 100K's items."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from _shared import bundled_minilm, shared_path
from abrec.data import MovieLens, load_movielens
from abrec.embeddings import SentenceTransformerEncoder


@pytest.fixture(scope="session")
def minilm() -> Iterator[SentenceTransformerEncoder]:
    """The bundled all-MiniLM-L6-v2 on the CPU, loaded once per session with the hub switched off."""
    yield from bundled_minilm()


@pytest.fixture(scope="session")
def movielens() -> MovieLens:
    """MovieLens 100K from the shared folder, through abrec's own loader (never copied into the repo)."""
    return load_movielens(shared_path("data", "ml-100k"))


@pytest.fixture(scope="session")
def movielens_items(movielens: MovieLens) -> tuple[list[str], list[frozenset[str]]]:
    """The 1,682 items as (catalog text "<title> (<year>). Genres: <genres>.", genre set)."""
    frame = movielens.catalog.frame
    return movielens.catalog.texts(), [frozenset(str(g).split()) for g in frame["genres"]]


@pytest.fixture(scope="session")
def movielens_titles(movielens: MovieLens) -> list[str]:
    """Titles alone: no genre words, so neighbours can share a genre only through what titles mean."""
    return [str(t) for t in movielens.catalog.frame["title"]]
