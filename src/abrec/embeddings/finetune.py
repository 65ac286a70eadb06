"""Adapt a sentence-transformers encoder to a platform's own clicks, cheaply: contrastive pairs, last layers only.

:func:`split_clicks` turns an :class:`~abrec.data.InteractionLog` and its :class:`~abrec.data.Catalog`
into training pairs (from the users not held out) and the held-out users' report data; ``abrec
finetune LOG CATALOG --out DIR`` is that, :func:`finetune_encoder` and :func:`click_auc` in a row.

Training pairs come from behaviour logs: two items clicked one after the other by the same user are a
positive pair (:func:`co_click_pairs`); the other pairs of a batch are the negatives (in-batch
negatives, the multiple-negatives ranking loss: cross-entropy of the scaled cosine similarities of
each anchor with every positive of the batch). Only the last ``last_layers`` transformer layers are
trained (every other weight frozen: for MiniLM-L6 one layer is about 1.8M of 22.7M parameters), so a
run takes minutes on a CPU, and the general knowledge of the lower layers (what makes the encoder useful for
items and users with few clicks) is kept, as is the risk of overfitting a small log low. The result is saved,
atomically (a temporary folder renamed when complete), as a new sentence-transformers folder: its
:attr:`~abrec.embeddings.SentenceTransformerEncoder.identity` hashes the folder's content, so it is
never mixed with the base model's cached vectors.

:func:`click_auc` is the held-out report: for each held-out user, the user vector is the mean of their
history's item vectors and the AUC of held-out clicked vs not-clicked items by cosine, averaged over users.
"""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ..data import Catalog, InteractionLog
from ..errors import EncoderError, InputError
from .base import Encoder

__all__ = ["ClickSplit", "FinetuneReport", "click_auc", "co_click_pairs", "finetune_encoder", "split_clicks"]


@dataclass(frozen=True)
class FinetuneReport:
    """What a fine-tuning run did: the new folder and identity, what was trained, the loss per epoch."""

    out_dir: str
    base: str
    identity: str
    pairs: int
    epochs: int
    last_layers: int
    trainable_parameters: int
    total_parameters: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0


def co_click_pairs(
    sequences: Sequence[Sequence[Any]], texts: dict[Any, str], *, max_pairs: int | None = None
) -> list[tuple[str, str]]:
    """``(text of an item, text of the next item the same user clicked)`` for every user's click sequence.

    Examples
    --------
    >>> co_click_pairs([[1, 2, 3], [3]], {1: "a", 2: "b", 3: "c"})
    [('a', 'b'), ('b', 'c')]
    """
    pairs: list[tuple[str, str]] = []
    for seq in sequences:
        items = [i for i in seq if i in texts]
        pairs.extend((texts[a], texts[b]) for a, b in itertools.pairwise(items) if a != b)
    return pairs if max_pairs is None else pairs[:max_pairs]


@dataclass(frozen=True)
class ClickSplit:
    """An interaction log made ready for fine-tuning: training pairs and the held-out users' report data.

    Item keys are the items' ids as ``str`` (so that a log's ids match a catalog's whatever their type).

    Attributes
    ----------
    pairs : ``(text, text)`` of consecutive clicks of the same training user.
    texts : the text of every item in the held-out lists.
    histories, clicked, skipped : per held-out user, the earlier half of their clicks, the later half, and
        the items they were shown and never clicked (:func:`click_auc`'s arguments).
    held_out : the held-out users (log units) in the report, in the order of the lists.
    train_users, held_out_users : users (log units) in training; held-out users in the report.
    """

    pairs: list[tuple[str, str]]
    texts: dict[str, str]
    histories: list[list[str]]
    clicked: list[list[str]]
    skipped: list[list[str]]
    held_out: list[str]
    train_users: int
    held_out_users: int


def split_clicks(log: InteractionLog, catalog: Catalog, *, holdout: float = 0.2, seed: int = 0) -> ClickSplit:
    """Training pairs from the clicks (``reward > 0``) of a random ``1 - holdout`` of the log's units, report data
    from the others (see :class:`ClickSplit`); each user's rows in time order (then position).

    Held-out users count when they have at least 2 clicks and a shown item they never clicked.

    Raises
    ------
    abrec.errors.InputError
        The log has no clicks; some logged items are not in the catalog; the training users give fewer than
        2 pairs; ``holdout > 0`` and no held-out user qualifies.

    Examples
    --------
    >>> import pandas as pd
    >>> rows = pd.DataFrame({"unit": ["u", "u", "u", "v", "v", "v"], "item": [1, 2, 3, 1, 3, 2],
    ...                      "timestamp": pd.date_range("2024-01-01", periods=6, tz="UTC"),
    ...                      "reward": [1.0, 1.0, 0.0, 1.0, 1.0, 1.0]})
    >>> items = Catalog(pd.DataFrame({"item_id": [1, 2, 3], "title": ["a", "b", "c"]}), text_columns=["title"])
    >>> split_clicks(InteractionLog(rows), items, holdout=0.0).pairs
    [('a', 'b'), ('a', 'c'), ('c', 'b')]
    """
    if not 0.0 <= holdout < 1.0:
        raise InputError(f"holdout must be a share in [0, 1). Got {holdout!r}.")
    frame = log.frame.sort_values(["unit", "timestamp", "position"], kind="stable")
    items = frame["item"].astype(str).to_numpy()
    clicks = frame["reward"].to_numpy() > 0
    if not clicks.any():
        raise InputError(f"The log has no clicks (no row with reward > 0) among its {len(frame):,} rows.")
    text_of = dict(zip(map(str, catalog.ids.tolist()), catalog.texts(), strict=True))
    missing = sorted(set(items.tolist()) - text_of.keys())
    if missing:
        raise InputError(
            f"{len(missing):,} logged items are not in the catalog (e.g. {', '.join(missing[:5])}); give the "
            "catalog that holds every item of the log."
        )
    units = frame["unit"].to_numpy()
    names = np.unique(units)
    rng = np.random.default_rng(seed)
    held = set(rng.choice(names, round(holdout * names.shape[0]), replace=False).tolist())
    sequences: list[list[str]] = []
    histories: list[list[str]] = []
    clicked: list[list[str]] = []
    skipped: list[list[str]] = []
    reported: list[str] = []
    starts = np.flatnonzero(np.r_[True, units[1:] != units[:-1]])
    for lo, hi in zip(starts.tolist(), [*starts[1:].tolist(), len(units)], strict=True):
        user_clicks = items[lo:hi][clicks[lo:hi]].tolist()
        if units[lo] not in held:
            sequences.append(user_clicks)
            continue
        never = sorted(set(items[lo:hi][~clicks[lo:hi]].tolist()) - set(user_clicks))
        if len(user_clicks) >= 2 and never:
            cut = len(user_clicks) // 2
            histories.append(user_clicks[:cut])
            clicked.append(user_clicks[cut:])
            skipped.append(never)
            reported.append(str(units[lo]))
    pairs = co_click_pairs(sequences, text_of)
    if len(pairs) < 2:
        raise InputError(
            f"The training users' clicks give {len(pairs)} pair(s) of consecutive clicks of the same user; "
            "fine-tuning needs at least 2 (a log with more clicks per user, or a smaller holdout)."
        )
    if held and not histories:
        raise InputError(
            f"None of the {len(held):,} held-out users has 2 clicks and a shown item they did not click, so there is "
            "no held-out report; raise the holdout share, or set it to 0 to skip the report."
        )
    report_items = {i for rows in (*histories, *clicked, *skipped) for i in rows}
    return ClickSplit(
        pairs=pairs,
        texts={i: text_of[i] for i in sorted(report_items)},
        histories=histories,
        clicked=clicked,
        skipped=skipped,
        held_out=reported,
        train_users=len(sequences),
        held_out_users=len(histories),
    )


def finetune_encoder(
    model_path: str | os.PathLike[str],
    pairs: Sequence[tuple[str, str]],
    out_dir: str | os.PathLike[str],
    *,
    last_layers: int = 1,
    epochs: int = 1,
    batch_size: int = 32,
    learning_rate: float = 5e-5,
    scale: float = 20.0,
    seed: int = 0,
    progress: Callable[[int, int], None] | None = None,
) -> FinetuneReport:
    """Train the last ``last_layers`` layers of the model at ``model_path`` on ``pairs``; save it to ``out_dir``.

    ``progress(done, total)`` is called after every batch (a CLI draws a bar with it). The model is written to
    a temporary folder next to ``out_dir`` and renamed to it when complete: an error leaves nothing behind.

    Raises
    ------
    abrec.errors.InputError
        Fewer than 2 pairs, ``out_dir`` is the base model's folder, or it exists and is not empty.
    abrec.errors.EncoderError
        sentence-transformers is missing, or the model has no transformer layers to train.
    """
    if len(pairs) < 2:
        raise InputError(f"Fine-tuning needs at least 2 pairs of co-clicked items. Got {len(pairs)}.")
    if Path(out_dir).resolve() == Path(model_path).resolve():
        raise InputError("out_dir must differ from the base model's folder: the base model is never overwritten.")
    out = Path(out_dir)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"{out} already exists and is not an empty folder; choose a new folder for the new model.")
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise EncoderError("Fine-tuning needs the 'llm' extra: pip install 'abrec[llm]'.") from exc
    from .sentence_transformer import SentenceTransformerEncoder

    base_identity = SentenceTransformerEncoder(str(model_path), device="cpu").identity
    torch.manual_seed(seed)
    model = SentenceTransformer(str(model_path), device="cpu", local_files_only=True)
    layers = _transformer_layers(model)
    if not layers or last_layers < 1 or last_layers > len(layers):
        raise EncoderError(f"last_layers must be in [1, {len(layers)}] for this model. Got {last_layers}.")
    for p in model.parameters():
        p.requires_grad_(False)
    trainable = [p for layer in layers[-last_layers:] for p in layer.parameters()]
    for p in trainable:
        p.requires_grad_(True)
    optimizer = torch.optim.AdamW(trainable, lr=learning_rate)
    rng = np.random.default_rng(seed)
    n_batches = (len(pairs) + batch_size - 1) // batch_size
    total = n_batches * epochs
    losses: list[float] = []
    start = time.perf_counter()
    model.train()
    done = 0
    for _ in range(epochs):
        order = rng.permutation(len(pairs))
        epoch_loss = 0.0
        for b in range(n_batches):
            rows = order[b * batch_size : (b + 1) * batch_size]
            if rows.shape[0] < 2:
                continue
            anchors = _embed(model, [pairs[i][0] for i in rows])
            positives = _embed(model, [pairs[i][1] for i in rows])
            sims = scale * anchors @ positives.T
            loss = torch.nn.functional.cross_entropy(sims, torch.arange(rows.shape[0]))
            optimizer.zero_grad()
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            epoch_loss += float(loss.detach()) * rows.shape[0]
            done += 1
            if progress is not None:
                progress(done, total)
        losses.append(epoch_loss / len(pairs))
    model.eval()
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent))
    try:
        model.save(str(staging))
        if out.is_dir():
            out.rmdir()  # empty, checked above
        staging.rename(out)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    identity = SentenceTransformerEncoder(str(out), device="cpu").identity
    return FinetuneReport(
        out_dir=str(out_dir),
        base=base_identity,
        identity=identity,
        pairs=len(pairs),
        epochs=epochs,
        last_layers=last_layers,
        trainable_parameters=sum(int(p.numel()) for p in trainable),
        total_parameters=sum(int(p.numel()) for p in model.parameters()),
        losses=losses,
        seconds=time.perf_counter() - start,
    )


def _transformer_layers(model: Any) -> list[Any]:
    auto = getattr(model[0], "auto_model", None)
    encoder = getattr(auto, "encoder", None)
    layers = getattr(encoder, "layer", None) or getattr(encoder, "layers", None)
    return list(layers) if layers is not None else []


def _embed(model: Any, texts: list[str]) -> Any:
    import torch

    prepare = getattr(model, "preprocess", None) or model.tokenize  # `tokenize` is deprecated in newer releases
    features = prepare(texts)
    out = model(features)["sentence_embedding"]
    return torch.nn.functional.normalize(out, dim=1)


def click_auc(
    encoder: Encoder,
    texts: dict[Any, str],
    histories: Sequence[Sequence[Any]],
    clicked: Sequence[Sequence[Any]],
    skipped: Sequence[Sequence[Any]],
) -> float:
    """Mean over users of the AUC of held-out clicked vs skipped items, scored by cosine to the history's mean vector.

    Examples
    --------
    >>> from abrec.embeddings import FakeEncoder
    >>> enc = FakeEncoder(dim=4, handler=lambda t: [[1.0, 0, 0, 0] if "red" in x else [0, 1.0, 0, 0] for x in t])
    >>> texts = {1: "red a", 2: "red b", 3: "blue c"}
    >>> click_auc(enc, texts, [[1]], [[2]], [[3]])
    1.0
    """
    keys = list(texts)
    vectors = encoder.encode([texts[k] for k in keys])
    row = {k: i for i, k in enumerate(keys)}
    aucs = []
    for hist, pos, neg in zip(histories, clicked, skipped, strict=True):
        h = [row[i] for i in hist if i in row]
        p = np.array([row[i] for i in pos if i in row], dtype=np.int64)
        n = np.array([row[i] for i in neg if i in row], dtype=np.int64)
        if not h or p.size == 0 or n.size == 0:
            continue
        user: npt.NDArray[np.float32] = vectors[h].mean(axis=0)
        sp, sn = vectors[p] @ user, vectors[n] @ user
        diff = sp[:, None] - sn[None, :]
        aucs.append(float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size))
    if not aucs:
        raise InputError("click_auc found no user with a history, a clicked and a skipped item among the texts.")
    return float(np.mean(aucs))
