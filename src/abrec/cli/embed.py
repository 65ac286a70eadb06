"""``abrec embed``: encode a catalog file into an embeddings file, through the on-disk cache.

Every encoded text goes to the cache as soon as its batch is done, so an interrupted run resumes
where it stopped, and a second run over the same catalog makes no model calls.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from ..data import Catalog
from ..embeddings import CachedEncoder, EmbeddingCache, encoder_cache_path, item_features, make_encoder
from ..embeddings.files import write_embeddings


def default_cache_dir() -> Path:
    """``$ABREC_CACHE_DIR``, else ``$XDG_CACHE_HOME/abrec``, else ``~/.cache/abrec``."""
    if os.environ.get("ABREC_CACHE_DIR"):
        return Path(os.environ["ABREC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "abrec"


class _MissesProgress:
    """A progress bar over the texts the cache lacks, opened when the first batch starts."""

    def __init__(self) -> None:
        self.bar: Any = None
        self.done = 0

    def __call__(self, done: int, total: int) -> None:
        if self.bar is None:
            self.bar = typer.progressbar(length=total, label=f"Encoding {total:,} new texts", file=sys.stderr)
            self.bar.__enter__()
        self.bar.update(done - self.done)
        self.done = done

    def close(self) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)


def embed(
    catalog: Annotated[
        Path, typer.Argument(help="Catalog file (.csv, .csv.gz or .parquet).", exists=True, dir_okay=False)
    ],
    out: Annotated[Path, typer.Argument(help="Embeddings file to write (.npz or .parquet).", dir_okay=False)],
    encoder: Annotated[
        str, typer.Option(help="auto, minilm, hashing, sentence-transformers:<name or path>, or a model folder.")
    ] = "auto",
    text_columns: Annotated[
        str | None, typer.Option(help="Comma-separated text columns (CSV catalogs; Parquet ones remember theirs).")
    ] = None,
    id_column: Annotated[str | None, typer.Option(help="Item id column (default item_id).")] = None,
    cache: Annotated[
        Path | None,
        typer.Option(help="Cache file (default: one per encoder under $ABREC_CACHE_DIR or ~/.cache/abrec)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(min=1, help="Texts per model call.")] = 64,
    device: Annotated[
        str | None, typer.Option(help="cpu, cuda, cuda:1, ... (default: a GPU if torch sees one).")
    ] = None,
) -> None:
    """Encode every item's text; write ids + float32 vectors (and the encoder identity) to OUT."""
    columns = [c.strip() for c in text_columns.split(",") if c.strip()] if text_columns else None
    items = Catalog.read(catalog, id_column=id_column, text_columns=columns)
    options = {"device": device} if device and encoder not in ("hashing", "fake") else {}
    model = make_encoder(encoder, notify=lambda line: typer.echo(line, err=True), **options)
    cache = cache or encoder_cache_path(default_cache_dir() / "embeddings", model)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with EmbeddingCache(cache, identity=model.identity, dim=model.dim) as store:
        cached = CachedEncoder(model, store)
        progress = _MissesProgress()
        try:
            features = item_features(items, cached, batch_size=batch_size, progress=progress)
        finally:
            progress.close()
    texts = features.ids
    write_embeddings(out, features, model.identity)
    typer.echo(
        f"Encoded {len(texts):,} items ({cached.texts_encoded:,} texts by the model in {cached.model_calls} calls, "
        f"{cached.hits:,} from the cache) with {model.identity} -> {out} ({model.dim}-d)."
    )
