"""A deterministic fake generator for tests, shipped in the package (like :class:`abrec.embeddings.FakeEncoder`).

:class:`FakeGenerator` needs no model. By default its reply to a prompt is a few words drawn from the
SHA-256 of (prompt, and at ``temperature > 0`` the seed), and its answer log-scores are drawn the
same way; a ``reply`` or ``scores`` function can give chosen answers instead (e.g. a planted prior).
It records every batch it was asked for, so a test can count model calls.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt

from .base import CallBudget, Generation, Generator, SamplingParams

__all__ = ["FakeGenerator"]

_WORDS = ("yes", "no", "maybe", "movie", "great", "boring", "watch", "skip", "love", "fine", "one", "two")


def _digest(*parts: str) -> np.random.Generator:
    seed = int.from_bytes(hashlib.sha256("\x00".join(parts).encode("utf-8", "surrogatepass")).digest()[:16], "little")
    return np.random.Generator(np.random.PCG64(seed))


class FakeGenerator(Generator):
    """Deterministic fake generator; records the batches it was asked for.

    Parameters
    ----------
    reply : optional ``reply(prompt, params) -> str`` (the text before truncation to
        ``params.max_tokens`` words); default a few words drawn from the prompt's digest.
    scores : optional ``scores(prompt, answers) -> log-scores`` (one per answer); default drawn
        from the digest of (prompt, answer).
    name : part of :attr:`identity`; two fakes with different names have different caches.
    budget : see :class:`~abrec.llm.base.Generator`.

    Attributes
    ----------
    calls : list of ``(kind, prompts)`` batches, oldest first (kind ``"generate"`` or ``"answers"``).

    Examples
    --------
    >>> fake = FakeGenerator()
    >>> fake.generate(["Hi"])[0].text == fake.generate(["Hi"])[0].text, len(fake.calls)
    (True, 2)
    >>> fake = FakeGenerator(scores=lambda prompt, answers: [0.0, 1.0])
    >>> fake.answer_probabilities(["Like it?"], ["no", "yes"]).round(3)
    array([[0.269, 0.731]])
    """

    supports_answer_probabilities = True

    def __init__(
        self,
        *,
        reply: Callable[[str, SamplingParams], str] | None = None,
        scores: Callable[[str, list[str]], Sequence[float] | npt.ArrayLike] | None = None,
        name: str = "fake",
        budget: CallBudget | int | None = None,
    ) -> None:
        super().__init__(budget=budget)
        self.reply = reply
        self.scores = scores
        self.name = name
        self.calls: list[tuple[str, list[str]]] = []

    @property
    def identity(self) -> str:
        return f"abrec-fake-generator-v1(name={self.name})"

    def _text(self, prompt: str, params: SamplingParams) -> str:
        if self.reply is not None:
            text = self.reply(prompt, params)
        else:
            salt = str(params.seed) if params.temperature > 0 else ""
            rng = _digest(prompt, salt, f"{params.temperature:.6g}" if salt else "")
            text = " ".join(_WORDS[i] for i in rng.integers(0, len(_WORDS), size=8))
        return " ".join(text.split(" ")[: params.max_tokens])

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        self.calls.append(("generate", list(prompts)))
        out = []
        for prompt in prompts:
            text = self._text(prompt, params)
            out.append(Generation(text, len(prompt.split()), len(text.split())))
        return out

    def _answer_logprobs(self, prompts: list[str], answers: list[str]) -> npt.ArrayLike:
        self.calls.append(("answers", list(prompts)))
        if self.scores is not None:
            return np.array([np.asarray(self.scores(p, list(answers)), dtype=np.float64) for p in prompts])
        return np.array([[_digest(p, a).normal() for a in answers] for p in prompts]).reshape(len(prompts), -1)
