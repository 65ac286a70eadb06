"""``abrec finetune``: adapt a sentence-transformers encoder to an interaction log's clicks.

Reads the log and the catalog, holds out a share of the users, trains the encoder's last transformer
layer(s) on pairs of consecutive clicks of the other users (:mod:`abrec.embeddings.finetune`), writes the
new model folder atomically, and prints the held-out report: click AUC of the frozen and the fine-tuned
encoder on the held-out users, pairs, trainable parameters and seconds. The folder then works wherever
abrec takes an encoder (``--encoder DIR``, ``encoder: DIR``).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Annotated

import typer

from .._params import Constraint, Interval, validate_params
from ..data import Catalog, InteractionLog
from ..errors import InputError
from ._output import Progress, check_folder

_PARAMETERS = {
    "last_layers": Interval("int", 1),
    "epochs": Interval("int", 1),
    "holdout": Interval("float", 0.0, 1.0, closed="left"),
    "batch_size": Interval("int", 2),
    "learning_rate": Interval("float", 0.0, 1.0, closed="right"),
    "max_pairs": Constraint("int", 2, optional=True),
}


def _base_path(base: str) -> str:
    from ..embeddings import minilm_path

    if base == "minilm":
        return minilm_path()
    if os.path.isdir(base):
        return base
    raise InputError(f"--base {base}: give 'minilm' (the bundled all-MiniLM-L6-v2) or a sentence-transformers folder.")


def finetune(
    log: Annotated[Path, typer.Argument(help="Interaction log (.parquet, .csv or .csv.gz); clicks = reward > 0.")],
    catalog: Annotated[Path, typer.Argument(help="Catalog file (.csv, .csv.gz or .parquet) with every logged item.")],
    out: Annotated[
        Path, typer.Option("--out", metavar="DIR", help="New model folder to write (must not exist, or be empty).")
    ],
    base: Annotated[
        str,
        typer.Option(
            metavar="MODEL", help="Encoder to adapt: minilm (the bundled all-MiniLM-L6-v2) or a model folder."
        ),
    ] = "minilm",
    last_layers: Annotated[
        int,
        typer.Option(
            metavar="N", help="Transformer layers trained, counted from the top; every other weight stays frozen."
        ),
    ] = 1,
    epochs: Annotated[int, typer.Option(metavar="E", help="Passes over the training pairs.")] = 1,
    holdout: Annotated[
        float, typer.Option(metavar="F", help="Share of the users held out of training for the report.")
    ] = 0.2,
    seed: Annotated[
        int, typer.Option(metavar="S", help="Seed of the held-out users, the pair order and the weights' updates.")
    ] = 0,
    batch_size: Annotated[int, typer.Option(help="Pairs per batch (the other pairs of a batch are negatives).")] = 32,
    learning_rate: Annotated[float, typer.Option(help="AdamW learning rate.")] = 5e-5,
    max_pairs: Annotated[int | None, typer.Option(help="Train on at most this many pairs (a random sample).")] = None,
    text_columns: Annotated[
        str | None, typer.Option(help="Comma-separated text columns (CSV catalogs; Parquet ones remember theirs).")
    ] = None,
    id_column: Annotated[str | None, typer.Option(help="Item id column of the catalog (default item_id).")] = None,
) -> None:
    """Fine-tune an encoder on LOG's clicks; write it to --out and print a held-out report.

    Only the last --last-layers transformer layers are trained (default 1: for MiniLM about 1.8M of 22.7M
    weights), on pairs of items one user clicked one after the other, the other pairs of each batch
    serving as negatives. Training the top only takes minutes on a CPU, keeps what the lower layers know
    of language (what makes text useful for new items and users) and does not overfit a small log.
    The new folder has its own identity, so its vectors are never mixed with the base model's in a cache;
    use it as --encoder DIR (or encoder: DIR in a config).
    """
    from ..embeddings import SentenceTransformerEncoder
    from ..embeddings.finetune import click_auc, finetune_encoder, split_clicks

    validate_params(
        "abrec finetune",
        _PARAMETERS,
        {
            "last_layers": last_layers,
            "epochs": epochs,
            "holdout": holdout,
            "batch_size": batch_size,
            "learning_rate": learning_rate,
            "max_pairs": max_pairs,
        },
    )
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise InputError(f"--out {out}: already exists and is not an empty folder; choose a new folder.")
    check_folder(out.parent, f"--out {out}")
    columns = [c.strip() for c in text_columns.split(",") if c.strip()] if text_columns else None
    items = Catalog.read(catalog, id_column=id_column, text_columns=columns)
    split = split_clicks(InteractionLog.read(log), items, holdout=holdout, seed=seed)
    pairs = split.pairs
    if max_pairs is not None and len(pairs) > max_pairs:
        import numpy as np

        keep = np.random.default_rng(seed).permutation(len(pairs))[:max_pairs]
        pairs = [pairs[i] for i in sorted(keep.tolist())]
    base_path = _base_path(base)
    start = time.perf_counter()
    frozen = SentenceTransformerEncoder(base_path, device="cpu")
    args = (split.texts, split.histories, split.clicked, split.skipped)
    auc_frozen = click_auc(frozen, *args) if split.held_out_users else None
    with Progress("fine-tuning", "batch") as progress:
        report = finetune_encoder(
            base_path,
            pairs,
            out,
            last_layers=last_layers,
            epochs=epochs,
            batch_size=batch_size,
            learning_rate=learning_rate,
            seed=seed,
            progress=progress,
        )
    tuned = SentenceTransformerEncoder(str(out), device="cpu")
    auc_tuned = click_auc(tuned, *args) if split.held_out_users else None
    seconds = time.perf_counter() - start
    typer.echo(f"Fine-tuned {report.base} -> {out}")
    typer.echo(f"  identity: {report.identity}")
    typer.echo(
        f"  trained: the last {report.last_layers} transformer layer(s), {report.trainable_parameters:,} of "
        f"{report.total_parameters:,} parameters; {report.epochs} epoch(s) on {report.pairs:,} pairs of "
        f"consecutive clicks from {split.train_users:,} users; loss {report.losses[0]:.4f} -> {report.losses[-1]:.4f}"
    )
    if auc_frozen is not None and auc_tuned is not None:
        typer.echo(
            f"  held-out click AUC ({split.held_out_users:,} users, clicked vs shown and never clicked): "
            f"frozen {auc_frozen:.4f}, fine-tuned {auc_tuned:.4f} ({auc_tuned - auc_frozen:+.4f})"
        )
    else:
        typer.echo("  held-out click AUC: not measured (--holdout 0)")
    typer.echo(f"  seconds: {report.seconds:.1f} training, {seconds:.1f} in all")
    typer.echo(f"Use it with --encoder {out} (or encoder: {out} in a config).")
