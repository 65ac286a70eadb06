"""The fast path (abrec.service.fast) answers exactly as FastAPI does: the same corpus of valid and invalid bodies
sent to a service with the fast path on and to one with it off gives the same statuses, headers and bytes (event
ids and times aside), the same metrics, and the same keys refused."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy as sa
from _service_config import config_mapping, experiment
from fastapi.testclient import TestClient
from prometheus_client import generate_latest

from abrec.service.fast import FastPath
from abrec.service.metrics import REQUESTS
from abrec.store import upgrade
from abrec.store.admin import create_key, revoke_key

Make = Callable[..., TestClient]
Body = bytes | dict[str, Any] | Callable[[dict[str, Any]], Any]
JSON = {"content-type": "application/json"}
BASE = {"experiment": "home", "unit": "u1", "candidates": ["a", "b", "c", "d"], "k": 2}


def _raw(text: str) -> bytes:
    return text.encode()


def _decides() -> list[tuple[str, Body, dict[str, str]]]:
    valid: list[dict[str, Any]] = [
        BASE,
        {**BASE, "unit": "u2", "context": [0.1, -0.2, 0.3]},
        {**BASE, "unit": "u3", "context": [1, 2, 3]},  # ints in a float list
        {**BASE, "unit": "u4", "history": ["a", "b"]},
        {**BASE, "unit": "u5", "candidates": ["a", {"id": "zz", "text": "a new lamp"}], "k": 1},
        {**BASE, "unit": "u6", "request_id": "r1"},
        {**BASE, "unit": "u6", "request_id": "r1"},  # replayed
        {**BASE, "unit": "ユーザー", "k": 4, "step": 7, "session_id": "s"},
        {**BASE, "unit": "u7", "candidates": ["a", "never-seen"]},
    ]
    steps: list[tuple[str, Body, dict[str, str]]] = [("/v1/decide", body, JSON) for body in valid]
    bad: list[Body] = [
        b"not json",
        b"",
        b"[]",
        b"null",
        b'{"experiment":',
        _raw('{"experiment":"home","unit":"u1","candidates":["a"],"context":[NaN,1,2]}'),
        _raw('{"experiment":"home","unit":"u1","candidates":["a"],"context":[Infinity,1,2]}'),
        _raw('{"experiment":"home","unit":"u1","candidates":["a"],"context":[1e400,1,2]}'),
        _raw('{"experiment":"home","unit":"u1","candidates":["a"],"context":[123456789012345678901234567890,1,2]}'),
        _raw('{"experiment":"home","unit":"u1","candidates":["a"],"k":123456789012345678901234567890}'),
        _raw('{"experiment":"home","unit":"\\ud800","candidates":["a"]}'),  # a lone surrogate
        _raw('{"experiment":"home","unit":"x","unit":"u8","candidates":["a"]}'),  # a repeated key: the last wins
        b"\xef\xbb\xbf" + orjson.dumps(BASE),  # a byte order mark
        b'{"experiment":"home","unit":"\xff","candidates":["a"]}',  # not UTF-8
        {**BASE, "k": "2"},
        {**BASE, "k": 2.0},
        {**BASE, "k": True},
        {**BASE, "k": 0},
        {**BASE, "extra": 1},
        {"experiment": "home", "candidates": ["a"]},
        {**BASE, "candidates": []},
        {**BASE, "candidates": ["a", "a"]},
        {**BASE, "k": 9},
        {**BASE, "context": [1.0, 2.0, 3.0], "history": ["a"]},
        {**BASE, "context": [1.0]},  # the runtime refuses it (context_dim)
        {**BASE, "experiment": "nope"},  # 404 from the route
        {**BASE, "unit": "a\u0000b"},
        {**BASE, "unit": "x" * 300},
        {**BASE, "candidates": ["a", {"id": "q", "text": "t", "more": 1}]},
        {**BASE, "request_id": 5},
        {**BASE, "unit": "big", "history": ["x" * 200] * 30},  # over max_body_bytes: 413
    ]
    steps += [("/v1/decide", body, JSON) for body in bad]
    steps += [
        ("/v1/decide", {**BASE, "unit": "t1"}, {"content-type": "text/plain"}),
        ("/v1/decide", {**BASE, "unit": "t2"}, {"content-type": "application/json; charset=utf-8"}),
        ("/v1/decide", {**BASE, "unit": "t3"}, {"content-type": "Application/JSON"}),
        ("/v1/decide", {**BASE, "unit": "t4"}, {}),
        ("/v1/decide/", {**BASE, "unit": "t5"}, JSON),
    ]
    return steps


def _batches() -> list[tuple[str, Body, dict[str, str]]]:
    two = [{**BASE, "unit": "b1"}, {**BASE, "unit": "b2", "context": [0.0, 1.0, 2.0], "request_id": "rb"}]
    bodies: list[Body] = [
        {"requests": two},
        {"requests": two},  # the request id replays
        {"requests": [BASE] * 4},  # over max_batch: 413
        {"requests": []},
        {"requests": [BASE, {**BASE, "k": 9}]},
        {"requests": [BASE, {**BASE, "context": [1.0]}]},  # the runtime refuses the call
        {"requests": [{**BASE, "request_id": "x"}, {**BASE, "request_id": "x"}]},
        {"requests": [BASE, {**BASE, "experiment": "nope"}]},
        {"requests": BASE},
    ]
    return [("/v1/decide/batch", body, JSON) for body in bodies]


def _rewards() -> list[tuple[str, Body, dict[str, str]]]:
    def reward(**fields: Any) -> Callable[[dict[str, Any]], Any]:
        def make(seen: dict[str, Any]) -> Any:
            base = {"event_id": seen["event_id"], "item": seen["item"]}
            return {"rewards": [{**base, **fields}]}

        return make

    def two(seen: dict[str, Any]) -> Any:
        return {"rewards": [{"event_id": seen["event_id"], "item": seen["item"]}, {"event_id": "nope", "item": "a"}]}

    bodies: list[Body] = [
        reward(),
        reward(),  # duplicate
        reward(value=0.0),  # conflict: 409
        reward(kind="purchase", value=2.5, position=0),
        reward(kind="purchase", value=2.5, position=1),  # wrong position: 422
        reward(item="f"),  # not in the slate: 422
        reward(event_id="nope"),  # unknown event: 404
        two,
        reward(kind="bad kind"),
        reward(value=True),
        reward(position=-1),
        reward(extra=1),
        lambda seen: {"rewards": [{"event_id": seen["event_id"], "item": seen["item"]}] * 4},  # over max_batch
        {"rewards": []},
        _raw('{"rewards":[{"event_id":"e","item":"a","value":NaN}]}'),
    ]
    return [("/v1/rewards", body, JSON) for body in bodies]


_TIME = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z")
_EVENT = re.compile(rb'"event_id":"([^"]+)"')


def _normal(body: bytes, events: dict[bytes, bytes]) -> bytes:
    """``body`` with its times and this service's event ids (numbered by first appearance) replaced."""
    for event in _EVENT.findall(body):
        if event != b"nope" and event not in events:
            events[event] = b"EVENT%d" % len(events)
    for event, name in events.items():
        body = body.replace(event, name)
    return _TIME.sub(b"TIME", body)


def _send(client: TestClient, path: str, body: Body, headers: dict[str, str], seen: dict[str, Any]) -> Any:
    if callable(body):
        body = body(seen)
    content = body if isinstance(body, bytes) else orjson.dumps(body)
    response = client.post(path, content=content, headers=headers)
    if path == "/v1/decide" and response.status_code == 200 and "event_id" not in seen:
        answer = response.json()
        seen.update(event_id=answer["event_id"], item=answer["slate"][0]["item"])
    return response


def _fast_path(client: TestClient) -> FastPath:
    return next(layer for layer in _layers(client) if isinstance(layer, FastPath))


def _served(client: TestClient, steps: list[tuple[str, Body, dict[str, str]]]) -> list[tuple[int, Any, bytes]]:
    seen: dict[str, Any] = {}
    events: dict[bytes, bytes] = {}
    out = []
    for path, body, headers in steps:
        r = _send(client, path, body, headers, seen)
        kept = [(k, v) for k, v in r.headers.items() if k not in ("date", "server", "content-length")]
        assert int(r.headers.get("content-length", len(r.content))) == len(r.content)
        out.append((r.status_code, kept, _normal(r.content, events)))
    return out


def _requests_total() -> Counter[str]:
    """The process's request counters (every app in the process counts into the same ones) by their labels."""
    out: Counter[str] = Counter()
    for line in generate_latest(REQUESTS).decode().splitlines():
        if line.startswith("abrec_http_requests_total{"):
            labels, _, value = line.rpartition(" ")
            out[labels] = int(float(value))
    return out


def _pair(tmp_path: Path, make_client: Make, **settings: Any) -> tuple[TestClient, TestClient]:
    """Two services, fast path on and off, each on its own fresh database."""
    clients = []
    for on in (True, False):
        url = f"sqlite:///{tmp_path / f'fast-{on}-{len(settings)}.db'}"
        upgrade(url)
        clients.append(make_client(url, config_mapping(experiment()), fast_path=on, **settings))
    return clients[0], clients[1]


def test_every_body_gets_the_same_answer_with_and_without_the_fast_path(tmp_path: Path, make_client: Make) -> None:
    steps = _decides() + _batches() + _rewards()
    fast, slow = _pair(tmp_path, make_client, max_batch=3, max_body_bytes=4096)
    before = _requests_total()
    got = _served(fast, steps)
    middle = _requests_total()
    expected = _served(slow, steps)
    counted = (middle - before, _requests_total() - middle)
    for step, a, b in zip(steps, got, expected, strict=True):
        assert a == b, step[:2]
    statuses = [status for status, _, _ in expected]
    assert {200, 400, 404, 409, 413, 422} <= set(statuses) and statuses.count(200) >= 15
    answered = _fast_path(fast).served
    assert 20 <= answered <= len(steps) - 30  # the valid bodies were served by the fast path, the rest by FastAPI
    with pytest.raises(StopIteration):
        next(layer for layer in _layers(slow) if isinstance(layer, FastPath))
    assert counted[0] == counted[1]  # counted under the same routes and statuses
    assert counted[0]['abrec_http_requests_total{method="POST",route="/v1/decide",status="200"}'] >= 10
    assert _stored(fast) == _stored(slow)


def test_keys_are_checked_the_same_with_and_without_the_fast_path(tmp_path: Path, make_client: Make) -> None:
    fast, slow = _pair(tmp_path, make_client, require_keys=True)
    for client in (fast, slow):
        store = client.app.state.service.store  # type: ignore[attr-defined]
        tokens = {scope: create_key(store, scope, scope, actor="test")[0] for scope in ("client", "admin")}
        revoked, key = create_key(store, "old", "client", actor="test")
        revoke_key(store, key.id, actor="test")
        client.tokens = {**tokens, "revoked": revoked}  # type: ignore[attr-defined]
    cases = [
        {},
        {"authorization": "Bearer"},
        {"authorization": "Basic abc"},
        {"authorization": "Bearer abrec_0_0"},
        {"x-api-key": "garbage"},
        {"authorization": "bearer {revoked}"},
        {"authorization": "Bearer {client}"},
        {"x-api-key": "{admin}"},
        {"authorization": "Basic x", "x-api-key": "{client}"},
    ]
    bodies: list[tuple[str, Body]] = [("/v1/decide", BASE), ("/v1/decide", {**BASE, "k": 9}), ("/v1/rewards", b"{")]
    answers: dict[bool, list[tuple[int, bytes]]] = {True: [], False: []}
    for on, client in ((True, fast), (False, slow)):
        for case in cases:
            headers = {**JSON, **{k: v.format(**client.tokens) for k, v in case.items()}}  # type: ignore[attr-defined]
            for path, body in bodies:
                r = _send(client, path, body, headers, {})
                answers[on].append((r.status_code, _normal(r.content, {})))
    assert answers[True] == answers[False]
    refused, allowed = [401, 401, 422], [200, 422, 422]  # malformed JSON is refused before the key is checked
    assert [status for status, _ in answers[True]] == refused * 6 + allowed * 3
    assert _fast_path(fast).served == 9 - 1  # every valid body but the first (a route's first call is FastAPI's)


def _layers(client: TestClient) -> list[Any]:
    layer: Any = client.app.middleware_stack  # type: ignore[attr-defined]
    out = []
    while layer is not None:
        out.append(layer)
        layer = getattr(layer, "app", None)
    return out


def _stored(client: TestClient) -> list[tuple[Any, ...]]:
    """What the service stored, without its ids and times."""
    store = client.app.state.service.store  # type: ignore[attr-defined]
    with store.engine.connect() as connection:
        decisions = connection.execute(
            sa.text("SELECT unit, variant, items, propensities, client_request_id FROM decisions ORDER BY rowid")
        ).all()
        rewards = connection.execute(sa.text("SELECT item, kind, value, position, late FROM rewards ORDER BY rowid"))
        return [tuple(row) for row in decisions] + [tuple(row) for row in rewards.all()]
