"""Encoder fine-tuning on behaviour logs: last layers only, a new folder with its own identity, a held-out report.

Runs the real bundled all-MiniLM-L6-v2 on a handful of pairs (seconds on a CPU); the full-size run
(MovieLens co-clicks, held-out click AUC frozen vs fine-tuned) is in ``make bench BENCH=llm``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from _shared import bundled_minilm
from abrec.embeddings import SentenceTransformerEncoder, minilm_path
from abrec.embeddings.finetune import click_auc, co_click_pairs, finetune_encoder
from abrec.errors import InputError

TEXTS = {
    i: t
    for i, t in enumerate(
        [
            "Alien (1979). Genres: Sci-Fi, Horror.",
            "Aliens (1986). Genres: Sci-Fi, Action.",
            "Toy Story (1995). Genres: Animation, Children's.",
            "The Lion King (1994). Genres: Animation, Children's.",
            "Heat (1995). Genres: Crime, Thriller.",
            "Casino (1995). Genres: Crime, Drama.",
            "Babe (1995). Genres: Children's, Comedy.",
            "Terminator 2 (1991). Genres: Sci-Fi, Action.",
        ]
    )
}


@pytest.fixture(scope="module")
def minilm() -> Iterator[SentenceTransformerEncoder]:
    yield from bundled_minilm()


def test_last_layer_only_new_identity_and_the_base_untouched(
    minilm: SentenceTransformerEncoder, tmp_path: Path
) -> None:
    import torch

    sequences = [[0, 1, 7], [2, 3, 6], [4, 5], [1, 7, 0], [3, 2, 6], [5, 4]]
    pairs = co_click_pairs(sequences, TEXTS)
    assert len(pairs) == 10 and pairs[0] == (TEXTS[0], TEXTS[1])
    base_before = {k: v.clone() for k, v in minilm.model.state_dict().items()}
    report = finetune_encoder(minilm_path(), pairs, tmp_path / "tuned", epochs=3, batch_size=5, learning_rate=1e-3)
    assert report.identity != report.base and report.base == minilm.identity
    assert report.trainable_parameters < report.total_parameters / 5
    assert report.losses[-1] < report.losses[0], f"the loss did not fall: {report.losses}"
    tuned = SentenceTransformerEncoder(str(tmp_path / "tuned"), device="cpu")
    assert tuned.identity == report.identity
    changed = {k for k, v in tuned.model.state_dict().items() if not torch.equal(v.cpu(), base_before[k].cpu())}
    assert changed and all("layer.5." in k for k in changed), f"weights outside the last layer changed: {changed}"
    again = SentenceTransformerEncoder(minilm_path(), device="cpu")
    assert again.identity == minilm.identity, "the base model's folder was modified"
    assert not np.allclose(tuned.encode([TEXTS[0]]), minilm.encode([TEXTS[0]]))
    with pytest.raises(InputError, match="never overwritten"):
        finetune_encoder(minilm_path(), pairs, minilm_path())


def test_click_auc_ranks_by_the_history_vector(minilm: SentenceTransformerEncoder) -> None:
    auc = click_auc(minilm, TEXTS, [[0, 1], [2, 3]], [[7], [6]], [[6, 5], [4, 0]])
    assert auc == 1.0
    with pytest.raises(InputError, match="no user"):
        click_auc(minilm, TEXTS, [[99]], [[7]], [[6]])
