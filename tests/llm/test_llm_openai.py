"""The OpenAI-compatible backend: configuration, retries, timeouts, concurrency, token and cost accounting.

Protocol details run against ``httpx.MockTransport``; retries, concurrency and timeouts also against a
real server process (``_llm_server.py``) with injected failures and delays.
"""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import httpx
import pytest
from _llm_helpers import start_server, stop_server

from abrec.errors import ParameterError
from abrec.llm import BudgetExhaustedError, GenerationError, OpenAICompatibleGenerator


def reply(body: dict[str, Any], text: str = "ok") -> dict[str, Any]:
    return {
        "choices": [{"message": {"role": "assistant", "content": text}}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 3},
    }


def mock(handler: Any, **options: Any) -> OpenAICompatibleGenerator:
    return OpenAICompatibleGenerator(
        model="m", base_url="http://test/v1", transport=httpx.MockTransport(handler), backoff=0.0, **options
    )


def test_configuration_comes_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ABREC_LLM_BASE_URL", "http://env-host:1234/v1/")
    monkeypatch.setenv("ABREC_LLM_MODEL", "env-model")
    monkeypatch.setenv("ABREC_LLM_API_KEY", "sk-test")
    seen: dict[str, Any] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["url"], seen["auth"] = str(request.url), request.headers.get("authorization")
        seen["body"] = json.loads(request.content)
        return httpx.Response(200, json=reply(seen["body"]))

    gen = OpenAICompatibleGenerator(transport=httpx.MockTransport(handler))
    assert gen.identity == "openai-compatible:env-model@http://env-host:1234/v1"
    gen.generate(["hi"], max_tokens=5, temperature=0.5, seed=3)
    assert seen["url"] == "http://env-host:1234/v1/chat/completions" and seen["auth"] == "Bearer sk-test"
    assert seen["body"] == {
        "model": "env-model",
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 5,
        "temperature": 0.5,
        "seed": 3,
    }


def test_missing_configuration_says_what_to_set(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("ABREC_LLM_BASE_URL", "OPENAI_BASE_URL", "ABREC_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(GenerationError, match="ABREC_LLM_BASE_URL"):
        OpenAICompatibleGenerator()
    with pytest.raises(ParameterError, match="max_concurrency"):
        OpenAICompatibleGenerator(model="m", base_url="http://x/v1", max_concurrency=0)


def test_tokens_and_cost_are_accounted() -> None:
    gen = mock(lambda r: httpx.Response(200, json=reply({})), price_prompt=1.5, price_completion=2.0)
    gen.generate(["a", "b"])
    assert (gen.usage.calls, gen.usage.prompt_tokens, gen.usage.completion_tokens) == (2, 20, 6)
    assert gen.usage.cost_usd == pytest.approx((20 * 1.5 + 6 * 2.0) / 1e6)


def test_retryable_errors_are_retried_and_others_fail_at_once() -> None:
    calls = {"n": 0}

    def flaky(request: httpx.Request) -> httpx.Response:
        calls["n"] += 1
        if calls["n"] == 1:
            raise httpx.ConnectError("refused")
        if calls["n"] == 2:
            return httpx.Response(429, headers={"retry-after": "0"})
        return httpx.Response(200, json=reply({}, "third time"))

    gen = mock(flaky, max_retries=2)
    assert gen.generate(["x"])[0].text == "third time" and gen.retries == 2
    gen = mock(lambda r: httpx.Response(503, text="down"), max_retries=1)
    with pytest.raises(GenerationError, match=r"HTTP 503 \(after 2 tries\): down"):
        gen.generate(["x"])
    assert gen.budget.used == 0, "a failed batch kept its calls charged"
    bad = {"n": 0}

    def unauthorised(request: httpx.Request) -> httpx.Response:
        bad["n"] += 1
        return httpx.Response(401, text="bad key")

    with pytest.raises(GenerationError, match="HTTP 401"):
        mock(unauthorised, max_retries=5).generate(["x"])
    assert bad["n"] == 1, "a non-retryable error was retried"


def test_answer_probabilities_from_top_logprobs() -> None:
    import math

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        assert body["logprobs"] is True and body["max_tokens"] == 1 and body["temperature"] == 0.0
        top = [{"token": " Yes", "logprob": math.log(0.6)}, {"token": "no", "logprob": math.log(0.2)}]
        return httpx.Response(200, json={"choices": [{"logprobs": {"content": [{"top_logprobs": top}]}}]})

    probs = mock(handler).answer_probabilities(["q"], ["yes", "no", "maybe"])
    assert probs[0].tolist() == pytest.approx([0.6 / 0.9, 0.2 / 0.9, 0.1 / 0.9])
    no_logprobs = mock(lambda r: httpx.Response(200, json=reply({})))
    with pytest.raises(GenerationError, match="no top_logprobs"):
        no_logprobs.answer_probabilities(["q"], ["yes", "no"])


def test_concurrency_is_bounded() -> None:
    state = {"now": 0, "max": 0}
    lock = threading.Lock()

    def slow(request: httpx.Request) -> httpx.Response:
        with lock:
            state["now"] += 1
            state["max"] = max(state["max"], state["now"])
        time.sleep(0.05)
        with lock:
            state["now"] -= 1
        return httpx.Response(200, json=reply({}))

    mock(slow, max_concurrency=3).generate([f"p{i}" for i in range(12)])
    assert state["max"] == 3


def test_budget_stops_before_the_batch() -> None:
    sent = {"n": 0}

    def count(request: httpx.Request) -> httpx.Response:
        sent["n"] += 1
        return httpx.Response(200, json=reply({}))

    gen = mock(count, budget=5)
    gen.generate(["a", "b", "c"])
    with pytest.raises(BudgetExhaustedError, match="3 used, 2 left"):
        gen.generate(["d", "e", "f"])
    assert sent["n"] == 3 and gen.usage.calls == 3


def test_real_server_retries_injected_failures_and_bounds_concurrency() -> None:
    proc, url = start_server("--backend", "fake", "--fail-first", "2", "--delay", "0.2")
    try:
        gen = OpenAICompatibleGenerator(model="m", base_url=url, max_concurrency=2, backoff=0.01, max_retries=3)
        out = gen.generate([f"prompt {i}" for i in range(6)], max_tokens=4)
        stats = httpx.get(url.removesuffix("/v1") + "/stats").json()
        assert len(out) == 6 and gen.retries == 2
        assert stats == {"served": 6, "failed": 2, "max_in_flight": 2}
        assert gen.usage.calls == 6 and gen.usage.completion_tokens == sum(g.completion_tokens for g in out) > 0
        impatient = OpenAICompatibleGenerator(model="m", base_url=url, timeout=0.05, max_retries=1, backoff=0.0)
        with pytest.raises(GenerationError, match="ReadTimeout"):
            impatient.generate(["too slow"])
    finally:
        stop_server(proc)
