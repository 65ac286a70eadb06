"""The local SmolLM2 backend (llama.cpp in process): exact answer scoring, identity, errors, item priors.

A handful of short calls on the real model (it is slow on 2 shared cores); the conformance suite
(``test_llm_conformance.py``) runs the rest of the protocol on it.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from abrec.llm import GenerationError, LlamaCppGenerator, item_priors
from abrec.llm.local import file_digest


def test_answer_scoring_agrees_with_greedy_generation(smollm2: LlamaCppGenerator) -> None:
    prompts = ["Is fire cold? Answer Yes or No.", "How appealing is Toy Story to children? Answer with a digit 1 to 5."]
    answers = [["Yes", "No"], ["1", "2", "3", "4", "5"]]
    replies = smollm2.generate(prompts, max_tokens=2)
    for prompt, choices, reply in zip(prompts, answers, replies, strict=True):
        probs = smollm2.answer_probabilities([prompt], choices)[0]
        first = next((c for c in choices if reply.text.strip().startswith(c)), None)
        assert first is not None, f"the greedy reply {reply.text!r} starts with none of {choices}"
        assert choices[int(np.argmax(probs))] == first, f"scores {probs} disagree with the greedy reply {reply.text!r}"
    # A multi-token answer is scored token by token; the shared answers keep their ratio (exact, not sampled).
    two = smollm2.answer_probabilities(prompts[:1], ["Yes", "No"])[0]
    three = smollm2.answer_probabilities(prompts[:1], ["Yes", "No", "Absolutely not"])[0]
    assert three[:2] / three[:2].sum() == pytest.approx(two, abs=1e-6) and 0 < three[2] < 1


def test_identity_follows_the_file_content(smollm2: LlamaCppGenerator, tmp_path: Path) -> None:
    copy = tmp_path / "copy.gguf"
    shutil.copyfile(smollm2.model_path, copy)
    assert file_digest(copy) == file_digest(smollm2.model_path)
    with copy.open("r+b") as fh:
        fh.seek(-10, 2)
        fh.write(b"\x00" * 10)
    assert file_digest(copy) != file_digest(smollm2.model_path)
    with pytest.raises(GenerationError, match="No GGUF model file"):
        LlamaCppGenerator(tmp_path / "missing.gguf")


def test_item_priors_from_smollm2_are_probabilities(smollm2: LlamaCppGenerator) -> None:
    smollm2.reset_usage()
    priors = item_priors(smollm2, [1, 2], ["Toy Story (1995). Genres: Animation, Children's.", "Heat (1995)."])
    assert priors.probabilities.shape == (2, 5) and np.allclose(priors.probabilities.sum(axis=1), 1.0)
    assert ((priors.mean >= 0.02) & (priors.mean <= 0.30)).all() and smollm2.usage.calls == 2
