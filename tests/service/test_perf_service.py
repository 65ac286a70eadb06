"""The service's fast paths keep its behaviour: concurrent decides and rewards served in micro-batches, each
answered on its own; compact JSON answers equal to the response models'; the learner's writes in group commits;
sticky units of a variant reweighted to 0; a paused experiment serving one policy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pytest
from _service_config import config_mapping, experiment
from fastapi.testclient import TestClient

from abrec.service import create_app, load_settings
from abrec.service.api import _response
from abrec.service.models import DecideResponse
from abrec.store import EventStore

Make = Callable[..., TestClient]
CANDIDATES = ["a", "b", "c", "d"]


def _decide(unit: str, **extra: Any) -> dict[str, Any]:
    return {"experiment": "home", "unit": unit, "candidates": CANDIDATES, "k": 2, **extra}


async def _concurrently(app: Any, calls: list[tuple[str, dict[str, Any]]]) -> list[httpx.Response]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            return list(await asyncio.gather(*(client.post(path, json=body) for path, body in calls)))


def _app(tmp_path: Path, url: str, mapping: dict[str, Any] | None = None) -> Any:
    path = tmp_path / "service.yaml"
    import yaml

    path.write_text(yaml.safe_dump(mapping or config_mapping()), encoding="utf-8")
    return create_app(load_settings(config=path, database_url=url, learner=False, cache_dir=tmp_path / "cache"))


def test_concurrent_decides_are_decided_together_and_each_gets_its_own_answer(tmp_path: Path, sqlite_url: str) -> None:
    app = _app(tmp_path, sqlite_url)
    calls = [("/v1/decide", _decide(f"u{i}", request_id=f"r{i}", context=[0.0, 1.0, float(i)])) for i in range(30)]
    calls += [
        ("/v1/decide", _decide("bad-k", k=9)),  # refused alone (k above the candidates)
        ("/v1/decide", _decide("bad-context", context=[1.0])),  # refused alone (context_dim is 3)
        ("/v1/decide", {**_decide("x"), "experiment": "nope"}),  # unknown experiment: 404
        ("/v1/decide", _decide("u0", request_id="r0", context=[0.0, 1.0, 0.0])),  # the same request id: replayed
    ]
    answers = asyncio.run(_concurrently(app, calls))
    batcher = app.state.service.batchers["decide"]
    assert batcher.batches < batcher.items  # served in micro-batches
    good = [a.json() for a in answers[:30]]
    assert all(a.status_code == 200 for a in answers[:30])
    assert [g["unit"] for g in good] == [f"u{i}" for i in range(30)] and len({g["event_id"] for g in good}) == 30
    assert [a.status_code for a in answers[30:33]] == [422, 422, 404]
    assert "k=9" in answers[30].json()["message"] and "context_dim" in answers[31].json()["message"]
    replay = answers[33].json()
    assert answers[33].status_code == 200 and replay["event_id"] == good[0]["event_id"]
    assert replay["slate"] == good[0]["slate"] and replay["replayed"] != good[0]["replayed"]
    with EventStore(sqlite_url) as store:
        stored = store.decisions([g["event_id"] for g in good])
        assert sum(c["decisions"] for c in store.counts("home").values()) == 30
        assigned = store.assignments("home", [f"u{i}" for i in range(30)])
    for g in good:
        row = stored[g["event_id"]]
        assert row.unit == g["unit"] and row.variant == g["variant"] == assigned[g["unit"]]
        assert list(row.items) == [s["item"] for s in g["slate"]]
        assert list(row.propensities) == [s["propensity"] for s in g["slate"]]
        assert row.context == (0.0, 1.0, float(g["unit"][1:])) and row.client_request_id == f"r{g['unit'][1:]}"


def test_concurrent_reward_calls_are_committed_together_and_answered_one_by_one(
    tmp_path: Path, sqlite_url: str, make_client: Make
) -> None:
    client = make_client(sqlite_url)
    events = [client.post("/v1/decide", json=_decide(f"u{i}")).json() for i in range(10)]
    client.__exit__(None, None, None)
    rewards = [{"event_id": e["event_id"], "item": e["slate"][0]["item"], "value": 1.0} for e in events]
    calls = [("/v1/rewards", {"rewards": [r]}) for r in rewards]
    calls += [("/v1/rewards", {"rewards": [rewards[0]]})]  # the same reward twice in one micro-batch
    calls += [("/v1/rewards", {"rewards": [{**rewards[1], "value": 0.0}]})]  # another value: conflict
    calls += [("/v1/rewards", {"rewards": [{**rewards[2], "event_id": "f" * 32}]})]  # unknown event
    app = _app(tmp_path, sqlite_url)
    answers = asyncio.run(_concurrently(app, calls))
    assert app.state.service.batchers["rewards"].batches < len(calls)
    assert all(a.status_code == 200 and a.json()["rewards"][0]["status"] == "stored" for a in answers[:10])
    assert answers[10].status_code == 200 and answers[10].json()["rewards"][0]["status"] == "duplicate"
    assert answers[11].status_code == 409 and "already has" in answers[11].json()["message"]
    assert answers[12].status_code == 404 and answers[12].json()["rejected"] == 1
    with EventStore(sqlite_url) as store:
        assert sum(c["rewards"] for c in store.counts("home").values()) == 10


def test_the_compact_json_answer_is_the_response_models(sqlite_url: str, make_client: Make) -> None:
    client = make_client(sqlite_url)
    body = client.post("/v1/decide", json=_decide("u1", request_id="x")).json()
    with EventStore(sqlite_url) as store:
        row = store.decisions([body["event_id"]])[body["event_id"]]
    model = DecideResponse.model_validate(body)  # the answer is a valid DecideResponse ...
    assert json.loads(model.model_dump_json()) == body  # ... written as pydantic writes it
    assert _response(row, False) == body
    no_scores = _response(type(row)(**{**_fields(row), "scores": ()}), True)
    assert [s["score"] for s in no_scores["slate"]] == [None, None] and no_scores["replayed"] is True
    assert json.loads(DecideResponse.model_validate(no_scores).model_dump_json()) == no_scores


def _fields(row: Any) -> dict[str, Any]:
    import dataclasses

    return {f.name: getattr(row, f.name) for f in dataclasses.fields(row)}


def test_a_sticky_unit_of_a_variant_reweighted_to_zero_keeps_its_assignment_probability(
    database_url: str, make_client: Make
) -> None:
    from abrec.store.admin import set_weights

    client = make_client(database_url)
    first = {f"u{i}": client.post("/v1/decide", json=_decide(f"u{i}")).json() for i in range(60)}
    assert [d["assignment_p"] for d in first.values()] == pytest.approx([1 / 3] * 60)
    store = client.app.state.service.store  # type: ignore[attr-defined]
    set_weights(store, "home", {"random": 0.5, "ts": 0.5, "lin": 0.0}, actor="test")  # ramp 'lin' down
    set_weights(store, "home", {"random": 0.2, "ts": 0.8, "lin": 0.0}, actor="test")
    for c in (client, make_client(database_url)):  # this process (cached) and another (reads the database)
        deadline = datetime.now(UTC).timestamp() + 10
        while c.get("/v1/experiments").json()["experiments"][0]["period"] != 2:
            assert datetime.now(UTC).timestamp() < deadline
        for unit, before in first.items():
            r = c.post("/v1/decide", json=_decide(unit))
            assert r.status_code == 200, r.text
            d = r.json()
            assert d["variant"] == before["variant"] and d["period"] == 2
            expected = {"random": 0.2, "ts": 0.8, "lin": 1 / 3}[d["variant"]]  # lin: the period-0 weight
            assert d["assignment_p"] == pytest.approx(expected)
        new = [c.post("/v1/decide", json=_decide(f"new{i}-{id(c)}")).json() for i in range(40)]
        assert "lin" not in {d["variant"] for d in new}


def test_a_paused_experiment_serves_one_policy_logged_under_each_units_variant(
    sqlite_url: str, make_client: Make
) -> None:
    from abrec.store.admin import set_status

    with EventStore(sqlite_url) as store:  # paused before this process starts: it reads the state at start
        spec, first = _first_allocation()
        store.put_experiment("home", spec.to_dict(), first, reward_kind="click")
        set_status(store, "home", "paused", action="pause", actor="test", details={"serve": "lin"})
    client = make_client(sqlite_url)
    runtime = client.app.state.service.runtimes["home"]  # type: ignore[attr-defined]
    assert (runtime.status, runtime.serve_with) == ("paused", "lin")
    answers = [client.post("/v1/decide", json=_decide(f"u{i}", context=[1.0, 0.0, 0.0])).json() for i in range(30)]
    assert {a["policy"] for a in answers} == {"linucb"} and len({a["variant"] for a in answers}) == 3
    assert all(a["propensity_draws"] == 0 for a in answers)
    assert [a["assignment_p"] for a in answers] == pytest.approx([1 / 3] * 30)
    assert client.get("/v1/experiments").json()["experiments"][0]["status"] == "paused"


def _first_allocation() -> Any:
    from abrec.service import ServiceConfig
    from abrec.service.runtime import initial_experiment
    from abrec.store import AllocationRow

    spec = ServiceConfig.from_mapping(config_mapping(experiment())).experiments[0]
    return spec, AllocationRow.from_experiment(initial_experiment(spec), period=0, started_at=datetime.now(UTC))


def test_keys_are_checked_only_when_required(sqlite_url: str, make_client: Make) -> None:
    open_api = make_client(sqlite_url)
    assert open_api.post("/v1/decide", json=_decide("u1")).status_code == 200
    keyed = make_client(sqlite_url, require_keys=True, dashboard_key=True)
    settings = keyed.app.state.service.settings  # type: ignore[attr-defined]
    assert settings.require_keys and settings.dashboard_key
    assert keyed.post("/v1/decide", json=_decide("u1")).status_code == 401
    assert keyed.get("/").status_code == 401


def test_the_learner_snapshots_learning_variants_every_batch_and_the_others_when_idle(
    sqlite_url: str, make_client: Make
) -> None:
    from abrec.service.config import ServiceConfig
    from abrec.service.learner import Learner

    mapping = config_mapping(experiment())
    client = make_client(sqlite_url, mapping)
    rng = np.random.default_rng(1)
    store = EventStore(sqlite_url)
    learner = Learner(store, ServiceConfig.from_mapping(mapping), {"home": None}, batch_size=10_000)
    learner.restore()
    for step in range(3):
        for i in range(30):
            d = client.post("/v1/decide", json=_decide(f"s{step}-{i}", context=rng.normal(size=3).tolist())).json()
            reward = {"event_id": d["event_id"], "item": d["slate"][0]["item"], "value": float(rng.random() < 0.5)}
            client.post("/v1/rewards", json={"rewards": [reward]})
        assert learner.step() == 30
        versions = store.latest_versions()
        assert versions[("home", "ts")] == versions[("home", "lin")] == step + 1
        assert ("home", "random") not in versions  # uniform does not learn: no snapshot while busy
    assert learner.step() == 0  # idle: the non-learning variant's snapshot catches up with the journal
    versions = store.latest_versions()
    assert versions[("home", "random")] == 1 and versions[("home", "ts")] == 3
    last = store.journal("home", "random")[-1].seq
    assert store.latest_snapshot("home", "random").journal_seq == last  # type: ignore[union-attr]
    assert learner.step() == 0 and store.latest_versions() == versions  # nothing new: nothing written
    store.close()
