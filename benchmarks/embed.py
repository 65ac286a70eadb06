"""Workload ``embed``: encoding throughput of the 1,682 MovieLens-100K item texts with all-MiniLM-L6-v2.

Measured in one process, interleaved to share the machine's noise:

- ``sentence_transformers_direct``: ``SentenceTransformer(model).encode(texts, batch_size=64,
  normalize_embeddings=True)``, the baseline;
- ``abrec_minilm``: abrec's ``SentenceTransformerEncoder`` on the same folder, batch 64; its line carries
  ``ratio_vs_direct`` (items/s over the baseline's; target >= 0.95: the wrapper adds no cost);
- ``abrec_minilm_cache_cold`` / ``abrec_minilm_cache_warm``: the same through an empty on-disk cache, then a
  fresh encoder object on the filled cache (a restart); the warm line carries ``speedup_vs_encoding``
  (target >= 100);
- ``abrec_hashing``: the light encoder, for scale.

Each timing is the median of ``--seeds`` repetitions (default 3 here). MovieLens is read from
``<repo>/../shared/data/ml-100k`` (or ``$ABREC_SHARED/data/ml-100k``); it is never shipped.
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import w1
from abrec.data import load_movielens
from abrec.embeddings import CachedEncoder, HashingEncoder, SentenceTransformerEncoder, minilm_path

BATCH = 64


def _median_seconds(run: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _line(system: str, items: int, seconds: float, **extra: Any) -> dict[str, Any]:
    return {
        "workload": "embed",
        "system": system,
        "items": items,
        "seconds": round(seconds, 4),
        "items_per_s": round(items / seconds, 1),
        **extra,
    }


def run(options: w1.Options) -> Iterator[dict[str, Any]]:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    folder = w1.shared_dir() / "data" / "ml-100k"
    if not folder.is_dir():
        raise w1.MissingDataError(
            f"MovieLens-100K not found at {folder}; set ABREC_SHARED to the folder holding data/."
        )
    texts = load_movielens(folder).catalog.texts()
    n = len(texts)
    repeats = max(3, len(options.seeds))
    import torch
    from sentence_transformers import SentenceTransformer

    path = minilm_path()
    direct = SentenceTransformer(path, device="cpu")
    ours = SentenceTransformerEncoder(path, device="cpu", batch_size=BATCH)
    direct.encode(texts[:BATCH], batch_size=BATCH, normalize_embeddings=True)  # warm-up
    ours.encode(texts[:BATCH])
    print(f"[embed] {n} texts, torch threads {torch.get_num_threads()}, {repeats} repeats", file=sys.stderr)
    direct_times, our_times = [], []
    for _ in range(repeats):  # interleaved, so both see the same machine
        direct_times.append(
            _median_seconds(lambda: direct.encode(texts, batch_size=BATCH, normalize_embeddings=True), 1)
        )
        our_times.append(_median_seconds(lambda: ours.encode(texts), 1))
    t_direct, t_ours = statistics.median(direct_times), statistics.median(our_times)
    yield _line("sentence_transformers_direct", n, t_direct, batch=BATCH, torch_threads=torch.get_num_threads())
    yield _line("abrec_minilm", n, t_ours, batch=BATCH, ratio_vs_direct=round(t_direct / t_ours, 3), target=0.95)
    with tempfile.TemporaryDirectory() as tmp:
        cache = Path(tmp) / "cache.sqlite"
        cold = CachedEncoder(ours, cache)
        t_cold = _median_seconds(lambda: cold.encode(texts), 1)
        cold.cache.close()
        warm_times = []
        for _ in range(repeats):
            warm = CachedEncoder(ours, cache)  # a restart: a new object on the filled file
            warm_times.append(_median_seconds(lambda warm=warm: warm.encode(texts), 1))
            assert warm.model_calls == 0, "the warm run must not call the model"
            warm.cache.close()
        t_warm = statistics.median(warm_times)
    yield _line("abrec_minilm_cache_cold", n, t_cold, ratio_vs_direct=round(t_direct / t_cold, 3))
    yield _line(
        "abrec_minilm_cache_warm", n, t_warm, model_calls=0, speedup_vs_encoding=round(t_ours / t_warm, 1), target=100
    )
    hashing = HashingEncoder()
    hashing.encode(texts[:10])
    yield _line("abrec_hashing", n, _median_seconds(lambda: hashing.encode(texts), repeats), dim=hashing.dim)
