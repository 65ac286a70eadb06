"""An on-disk response cache for generative models, and a generator that goes through it.

:class:`ResponseCache` is one SQLite file per model (:attr:`~abrec.llm.base.Generator.identity`, in
abrec's file header of kind 'llm-response-cache', checked on every open, as in
:class:`abrec.embeddings.EmbeddingCache`). An answer is stored as JSON under
``sha256(json([identity, kind, prompt, parameters]))``, so its full address is (model identity, prompt,
parameters): a completion with other ``max_tokens``, ``temperature`` or ``seed``, or the probabilities
of another answer set, is another entry. Several processes may share a file (WAL mode, busy timeout,
``INSERT OR IGNORE``: the first writer wins).

:class:`CachedGenerator` sends only the prompts the cache lacks to the model (each distinct prompt
once); hits cost no call and no budget.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._header import FileHeader
from .._keyed_file import KeyedFile
from ..embeddings.base import check_texts
from ..errors import CacheError
from .base import FloatArray, Generation, Generator, SamplingParams, check_answers

__all__ = ["CachedGenerator", "ResponseCache", "generator_cache_path", "response_key"]

KIND = "llm-response-cache"
FORMAT_VERSION = 1
_CHUNK = 500


def response_key(identity: str, kind: str, prompt: str, params: dict[str, Any]) -> bytes:
    """The 32-byte address of one answer: SHA-256 of the JSON of (identity, kind, prompt, params).

    Examples
    --------
    >>> response_key("m", "generate", "hi", {"max_tokens": 4}) == response_key("m", "generate", "hi", {"max_tokens": 5})
    False
    """
    blob = json.dumps([identity, kind, prompt, params], sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", errors="surrogatepass")).digest()


def generator_cache_path(directory: str | os.PathLike[str], generator: Generator) -> Path:
    """The cache file of ``generator`` in ``directory`` (created): one SQLite file per model identity."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    return folder / f"llm-{hashlib.sha256(generator.identity.encode()).hexdigest()[:16]}.sqlite"


class ResponseCache(KeyedFile):
    """The response cache of one model, in the SQLite file ``path`` (created if missing).

    Raises
    ------
    abrec.errors.CacheError
        The file is not an abrec response cache, is of another format version, or belongs to another model.

    Examples
    --------
    >>> import os, tempfile
    >>> path = os.path.join(tempfile.mkdtemp(), "llm.sqlite")
    >>> with ResponseCache(path, identity="demo-v1") as cache:
    ...     cache.put_keys([b"k" * 32], [{"text": "hi"}])
    ...     cache.get_keys([b"k" * 32, b"x" * 32])
    [{'text': 'hi'}, None]
    >>> ResponseCache(path, identity="other-v1")
    Traceback (most recent call last):
    ...
    abrec.errors.CacheError: ... holds answers of the model 'demo-v1', not of 'other-v1'...
    """

    kind = KIND
    version = FORMAT_VERSION
    table = "responses"
    columns = "key BLOB PRIMARY KEY, value TEXT NOT NULL"
    what = "response cache"
    example = "llm.sqlite"

    def __init__(self, path: str | os.PathLike[str], *, identity: str, timeout: float = 60.0) -> None:
        if not isinstance(identity, str) or not identity:
            raise CacheError(f"A response cache needs a non-empty model identity. Got {identity!r}.")
        self.identity = identity
        super().__init__(path, timeout=timeout)

    def _header(self) -> FileHeader:
        return FileHeader(KIND, FORMAT_VERSION, {"identity": self.identity, "key": "sha256(json)"})

    def _check(self, fields: Mapping[str, Any]) -> None:
        if fields.get("identity") != self.identity:
            raise CacheError(
                f"{self.path} holds answers of the model {fields.get('identity')!r}, not of {self.identity!r}. "
                "A cache is never reused for another model: use one file per model, or delete this one."
            )

    def get_keys(self, keys: Sequence[bytes]) -> list[Any]:
        """The stored values (decoded JSON) under ``keys``, None where missing."""
        found: dict[bytes, Any] = {}
        unique = list(dict.fromkeys(bytes(k) for k in keys))
        try:
            with self._lock:
                for start in range(0, len(unique), _CHUNK):
                    chunk = unique[start : start + _CHUNK]
                    sql = f"SELECT key, value FROM responses WHERE key IN ({', '.join('?' * len(chunk))})"
                    for key, value in self._conn.execute(sql, chunk):
                        found[bytes(key)] = json.loads(value)
        except (sqlite3.DatabaseError, json.JSONDecodeError) as exc:
            raise CacheError(f"Could not read the response cache {self.path}: {exc}. Delete it to rebuild.") from exc
        return [found.get(bytes(k)) for k in keys]

    def put_keys(self, keys: Sequence[bytes], values: Sequence[Any]) -> None:
        """Store JSON-serialisable ``values`` under ``keys`` in one transaction; existing keys are kept."""
        rows = [(bytes(k), json.dumps(v, ensure_ascii=False)) for k, v in zip(keys, values, strict=True)]
        try:
            with self._lock:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    self._conn.executemany("INSERT OR IGNORE INTO responses VALUES (?, ?)", rows)
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
        except sqlite3.DatabaseError as exc:
            raise CacheError(f"Could not write to the response cache {self.path}: {exc}.") from exc

    def __enter__(self) -> ResponseCache:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ResponseCache({self.path!r}, identity={self.identity!r})"


class CachedGenerator(Generator):
    """``generator`` behind a :class:`ResponseCache`; same identity and answers, misses only reach the model.

    Its :attr:`usage` and :attr:`budget` are the wrapped generator's (hits cost nothing).

    Attributes
    ----------
    hits, misses : prompts (over every call) found / not found in the cache.

    Examples
    --------
    >>> import os, tempfile
    >>> from abrec.llm import FakeGenerator
    >>> path = os.path.join(tempfile.mkdtemp(), "llm.sqlite")
    >>> first = CachedGenerator(FakeGenerator(), path)
    >>> texts = [g.text for g in first.generate(["a", "b", "a"])]
    >>> first.hits, first.misses, first.usage.calls
    (0, 3, 2)
    >>> again = CachedGenerator(FakeGenerator(), path)  # a restart
    >>> [g.text for g in again.generate(["b", "a"])] == texts[1::-1], again.usage.calls
    (True, 0)
    """

    def __init__(self, generator: Generator, cache: ResponseCache | str | os.PathLike[str]) -> None:
        if isinstance(cache, ResponseCache):
            if cache.identity != generator.identity:
                raise CacheError(
                    f"The cache {cache.path} belongs to the model {cache.identity!r}, not to {generator.identity!r}."
                )
        else:
            cache = ResponseCache(cache, identity=generator.identity)
        super().__init__(budget=generator.budget)
        self.usage = generator.usage  # one record: hits add nothing to it
        self._usage_lock = generator._usage_lock
        self.supports_answer_probabilities = generator.supports_answer_probabilities
        self.generator = generator
        self.cache = cache
        self.hits = 0
        self.misses = 0

    @property
    def identity(self) -> str:
        return self.generator.identity

    def reset_counters(self) -> None:
        """Set :attr:`hits` and :attr:`misses` to 0."""
        self.hits = self.misses = 0

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:  # pragma: no cover
        return self.generate(prompts, max_tokens=params.max_tokens, temperature=params.temperature, seed=params.seed)

    def _lookup(self, kind: str, items: list[str], params: dict[str, Any]) -> tuple[list[bytes], list[Any]]:
        keys = [response_key(self.identity, kind, p, params) for p in items]
        values = self.cache.get_keys(keys)
        found = sum(v is not None for v in values)
        self.hits += found
        self.misses += len(items) - found
        return keys, values

    def generate(
        self, prompts: Sequence[str], *, max_tokens: int = 64, temperature: float = 0.0, seed: int = 0
    ) -> list[Generation]:
        items = check_texts(prompts)
        params = SamplingParams(max_tokens=max_tokens, temperature=float(temperature), seed=seed)
        keys, values = self._lookup("generate", items, params.as_key())
        new: dict[str, Generation] = {}
        todo = list(dict.fromkeys(p for p, v in zip(items, values, strict=True) if v is None))
        if todo:
            fresh = self.generator.generate(todo, max_tokens=max_tokens, temperature=temperature, seed=seed)
            stored: dict[str, list[Any]] = {
                p: [g.text, g.prompt_tokens, g.completion_tokens] for p, g in zip(todo, fresh, strict=True)
            }
            self.cache.put_keys([keys[items.index(p)] for p in todo], [stored[p] for p in todo])
            new = {p: Generation(str(stored[p][0]), int(stored[p][1]), int(stored[p][2])) for p in todo}
        out = []
        for prompt, value in zip(items, values, strict=True):
            out.append(new[prompt] if value is None else Generation(str(value[0]), int(value[1]), int(value[2]), True))
        return out

    def answer_probabilities(self, prompts: Sequence[str], answers: Sequence[str]) -> FloatArray:
        items = check_texts(prompts)
        choices = check_answers(answers)
        keys, values = self._lookup("answers", items, {"answers": choices})
        todo = list(dict.fromkeys(p for p, v in zip(items, values, strict=True) if v is None))
        fresh: dict[str, list[float]] = {}
        if todo:
            probs = self.generator.answer_probabilities(todo, choices)
            fresh = {p: row.tolist() for p, row in zip(todo, probs, strict=True)}
            self.cache.put_keys([keys[items.index(p)] for p in todo], [fresh[p] for p in todo])
        rows = [fresh[p] if v is None else v for p, v in zip(items, values, strict=True)]
        out: npt.NDArray[np.float64] = np.array(rows, dtype=np.float64).reshape(len(items), len(choices))
        return out

    def __repr__(self) -> str:
        return f"CachedGenerator({self.generator!r}, cache={self.cache.path!r})"
