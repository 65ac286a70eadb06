"""Fixtures of the data tests: the shared data folder (MovieLens is never in the repository)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``$ABREC_SHARED`` or ``<repo>/../shared``; the test is skipped when neither exists."""
    root = Path(os.environ.get("ABREC_SHARED") or Path(__file__).resolve().parents[2].parent / "shared")
    if not (root / "data").is_dir():
        pytest.skip(f"shared data folder not found at {root} (set ABREC_SHARED to the folder holding data/)")
    return root
