"""``abrec embed``: encode a catalog file into an embeddings file, through the on-disk cache.

Every encoded text goes to the cache as soon as its batch is done, so an interrupted run resumes
where it stopped, and a second run over the same catalog makes no model calls.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from ..data import Catalog
from ..embeddings import CachedEncoder, EmbeddingCache, encoder_cache_path, item_features, make_encoder
from ..embeddings.files import write_embeddings
from ..errors import InputError
from ._output import EMBEDDINGS, Progress, check_folder, check_output, writing


def default_cache_dir() -> Path:
    """``$ABREC_CACHE_DIR``, else ``$XDG_CACHE_HOME/abrec``, else ``~/.cache/abrec``."""
    if os.environ.get("ABREC_CACHE_DIR"):
        return Path(os.environ["ABREC_CACHE_DIR"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "abrec"


def embed(
    catalog: Annotated[Path, typer.Argument(help="Catalog file (.csv, .csv.gz or .parquet).")],
    out: Annotated[Path, typer.Argument(help="Embeddings file to write (.npz or .parquet).")],
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
    check_output(out, "OUT", EMBEDDINGS)
    if cache is not None:
        if cache.is_dir():
            raise InputError(f"--cache {cache}: is a folder; give the cache's file name.")
        check_folder(cache.parent, f"--cache {cache}")
    columns = [c.strip() for c in text_columns.split(",") if c.strip()] if text_columns else None
    items = Catalog.read(catalog, id_column=id_column, text_columns=columns)
    options = {"device": device} if device and encoder not in ("hashing", "fake") else {}
    model = make_encoder(encoder, notify=lambda line: typer.echo(line, err=True), **options)
    cache = cache or encoder_cache_path(default_cache_dir() / "embeddings", model)
    cache.parent.mkdir(parents=True, exist_ok=True)
    with EmbeddingCache(cache, identity=model.identity, dim=model.dim) as store:
        cached = CachedEncoder(model, store)
        with Progress("encoding", "new text") as progress:
            features = item_features(items, cached, batch_size=batch_size, progress=progress)
    texts = features.ids
    with writing(out) as (tmp,):
        assert tmp is not None
        write_embeddings(tmp, features, model.identity)
    typer.echo(
        f"Encoded {len(texts):,} items ({cached.texts_encoded:,} texts by the model in {cached.model_calls} calls, "
        f"{cached.hits:,} from the cache) with {model.identity} -> {out} ({model.dim}-d)."
    )
