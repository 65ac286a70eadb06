"""The Python client: retries that are safe (same request id, idempotent rewards), errors, sync and async."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from abrec.client import AsyncClient, Client, Decision, ServiceError
from abrec.service import create_app, load_settings

ANSWER = {
    "event_id": "e" * 32,
    "experiment": "home",
    "unit": "u",
    "variant": "ts",
    "period": 0,
    "assignment_p": 0.5,
    "policy": "bernoulli_ts",
    "policy_version": "1",
    "snapshot_version": 3,
    "propensity_draws": 50,
    "slate": [
        {"item": "b", "position": 1, "propensity": 0.4, "score": None},
        {"item": "a", "position": 0, "propensity": 0.6, "score": 0.9},
    ],
    "created_at": "2026-01-05T00:00:00Z",
    "window_closes_at": "2026-01-05T01:00:00Z",
    "request_id": "r",
    "replayed": False,
}


def flaky(statuses: list[int | None], seen: list[dict[str, Any]]) -> Callable[[httpx.Request], httpx.Response]:
    """A handler answering ``statuses`` in turn (None: the connection fails), then the decision."""

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(json.loads(request.content))
        status = statuses.pop(0) if statuses else 200
        if status is None:
            raise httpx.ConnectError("connection refused", request=request)
        if status == 200:
            return httpx.Response(200, json=ANSWER)
        return httpx.Response(status, json={"message": f"answer {status}"})

    return handle


def test_a_retried_decide_sends_the_same_request_id_so_it_is_decided_once() -> None:
    seen: list[dict[str, Any]] = []
    client = Client("http://svc", transport=httpx.MockTransport(flaky([503, None, 502], seen)), backoff=0.001)
    decision = client.decide("home", unit="u", candidates=["a", "b"], k=2)
    assert isinstance(decision, Decision) and decision.items == ("a", "b") and decision.scores == (0.9, None)
    assert len(seen) == 4 and len({s["request_id"] for s in seen}) == 1 and len(seen[0]["request_id"]) == 32


def test_errors_that_retrying_cannot_fix_are_raised_at_once_with_the_services_message() -> None:
    seen: list[dict[str, Any]] = []
    client = Client("http://svc", transport=httpx.MockTransport(flaky([422], seen)), backoff=0.001)
    with pytest.raises(ServiceError, match="422: answer 422") as error:
        client.decide("home", unit="u", candidates=["a"])
    assert error.value.status == 422 and error.value.body == {"message": "answer 422"} and len(seen) == 1


def test_retries_stop_after_the_configured_number() -> None:
    seen: list[dict[str, Any]] = []
    client = Client("http://svc", transport=httpx.MockTransport(flaky([None] * 10, seen)), retries=2, backoff=0.001)
    with pytest.raises(ServiceError, match="ConnectError") as error:
        client.reward("e", "a")
    assert error.value.status is None and len(seen) == 3


def test_the_async_client_retries_alike() -> None:
    seen: list[dict[str, Any]] = []

    async def run() -> Decision:
        transport = httpx.MockTransport(flaky([429, None], seen))
        async with AsyncClient("http://svc", transport=transport, backoff=0.001) as client:
            return await client.decide("home", unit="u", candidates=["a", "b"], request_id="mine")

    assert asyncio.run(run()).event_id == "e" * 32
    assert [s["request_id"] for s in seen] == ["mine"] * 3


def test_the_async_client_against_the_app(sqlite_url: str, write_config: Callable[..., Path], tmp_path: Path) -> None:
    settings = load_settings(config=write_config(), database_url=sqlite_url, learner=False, cache_dir=tmp_path)
    app = create_app(settings)

    async def run() -> None:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with AsyncClient("http://svc", transport=transport) as client:
                d = await client.decide("home", unit="u1", candidates=["a", "b", {"id": "n", "text": "new hat"}], k=2)
                again = await client.decide("home", unit="u1", candidates=["a", "b"], request_id=d.request_id)
                assert again.replayed and again.event_id == d.event_id
                first = await client.reward(d.event_id, d.items[0])
                retry = await client.reward(d.event_id, d.items[0])
                assert (first.status, retry.status, retry.ok) == ("stored", "duplicate", True)
                batch = await client.decide_batch(
                    [{"experiment": "home", "unit": f"b{i}", "candidates": ["a"]} for i in range(3)]
                )
                assert len({b.event_id for b in batch}) == 3
                statuses = await client.rewards([{"event_id": b.event_id, "item": "a", "value": 0.0} for b in batch])
                assert [s.status for s in statuses] == ["stored"] * 3
                with pytest.raises(ServiceError) as error:
                    await client.reward(d.event_id, d.items[0], value=0.0)
                assert error.value.status == 409 and error.value.body["rewards"][0]["status"] == "conflict"
                results = await client.results("home")
                assert sum(v["decisions"] for v in results["variants"]) == 4
                assert [e["name"] for e in await client.experiments()] == ["home"]
                assert await client.ready()

    asyncio.run(run())
