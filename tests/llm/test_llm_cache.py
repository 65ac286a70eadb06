"""The response cache: keyed by (model identity, prompt, parameters), one file per model, never reused for another."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from abrec.errors import CacheError
from abrec.llm import CachedGenerator, FakeGenerator, ResponseCache, generator_cache_path, make_generator, response_key


def test_every_parameter_is_part_of_the_key(tmp_path: Path) -> None:
    cached = CachedGenerator(FakeGenerator(), tmp_path / "llm.sqlite")
    cached.generate(["p"], max_tokens=4, temperature=0.0, seed=0)
    for change in ({"max_tokens": 5}, {"temperature": 0.7}, {"seed": 1}):
        before = cached.usage.calls
        cached.generate(["p"], **{"max_tokens": 4, "temperature": 0.0, "seed": 0, **change})  # type: ignore[arg-type]
        assert cached.usage.calls == before + 1, f"{change} was served from the entry of other parameters"
    cached.answer_probabilities(["p"], ["yes", "no"])
    cached.answer_probabilities(["p"], ["no", "yes"])  # another answer set (order matters)
    assert cached.usage.calls == 6 and cached.hits == 0 and len(cached.cache) == 6
    keys = {response_key("m", "generate", "p", {"a": 1}), response_key("n", "generate", "p", {"a": 1})}
    assert len(keys) == 2, "the model identity is not part of the key"


def test_hits_return_the_stored_answers_and_count(tmp_path: Path) -> None:
    inner = FakeGenerator()
    cached = CachedGenerator(inner, tmp_path / "c.sqlite")
    first = cached.generate(["a", "b", "a"], max_tokens=6)
    again = cached.generate(["b", "a", "c"], max_tokens=6)
    assert [g.text for g in again[:2]] == [first[1].text, first[0].text]
    assert [g.cached for g in again] == [True, True, False]
    assert (cached.hits, cached.misses) == (2, 4) and len(inner.calls) == 2
    assert inner.calls[0] == ("generate", ["a", "b"]), "a prompt repeated in one batch reached the model twice"
    probs = cached.answer_probabilities(["q", "q"], ["x", "y", "z"])
    assert np.allclose(probs.sum(axis=1), 1.0) and np.array_equal(probs[0], probs[1])


def test_a_cache_is_never_reused_for_another_model(tmp_path: Path) -> None:
    path = tmp_path / "llm.sqlite"
    CachedGenerator(FakeGenerator(name="a"), path).generate(["p"])
    with pytest.raises(CacheError, match=r"holds answers of the model .*name=a.*, not of .*name=b"):
        CachedGenerator(FakeGenerator(name="b"), path)
    cache = ResponseCache(path, identity=FakeGenerator(name="a").identity)
    with pytest.raises(CacheError, match="belongs to the model"):
        CachedGenerator(FakeGenerator(name="b"), cache)
    cache.close()
    assert generator_cache_path(tmp_path, FakeGenerator(name="a")) != generator_cache_path(
        tmp_path, FakeGenerator(name="b")
    )


def test_foreign_and_corrupt_files_are_refused(tmp_path: Path) -> None:
    other = tmp_path / "other.sqlite"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(CacheError, match="not an abrec response cache"):
        ResponseCache(other, identity="m")
    garbage = tmp_path / "garbage.sqlite"
    garbage.write_bytes(b"not a database at all" * 100)
    with pytest.raises(CacheError, match="not a readable abrec response cache"):
        ResponseCache(garbage, identity="m")
    embedding_cache = tmp_path / "emb.sqlite"
    from abrec.embeddings import EmbeddingCache

    EmbeddingCache(embedding_cache, identity="m", dim=2).close()
    with pytest.raises(CacheError):
        ResponseCache(embedding_cache, identity="m")


def test_make_generator_wraps_in_a_cache(tmp_path: Path) -> None:
    gen = make_generator("fake", cache_dir=tmp_path)
    assert isinstance(gen, CachedGenerator) and Path(gen.cache.path).parent == tmp_path
    gen.generate(["x"])
    again = make_generator("fake", cache_dir=tmp_path)
    again.generate(["x"])
    assert again.usage.calls == 0
