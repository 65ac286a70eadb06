"""Any OpenAI-compatible chat endpoint (OpenAI, vLLM, llama.cpp's server, Ollama, ...), over httpx.

Configuration comes from the arguments or, where they are None, from the environment:

==========================  ============================================================
``base_url``                ``$ABREC_LLM_BASE_URL``, else ``$OPENAI_BASE_URL`` (e.g. ``http://127.0.0.1:8080/v1``)
``model``                   ``$ABREC_LLM_MODEL``
``api_key``                 ``$ABREC_LLM_API_KEY``, else ``$OPENAI_API_KEY`` (may be empty for local servers)
==========================  ============================================================

Each prompt is one ``POST {base_url}/chat/completions`` with a single user message. Requests run
``max_concurrency`` at a time (threads); each gets ``timeout`` seconds and up to ``max_retries``
retries on timeouts, connection errors and HTTP 408, 409, 429 and 5xx (exponential back-off,
``Retry-After`` honoured); any other HTTP error fails at once with the server's message. Token
counts are the server's ``usage``; cost is ``prompt_tokens * price_prompt + completion_tokens *
price_completion`` per million tokens (US dollars; both 0 unless given).

Answer probabilities use the endpoint's ``logprobs``: one token is generated at temperature 0 with
``top_logprobs=20`` and each answer gets the probability of the top tokens that begin it (a first-token
approximation: give answers that differ in their first token, such as ``"1"``..``"5"`` or ``"yes"``/
``"no"``; an answer outside the top 20 gets the smallest listed probability, halved). A server that
returns no logprobs raises :class:`~abrec.errors.GenerationError`.
"""

from __future__ import annotations

import math
import os
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt

from .._params import Interval, validate_params
from ..errors import GenerationError
from .base import CallBudget, Generation, Generator, SamplingParams

__all__ = ["OpenAICompatibleGenerator"]

_RETRY_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
_TOP_LOGPROBS = 20


def _env(*names: str) -> str | None:
    for name in names:
        value = os.environ.get(name)
        if value:
            return value
    return None


class OpenAICompatibleGenerator(Generator):
    """A model behind an OpenAI-compatible ``/chat/completions`` endpoint.

    Parameters
    ----------
    model, base_url, api_key : see the module docstring (None: from the environment).
    timeout : seconds per request (connect, read and write each).
    max_retries : retries of one request after a retryable failure.
    max_concurrency : requests in flight at once.
    price_prompt, price_completion : US dollars per million prompt / completion tokens.
    backoff : seconds before the first retry (doubled at each further one, at most 30 s).
    budget : see :class:`~abrec.llm.base.Generator`.
    transport : an ``httpx`` transport (tests: ``httpx.MockTransport``); default a real connection.

    Raises
    ------
    abrec.errors.GenerationError
        No base URL or model was given or found in the environment, or httpx is not installed.

    Examples
    --------
    >>> OpenAICompatibleGenerator(model="m", base_url="http://127.0.0.1:9/v1").identity
    'openai-compatible:m@http://127.0.0.1:9/v1'
    """

    supports_answer_probabilities = True

    def __init__(
        self,
        model: str | None = None,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        max_concurrency: int = 4,
        price_prompt: float = 0.0,
        price_completion: float = 0.0,
        backoff: float = 0.5,
        budget: CallBudget | int | None = None,
        transport: Any = None,
    ) -> None:
        validate_params(
            type(self).__name__,
            {
                "timeout": Interval("float", 0.0, 1e9, closed="neither"),
                "max_retries": Interval("int", 0, 100),
                "max_concurrency": Interval("int", 1, 1024),
                "price_prompt": Interval("float", 0.0, 1e9),
                "price_completion": Interval("float", 0.0, 1e9),
                "backoff": Interval("float", 0.0, 60.0),
            },
            locals(),
        )
        super().__init__(budget=budget)
        self.model = model or _env("ABREC_LLM_MODEL")
        self.base_url = (base_url or _env("ABREC_LLM_BASE_URL", "OPENAI_BASE_URL") or "").rstrip("/")
        if not self.base_url or not self.model:
            raise GenerationError(
                "An OpenAI-compatible generator needs a base URL and a model: pass base_url= and model=, or set "
                "ABREC_LLM_BASE_URL (e.g. http://127.0.0.1:8080/v1) and ABREC_LLM_MODEL."
            )
        self.api_key = api_key if api_key is not None else _env("ABREC_LLM_API_KEY", "OPENAI_API_KEY")
        self.timeout, self.max_retries, self.max_concurrency = timeout, max_retries, max_concurrency
        self.price_prompt, self.price_completion, self.backoff = price_prompt, price_completion, backoff
        try:
            import httpx
        except ImportError as exc:  # pragma: no cover - httpx is a dependency of the extras
            raise GenerationError("The OpenAI-compatible generator needs httpx: pip install httpx.") from exc
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        limits = httpx.Limits(max_connections=max_concurrency, max_keepalive_connections=max_concurrency)
        self._client = httpx.Client(
            base_url=self.base_url, headers=headers, timeout=timeout, limits=limits, transport=transport
        )
        self.retries = 0

    @property
    def identity(self) -> str:
        return f"openai-compatible:{self.model}@{self.base_url}"

    def _cost(self, prompt_tokens: int, completion_tokens: int) -> float:
        return (prompt_tokens * self.price_prompt + completion_tokens * self.price_completion) / 1e6

    # ------------------------------------------------------------------ HTTP
    def _post(self, body: dict[str, Any]) -> dict[str, Any]:
        import httpx

        delay = self.backoff
        for attempt in range(self.max_retries + 1):
            last = attempt == self.max_retries
            try:
                response = self._client.post("/chat/completions", json=body)
            except (httpx.TimeoutException, httpx.TransportError) as exc:
                if last:
                    raise GenerationError(
                        f"{self.base_url}/chat/completions failed after {attempt + 1} tries: {type(exc).__name__}: "
                        f"{exc}. Check that the server is up, or raise timeout/max_retries."
                    ) from exc
            else:
                if response.status_code == 200:
                    try:
                        data: dict[str, Any] = response.json()
                    except ValueError as exc:
                        raise GenerationError(f"{self.base_url} answered 200 with a body that is not JSON.") from exc
                    return data
                if response.status_code not in _RETRY_STATUS or last:
                    raise GenerationError(
                        f"{self.base_url}/chat/completions answered HTTP {response.status_code} "
                        f"(after {attempt + 1} tries): {response.text[:300]}"
                    )
                after = response.headers.get("retry-after", "")
                if after.replace(".", "", 1).isdigit():
                    delay = max(delay, float(after))
            self.retries += 1
            time.sleep(min(delay, 30.0))
            delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def _map(self, bodies: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if len(bodies) == 1 or self.max_concurrency == 1:
            return [self._post(b) for b in bodies]
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(bodies))) as pool:
            return list(pool.map(self._post, bodies))

    def _body(self, prompt: str, **extra: Any) -> dict[str, Any]:
        return {"model": self.model, "messages": [{"role": "user", "content": prompt}], **extra}

    @staticmethod
    def _usage(data: dict[str, Any]) -> tuple[int, int]:
        usage = data.get("usage") or {}
        return int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)

    # ------------------------------------------------------------------ protocol
    def _generate(self, prompts: list[str], params: SamplingParams) -> list[Generation]:
        bodies = [
            self._body(p, max_tokens=params.max_tokens, temperature=params.temperature, seed=params.seed)
            for p in prompts
        ]
        out = []
        for data in self._map(bodies):
            try:
                text = data["choices"][0]["message"]["content"] or ""
            except (KeyError, IndexError, TypeError) as exc:
                raise GenerationError(
                    f"{self.base_url} answered without choices[0].message.content: {data!r:.300}"
                ) from exc
            out.append(Generation(str(text), *self._usage(data)))
        return out

    def _answer_logprobs(self, prompts: list[str], answers: list[str]) -> npt.ArrayLike:
        bodies = [
            self._body(p, max_tokens=1, temperature=0.0, seed=0, logprobs=True, top_logprobs=_TOP_LOGPROBS)
            for p in prompts
        ]
        rows = []
        tokens = [0, 0]
        for data in self._map(bodies):
            try:
                top = data["choices"][0]["logprobs"]["content"][0]["top_logprobs"]
                pairs = [(str(t["token"]), float(t["logprob"])) for t in top]
            except (KeyError, IndexError, TypeError, ValueError) as exc:
                raise GenerationError(
                    f"{self.base_url} returned no top_logprobs for the answer scoring ({data!r:.200}); use a server "
                    "that supports logprobs, or generate() and parse the text."
                ) from exc
            rows.append(first_token_scores(pairs, answers))
            pt, ct = self._usage(data)
            tokens[0] += pt
            tokens[1] += ct
        self._account(0, tokens[0], tokens[1])
        return np.array(rows)

    def close(self) -> None:
        """Close the HTTP connections."""
        self._client.close()


def first_token_scores(top: list[tuple[str, float]], answers: list[str]) -> list[float]:
    """Log-probability of each answer from a list of ``(token, logprob)`` of the first generated token.

    An answer collects the probability of every listed token whose stripped text is a non-empty
    prefix of it (case-insensitive); one that none begins gets the smallest listed probability, halved.

    Examples
    --------
    >>> top = [(" yes", math.log(0.6)), ("No", math.log(0.3))]
    >>> [round(math.exp(x), 2) for x in first_token_scores(top, ["yes", "no"])]
    [0.6, 0.3]
    """
    floor = (min((lp for _, lp in top), default=0.0)) - math.log(2.0)
    out = []
    for answer in answers:
        lowered = answer.strip().lower()
        probs = [math.exp(lp) for tok, lp in top if tok.strip() and lowered.startswith(tok.strip().lower())]
        out.append(math.log(sum(probs)) if probs and sum(probs) > 0 else floor)
    return out
