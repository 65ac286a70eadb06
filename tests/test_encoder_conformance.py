"""Every abrec text encoder passes the public encoder conformance suite (``abrec.testing.check_encoder``).

One test per (encoder, check): the deterministic fake, the light hashing encoder, a cached encoder
(the fake behind an SQLite cache) and the real sentence-transformers MiniLM, loaded offline once.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from _shared import bundled_minilm
from abrec.embeddings import CachedEncoder, Encoder, FakeEncoder, HashingEncoder
from abrec.testing import encoder_checks

CHECKS = [name for name, _ in encoder_checks(FakeEncoder())]
ENCODERS = ["fake", "hashing", "cached-fake", "minilm"]

# Known failures of abrec's own encoders, as {check_name: "written reason"} per encoder name.
EXPECTED_FAILURES: dict[str, dict[str, str]] = {}


@pytest.fixture(scope="module")
def minilm_encoder() -> Iterator[Encoder]:
    yield from bundled_minilm()


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("encoder-cache")


def build(name: str, request: pytest.FixtureRequest, cache_dir: Path) -> Encoder:
    if name == "fake":
        return FakeEncoder(dim=16)
    if name == "hashing":
        return HashingEncoder(dim=64)
    if name == "cached-fake":
        return CachedEncoder(FakeEncoder(dim=16), os.fspath(cache_dir / f"{request.node.name}.sqlite"))
    encoder: Encoder = request.getfixturevalue("minilm_encoder")
    return encoder


@pytest.mark.parametrize("check_name", CHECKS)
@pytest.mark.parametrize("encoder_name", ENCODERS)
def test_encoder_conforms(encoder_name: str, check_name: str, request: pytest.FixtureRequest, cache_dir: Path) -> None:
    encoder = build(encoder_name, request, cache_dir)
    checks = dict(encoder_checks(encoder, expected_failures=EXPECTED_FAILURES.get(encoder_name)))
    checks[check_name]()
