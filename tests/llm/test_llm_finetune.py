"""Encoder fine-tuning on behaviour logs: last layers only, a new folder with its own identity, a held-out report.

Runs the real bundled all-MiniLM-L6-v2 on a handful of pairs (seconds on a CPU); the full-size run
(MovieLens co-clicks, held-out click AUC frozen vs fine-tuned) is in ``make bench BENCH=llm``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from _shared import bundled_minilm
from abrec.data import Catalog, InteractionLog
from abrec.embeddings import SentenceTransformerEncoder, minilm_path
from abrec.embeddings.finetune import click_auc, co_click_pairs, finetune_encoder, split_clicks
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


def _log(rows: list[tuple[str, int, int, float]]) -> InteractionLog:
    frame = pd.DataFrame(rows, columns=["unit", "item", "hour", "reward"])
    frame["timestamp"] = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(frame.pop("hour"), unit="h")
    return InteractionLog(frame)


def test_split_clicks_keeps_held_out_users_out_of_the_pairs() -> None:
    catalog = Catalog(pd.DataFrame({"item_id": list(TEXTS), "title": list(TEXTS.values())}), text_columns=["title"])
    rng = np.random.default_rng(1)
    rows = [  # every user is shown the 8 items and clicks 4 of them
        (f"u{user}", item, hour, float(hour % 2 == 0))
        for user in range(40)
        for hour, item in enumerate(rng.permutation(8).tolist())
    ]
    log = _log(rows[::-1])  # the split puts each user's rows in time order itself
    split = split_clicks(log, catalog, holdout=0.25, seed=3)
    frame = log.frame.sort_values(["unit", "timestamp"])
    clicked = {u: g[g["reward"] > 0]["item"].tolist() for u, g in frame.groupby("unit")}
    shown = {u: g["item"].tolist() for u, g in frame.groupby("unit")}
    assert (split.train_users, split.held_out_users, len(set(split.held_out))) == (30, 10, 10)
    # The pairs are exactly those of the users not held out.
    train = [clicked[u] for u in sorted(clicked) if u not in split.held_out]
    assert sorted(split.pairs) == sorted(co_click_pairs(train, TEXTS))
    # Each held-out user's lists: earlier half of their clicks, later half, shown and never clicked.
    for user, hist, pos, neg in zip(split.held_out, split.histories, split.clicked, split.skipped, strict=True):
        mine = [str(i) for i in clicked[user]]
        assert hist + pos == mine and len(hist) == len(mine) // 2
        assert neg == sorted({str(i) for i in shown[user]} - set(mine))
    assert set(split.texts) == {
        i for lists in (split.histories, split.clicked, split.skipped) for r in lists for i in r
    }
    assert split_clicks(log, catalog, holdout=0.25, seed=4).held_out != split.held_out


def test_split_clicks_errors() -> None:
    catalog = Catalog(pd.DataFrame({"item_id": [0, 1, 2], "title": ["a", "b", "c"]}), text_columns=["title"])
    with pytest.raises(InputError, match="no clicks"):
        split_clicks(_log([("u", 0, 0, 0.0), ("u", 1, 1, 0.0)]), catalog)
    with pytest.raises(InputError, match=r"1 logged items are not in the catalog \(e.g. 9\)"):
        split_clicks(_log([("u", 0, 0, 1.0), ("u", 9, 1, 1.0)]), catalog)
    with pytest.raises(InputError, match="give 1 pair"):
        split_clicks(_log([("u", 0, 0, 1.0), ("u", 1, 1, 1.0)]), catalog, holdout=0.0)
    rows = [(u, i, h, 1.0) for u in ("a", "b", "c") for h, i in enumerate([0, 1, 2])]
    with pytest.raises(InputError, match="None of the 1 held-out users"):
        split_clicks(_log(rows), catalog, holdout=0.34)
