"""A small OpenAI-compatible server over an abrec generator, run as a separate process by the tests.

    python tests/llm/_llm_server.py --backend fake|smollm2 [--fail-first N] [--delay S]

It listens on 127.0.0.1 on a free port and prints ``PORT <n>`` on stdout once it accepts connections.
Routes: ``POST /v1/chat/completions`` (messages, max_tokens, temperature, seed, logprobs,
top_logprobs; ``usage`` counted by the backend) and ``GET /stats`` (requests served, failures
injected, most requests in flight at once). ``--fail-first N`` answers the first N completion requests
with HTTP 503 (to exercise retries); ``--delay S`` sleeps S seconds in every completion request (to
exercise timeouts and concurrency). The smollm2 backend answers logprobs from llama.cpp itself.
"""

from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from abrec.llm import FakeGenerator, Generator, LlamaCppGenerator

VOCAB = ["yes", "no", "1", "2", "3", "4", "5", "A", "B", "the"]


class State:
    def __init__(self, generator: Generator, fail_first: int, delay: float) -> None:
        self.generator = generator
        self.fail_left = fail_first
        self.delay = delay
        self.served = 0
        self.failed = 0
        self.in_flight = 0
        self.max_in_flight = 0
        self.lock = threading.Lock()
        self.model_lock = threading.Lock()


def _top_logprobs(state: State, prompt: str, n: int) -> list[dict[str, Any]]:
    gen = state.generator
    if isinstance(gen, LlamaCppGenerator):  # llama.cpp's own next-token distribution after the chat prompt
        gen._llm.reset()
        gen._eval_to(gen._tokens(gen.chat_prompt(prompt)))
        logprobs = gen._next_logprobs()
        best = np.argsort(-logprobs)[:n]
        text = [gen._llm.detokenize([int(t)]).decode("utf-8", "replace") for t in best]
        return [{"token": t, "logprob": float(logprobs[i])} for t, i in zip(text, best, strict=True)]
    probs = gen.answer_probabilities([prompt], VOCAB)[0]
    order = np.argsort(-probs)[:n]
    return [{"token": VOCAB[i], "logprob": float(np.log(probs[i]))} for i in order]


def complete(state: State, body: dict[str, Any]) -> dict[str, Any]:
    prompt = str(body["messages"][-1]["content"])
    with state.model_lock:
        out = state.generator.generate(
            [prompt],
            max_tokens=int(body.get("max_tokens") or 16),
            temperature=float(body.get("temperature") or 0.0),
            seed=int(body.get("seed") or 0),
        )[0]
        choice: dict[str, Any] = {
            "index": 0,
            "message": {"role": "assistant", "content": out.text},
            "finish_reason": "stop",
        }
        if body.get("logprobs"):
            top = _top_logprobs(state, prompt, int(body.get("top_logprobs") or 5))
            choice["logprobs"] = {
                "content": [{"token": top[0]["token"], "logprob": top[0]["logprob"], "top_logprobs": top}]
            }
    return {
        "id": f"cmpl-{state.served}",
        "object": "chat.completion",
        "model": body.get("model", ""),
        "choices": [choice],
        "usage": {
            "prompt_tokens": out.prompt_tokens,
            "completion_tokens": out.completion_tokens,
            "total_tokens": out.prompt_tokens + out.completion_tokens,
        },
    }


def make_handler(state: State) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:  # keep the test output clean
            pass

        def _send(self, status: int, payload: dict[str, Any]) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/stats":
                self._send(200, {"served": state.served, "failed": state.failed, "max_in_flight": state.max_in_flight})
            else:
                self._send(404, {"error": {"message": f"no route {self.path}"}})

        def do_POST(self) -> None:
            if self.path != "/v1/chat/completions":
                self._send(404, {"error": {"message": f"no route {self.path}"}})
                return
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
            with state.lock:
                state.in_flight += 1
                state.max_in_flight = max(state.max_in_flight, state.in_flight)
                fail = state.fail_left > 0
                if fail:
                    state.fail_left -= 1
                    state.failed += 1
            try:
                if state.delay:
                    time.sleep(state.delay)
                if fail:
                    self._send(503, {"error": {"message": "injected failure"}})
                    return
                if "messages" not in body:
                    self._send(400, {"error": {"message": "messages is required"}})
                    return
                payload = complete(state, body)
                with state.lock:
                    state.served += 1
                self._send(200, payload)
            finally:
                with state.lock:
                    state.in_flight -= 1

    return Handler


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--backend", choices=["fake", "smollm2"], default="fake")
    ap.add_argument("--fail-first", type=int, default=0)
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()
    generator: Generator = FakeGenerator() if args.backend == "fake" else LlamaCppGenerator(n_ctx=1024)
    server = ThreadingHTTPServer(("127.0.0.1", 0), make_handler(State(generator, args.fail_first, args.delay)))
    print(f"PORT {server.server_address[1]}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.exit(0)


if __name__ == "__main__":
    main()
