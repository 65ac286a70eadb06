"""Shared fixtures of the llm tests: the local SmolLM2 model (loaded once) and real OpenAI-compatible server processes.

The servers are separate processes (``tests/llm/_llm_server.py``) serving HTTP on 127.0.0.1, over the fake
generator (fast) or the local SmolLM2 model: the OpenAI-compatible backend is tested against a real
server, not only against a mock transport.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from _llm_helpers import require_smollm2, start_server, stop_server

from abrec.llm import LlamaCppGenerator


@pytest.fixture(scope="session")
def smollm2() -> LlamaCppGenerator:
    """SmolLM2-135M-Instruct on the CPU, loaded once per session (every test resets its usage)."""
    return LlamaCppGenerator(require_smollm2(), n_ctx=1024)


@pytest.fixture(scope="session")
def fake_server() -> Iterator[str]:
    """Base URL of a real HTTP server process answering with the fake generator."""
    proc, url = start_server("--backend", "fake")
    yield url
    stop_server(proc)


@pytest.fixture(scope="session")
def smollm2_server() -> Iterator[str]:
    """Base URL of a real HTTP server process answering with SmolLM2 (llama.cpp) in that process."""
    require_smollm2()
    proc, url = start_server("--backend", "smollm2")
    yield url
    stop_server(proc)
