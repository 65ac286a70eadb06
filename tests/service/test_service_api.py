"""The HTTP API in process, on SQLite and PostgreSQL: decide, rewards, bad input, the OpenAPI document."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import pytest
from _service_config import config_mapping, experiment
from fastapi.testclient import TestClient

from abrec.abtest.scorecard import analyze_metrics
from abrec.store import EventStore

Make = Callable[..., TestClient]
DECIDE = {"experiment": "home", "unit": "u1", "candidates": ["a", "b", "c"], "k": 2}


def totals(url: str) -> dict[str, int]:
    """Decisions and rewards stored, over every variant of ``home``."""
    with EventStore(url) as store:
        counts = store.counts("home")
    return {key: sum(c.get(key, 0) for c in counts.values()) for key in ("decisions", "rewards")}


def test_decide_answers_a_committed_slate_and_a_retry_returns_it(database_url: str, make_client: Make) -> None:
    client = make_client(database_url)
    first = client.post("/v1/decide", json={**DECIDE, "request_id": "req-1"})
    assert first.status_code == 200, first.text
    body = first.json()
    assert body["variant"] in ("random", "ts", "lin") and len(body["event_id"]) == 32
    assert [s["position"] for s in body["slate"]] == [0, 1]
    assert all(0 < s["propensity"] <= 1 for s in body["slate"]) and not body["replayed"]
    assert totals(database_url)["decisions"] == 1  # committed before the answer
    again = client.post("/v1/decide", json={**DECIDE, "request_id": "req-1"})
    assert again.status_code == 200 and again.json()["replayed"]
    assert again.json()["event_id"] == body["event_id"] and again.json()["slate"] == body["slate"]
    assert totals(database_url)["decisions"] == 1
    batch = client.post("/v1/decide/batch", json={"requests": [{**DECIDE, "unit": f"b{i}"} for i in range(5)]})
    assert batch.status_code == 200 and len(batch.json()["decisions"]) == 5
    assert totals(database_url)["decisions"] == 6


def test_rewards_are_idempotent_and_every_rejection_says_why(database_url: str, make_client: Make) -> None:
    client = make_client(database_url, config_mapping(experiment(reward={"kind": "click", "window": 0.5})))
    decision = client.post("/v1/decide", json=DECIDE).json()
    event, (top, second) = decision["event_id"], [s["item"] for s in decision["slate"]]
    reward = {"event_id": event, "item": top, "value": 1.0}

    def post(*rewards: dict[str, Any]) -> tuple[int, list[str], str]:
        r = client.post("/v1/rewards", json={"rewards": list(rewards)})
        return r.status_code, [x["status"] for x in r.json()["rewards"]], r.json()["message"]

    assert post(reward)[:2] == (200, ["stored"])
    assert post(reward)[:2] == (200, ["duplicate"])  # a retry never counts twice
    assert post({**reward, "kind": "purchase", "value": 19.9})[:2] == (200, ["stored"])  # another kind
    status, statuses, message = post({**reward, "value": 0.0})
    assert (status, statuses) == (409, ["conflict"]) and "already has" in message
    status, statuses, message = post({**reward, "event_id": "f" * 32})
    assert (status, statuses) == (404, ["unknown_event"]) and message
    status, statuses, message = post({**reward, "item": "f"})
    assert (status, statuses) == (422, ["wrong_item"]) and message
    assert post({**reward, "item": second, "position": 0})[:2] == (422, ["wrong_item"])  # position checked
    assert totals(database_url)["rewards"] == 2
    time.sleep(0.7)
    assert post({**reward, "item": second})[:2] == (200, ["late"])  # stored, marked late, never learned
    assert totals(database_url)["rewards"] == 3


BAD: list[tuple[str, str, Any, int, str]] = [
    # (what, path, body (str: raw text), status, words in the message)
    ("malformed JSON", "/v1/decide", '{"experiment": "home",', 422, "JSON"),
    ("unit of the wrong type", "/v1/decide", {**DECIDE, "unit": 5}, 422, "unit"),
    ("k given as a string", "/v1/decide", {**DECIDE, "k": "2"}, 422, "k"),
    ("k given as a bool", "/v1/decide", {**DECIDE, "k": True}, 422, "k"),
    (
        "NaN in the context",
        "/v1/decide",
        json.dumps({**DECIDE}).replace("}", ', "context": [NaN, 0, 0]}'),
        422,
        "finite",
    ),
    (
        "infinite context",
        "/v1/decide",
        json.dumps({**DECIDE}).replace("}", ', "context": [1e999, 0, 0]}'),
        422,
        "finite",
    ),
    ("context of the wrong length", "/v1/decide", {**DECIDE, "context": [1.0, 2.0]}, 422, "context_dim"),
    ("an unknown key", "/v1/decide", {**DECIDE, "contxt": [1.0]}, 422, "contxt"),
    ("repeated candidates", "/v1/decide", {**DECIDE, "candidates": ["a", "a", "b"]}, 422, "distinct"),
    ("k above the candidates", "/v1/decide", {**DECIDE, "k": 4}, 422, "k=4"),
    ("no candidates", "/v1/decide", {**DECIDE, "candidates": [], "k": 1}, 422, "candidates"),
    ("context and history", "/v1/decide", {**DECIDE, "context": [0, 0, 0], "history": ["a"]}, 422, "not both"),
    ("an unknown experiment", "/v1/decide", {**DECIDE, "experiment": "hom"}, 404, "Did you mean 'home'"),
    ("one bad request in a batch", "/v1/decide/batch", {"requests": [DECIDE, {**DECIDE, "experiment": "x"}]}, 404, "x"),
    ("a batch over max_batch", "/v1/decide/batch", {"requests": [DECIDE] * 4}, 413, "max_batch"),
    ("an empty batch", "/v1/decide/batch", {"requests": []}, 422, "requests"),
    (
        "one request id twice in a batch",
        "/v1/decide/batch",
        {"requests": [{**DECIDE, "request_id": "r"}, {**DECIDE, "unit": "u2", "request_id": "r"}]},
        422,
        "distinct",
    ),
    (
        "a body over max_body_bytes",
        "/v1/decide",
        {**DECIDE, "session_id": "x" * 250, "history": ["a"] * 1500},
        413,
        "bytes",
    ),
    ("a NaN reward", "/v1/rewards", '{"rewards": [{"event_id": "e", "item": "a", "value": NaN}]}', 422, "finite"),
    (
        "an infinite reward",
        "/v1/rewards",
        '{"rewards": [{"event_id": "e", "item": "a", "value": Infinity}]}',
        422,
        "finite",
    ),
    (
        "a reward value as a string",
        "/v1/rewards",
        {"rewards": [{"event_id": "e", "item": "a", "value": "1"}]},
        422,
        "value",
    ),
    (
        "a bad reward kind",
        "/v1/rewards",
        {"rewards": [{"event_id": "e", "item": "a", "kind": "no space"}]},
        422,
        "kind",
    ),
    ("a bare reward, not a list", "/v1/rewards", {"event_id": "e", "item": "a"}, 422, "rewards"),
    ("too many rewards", "/v1/rewards", {"rewards": [{"event_id": "e", "item": "a"}] * 4}, 413, "at most"),
]


def call(client: TestClient, path: str, body: Any) -> Any:
    if isinstance(body, str):
        return client.post(path, content=body, headers={"content-type": "application/json"})
    return client.post(path, json=body)


@pytest.mark.parametrize(("what", "path", "body", "status", "words"), BAD, ids=[b[0] for b in BAD])
def test_bad_input_is_a_4xx_with_a_clear_message_and_writes_nothing(
    sqlite_url: str, make_client: Make, what: str, path: str, body: Any, status: int, words: str
) -> None:
    client = make_client(sqlite_url, max_batch=3, max_body_bytes=4096)
    response = call(client, path, body)
    assert response.status_code == status, (what, response.text)
    assert words in response.json()["message"], (what, response.json())
    assert totals(sqlite_url) == {"decisions": 0, "rewards": 0}


def test_an_unknown_item_without_its_text_is_refused_when_a_policy_reads_features(
    database_url: str, make_client: Make
) -> None:
    variants = [{"name": "prior", "policy": "text_prior_ts"}, {"name": "hybrid", "policy": "hybrid_linucb"}]
    client = make_client(database_url, config_mapping(experiment(variants=variants, control="prior")))
    response = client.post("/v1/decide", json={**DECIDE, "candidates": ["a", "never-seen"], "k": 1})
    assert response.status_code == 422 and "never-seen" in response.json()["message"]
    assert totals(database_url)["decisions"] == 0
    ok = client.post("/v1/decide", json={**DECIDE, "candidates": ["a", {"id": "never-seen", "text": "a wool scarf"}]})
    assert ok.status_code == 200, ok.text
    assert (
        client.post("/v1/decide", json={**DECIDE, "unit": "u2", "candidates": ["a", "never-seen"]}).status_code == 200
    )


def test_every_route_and_answer_is_in_the_openapi_document(sqlite_url: str, make_client: Make) -> None:
    client = make_client(sqlite_url, max_batch=3, max_body_bytes=4096)
    doc = client.get("/openapi.json").json()
    routes = {(m.upper(), path) for path, item in doc["paths"].items() for m in item}
    assert routes >= {  # the decision API (the operations routes of admin.py come on top)
        ("POST", "/v1/decide"),
        ("POST", "/v1/decide/batch"),
        ("POST", "/v1/rewards"),
        ("GET", "/v1/experiments"),
        ("GET", "/v1/experiments/{name}/results"),
        ("GET", "/healthz"),
        ("GET", "/readyz"),
    }
    seen: set[tuple[str, str, int]] = set()
    for _what, path, body, _status, _words in BAD:
        seen.add(("POST", path, call(client, path, body).status_code))
    decision = client.post("/v1/decide", json=DECIDE)
    seen.add(("POST", "/v1/decide", decision.status_code))
    seen.add(("POST", "/v1/decide/batch", client.post("/v1/decide/batch", json={"requests": [DECIDE]}).status_code))
    event, item = decision.json()["event_id"], decision.json()["slate"][0]["item"]
    for reward in (
        {"event_id": event, "item": item},
        {"event_id": event, "item": item, "value": 0.5},
        {"event_id": event, "item": "zz"},
        {"event_id": "e" * 32, "item": item},
    ):
        seen.add(("POST", "/v1/rewards", client.post("/v1/rewards", json={"rewards": [reward]}).status_code))
    for path in (
        "/v1/experiments",
        "/v1/experiments/home/results",
        "/v1/experiments/nope/results",
        "/healthz",
        "/readyz",
    ):
        seen.add(("GET", path, client.get(path).status_code))
    templates = {"/v1/experiments/home/results": "/v1/experiments/{name}/results"}
    templates["/v1/experiments/nope/results"] = "/v1/experiments/{name}/results"
    undocumented = sorted(
        (method, path, status)
        for method, path, status in seen
        if str(status) not in doc["paths"][templates.get(path, path)][method.lower()]["responses"]
    )
    assert not undocumented
    assert {s for _, _, s in seen} >= {200, 404, 409, 413, 422}


def test_results_are_abrec_analyzes_numbers_on_the_exported_log(database_url: str, make_client: Make) -> None:
    client = make_client(database_url)
    for i in range(90):
        d = client.post("/v1/decide", json={**DECIDE, "unit": f"user-{i}"}).json()
        if i % 3 == 0:
            client.post("/v1/rewards", json={"rewards": [{"event_id": d["event_id"], "item": d["slate"][0]["item"]}]})
    results = client.get("/v1/experiments/home/results")
    assert results.status_code == 200, results.text
    body = results.json()
    with EventStore(database_url) as store:
        log = store.export_log("home", reward_kind="click")
    expected = analyze_metrics(log, control="random", alpha=0.05).to_dict()
    assert body["readout"] == json.loads(json.dumps(expected))
    by_variant = {v["variant"]: v for v in body["variants"]}
    assert sum(v["decisions"] for v in by_variant.values()) == 90
    assert sum(v["rewards"] for v in by_variant.values()) == 30
    assert "does not learn" in by_variant["random"]["status"]
    assert "none learned yet" in by_variant["ts"]["status"] or "no 'click' rewards" in by_variant["ts"]["status"]
    experiments = client.get("/v1/experiments").json()["experiments"]
    assert experiments[0]["name"] == "home" and experiments[0]["period"] == 0
    assert client.get("/v1/experiments/homee/results").status_code == 404


def test_health_and_readiness(sqlite_url: str, make_client: Make) -> None:
    client = make_client(sqlite_url)
    assert client.get("/healthz").json() == {"status": "ok", "detail": ""}
    assert client.get("/readyz").status_code == 200
