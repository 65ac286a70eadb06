"""Fixtures of the data tests: the shared data folder (MovieLens is never in the repository)."""

from __future__ import annotations

from pathlib import Path

import pytest

from _shared import shared_path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """``$ABREC_SHARED`` or ``<repo>/../shared``; the test is skipped when neither exists (fails in CI)."""
    return shared_path(needs="data")
