"""The admin API in process, on SQLite and PostgreSQL: every change works, is audited, and needs an admin key."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
from _ops import Keys, dump, ensure_operations
from _service_config import config_mapping, experiment
from fastapi.testclient import TestClient

from abrec.policies.records import Feedback
from abrec.service.snapshots import policy_from_bytes, policy_to_bytes
from abrec.store import EventStore, Snapshot
from abrec.store.admin import audit_log

Make = Callable[..., TestClient]
CANDIDATES = ["a", "b", "c", "d"]
NEW = {"name": "checkout", "variants": [{"name": "old", "policy": "uniform"}, {"name": "new", "policy": "ucb1"}]}

#: Every admin endpoint with a body that would change something if the key were accepted.
ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("POST", "/v1/admin/experiments", {"config": NEW}),
    ("POST", "/v1/admin/experiments/home/weights", {"weights": {"random": 1, "ts": 0, "lin": 0}}),
    ("POST", "/v1/admin/experiments/home/pause", {"serve": "ts"}),
    ("POST", "/v1/admin/experiments/home/resume", None),
    ("POST", "/v1/admin/experiments/home/stop", {}),
    ("POST", "/v1/admin/experiments/home/rollback", {"variant": "ts", "version": 1}),
    ("POST", "/v1/admin/experiments/home/offline", {"estimates": {"ts": {"value": 0.1}}}),
    ("GET", "/v1/admin/audit", None),
]


@pytest.fixture
def ops(database_url: str, make_client: Make) -> tuple[TestClient, EventStore, Keys]:
    client = make_client(database_url)
    ensure_operations(client.app)  # type: ignore[arg-type]
    store = client.app.state.service.store  # type: ignore[attr-defined]
    return client, store, Keys(store)


def _call(client: TestClient, method: str, path: str, body: dict[str, Any] | None, token: str | None) -> Any:
    return client.request(method, path, json=body, headers=Keys.header(token))


def test_every_admin_endpoint_refuses_a_missing_wrong_revoked_or_client_key_and_changes_nothing(
    ops: tuple[TestClient, EventStore, Keys],
) -> None:
    client, store, keys = ops
    client.post("/v1/decide", json={"experiment": "home", "unit": "u1", "candidates": CANDIDATES})
    before = dump(store)
    refusals = {None: 401, keys.garbage: 401, keys.wrong: 401, keys.revoked: 401, keys.client: 403}
    for method, path, body in ENDPOINTS:
        for token, status in refusals.items():
            r = _call(client, method, path, body, token)
            assert r.status_code == status, (path, token, r.text)
            assert r.json()["message"], r.text
            if status == 401:
                assert r.headers["www-authenticate"].startswith("Bearer")
        # the same key in the other header is refused the same way
        assert client.request(method, path, json=body, headers={"X-API-Key": keys.client}).status_code == 403
    assert dump(store) == before  # nothing changed, not even the audit trail
    for method, path, body in ENDPOINTS[-1:]:
        assert _call(client, method, path, body, keys.admin).status_code == 200


def test_pause_serves_one_policy_to_everyone_keeps_logging_and_resume_undoes_it(
    ops: tuple[TestClient, EventStore, Keys],
) -> None:
    client, store, keys = ops

    def decide(unit: str) -> dict[str, Any]:
        r = client.post("/v1/decide", json={"experiment": "home", "unit": unit, "candidates": CANDIDATES, "k": 2})
        assert r.status_code == 200, r.text
        body: dict[str, Any] = r.json()
        return body

    before = {f"u{i}": decide(f"u{i}")["variant"] for i in range(30)}
    assert set(before.values()) == {"random", "ts", "lin"}
    r = _call(client, "POST", "/v1/admin/experiments/home/pause", {"serve": "ts"}, keys.admin)
    assert r.status_code == 200 and r.json()["status"] == "paused", r.text
    paused = [decide(f"u{i}") for i in range(30)]
    # every unit keeps its assigned variant in the log, but the ts policy decided for all of them
    assert {d["unit"]: d["variant"] for d in paused} == before
    assert {d["policy"] for d in paused} == {"bernoulli_ts"}
    with EventStore(store.url) as other:
        assert sum(c["decisions"] for c in other.counts("home").values()) == 60  # still logged
    r = _call(client, "POST", "/v1/admin/experiments/home/resume", None, keys.admin)
    assert r.status_code == 200 and r.json()["status"] == "running"
    resumed = [decide(f"u{i}") for i in range(30)]
    assert {d["policy"] for d in resumed} == {"uniform", "bernoulli_ts", "linucb"}
    actions = [(e.action, e.actor, e.details.get("serve")) for e in audit_log(store, "home")]
    assert actions[:2] == [("resume", f"ops team ({keys.admin_key.id})", None), ("pause", actions[1][1], "ts")]
    assert _call(client, "POST", "/v1/admin/experiments/home/pause", {"serve": "nope"}, keys.admin).status_code == 404


def test_new_weights_apply_to_new_units_while_assigned_units_keep_their_variant(
    ops: tuple[TestClient, EventStore, Keys],
) -> None:
    client, store, keys = ops
    old = {}
    for i in range(40):
        r = client.post("/v1/decide", json={"experiment": "home", "unit": f"old{i}", "candidates": CANDIDATES})
        old[f"old{i}"] = r.json()["variant"]
    body = {"weights": {"random": 0.1, "ts": 0.8, "lin": 0.1}}
    r = _call(client, "POST", "/v1/admin/experiments/home/weights", body, keys.admin)
    assert r.status_code == 200, r.text
    assert r.json()["details"]["period"] == 1 and r.json()["details"]["weights"]["ts"] == pytest.approx(0.8)

    def decide(unit: str) -> dict[str, Any]:
        r = client.post("/v1/decide", json={"experiment": "home", "unit": unit, "candidates": CANDIDATES})
        assert r.status_code == 200, r.text
        out: dict[str, Any] = r.json()
        return out

    assert {u: decide(u)["variant"] for u in old} == old  # sticky
    new = [decide(f"new{i}") for i in range(300)]
    share = np.mean([d["variant"] == "ts" for d in new])
    assert 0.72 < share < 0.88 and {d["period"] for d in new} == {1}  # 0.8 +- 4 standard errors
    assert [d["assignment_p"] for d in new if d["variant"] == "ts"] == pytest.approx([0.8] * round(share * 300))
    assert store.allocation("home").weights == pytest.approx({"random": 0.1, "ts": 0.8, "lin": 0.1})
    bad = [
        {"weights": {"random": 1, "ts": 1}},  # a variant left out
        {"weights": {"random": -1, "ts": 1, "lin": 1}},
        {"weights": {"random": 0, "ts": 0, "lin": 0}},
        {"weights": {"random": 1, "ts": 1, "lin": 1, "zzz": 1}},
    ]
    before = dump(store)
    for body in bad:
        r = _call(client, "POST", "/v1/admin/experiments/home/weights", body, keys.admin)
        assert r.status_code == 422 and r.json()["message"], (body, r.text)
    assert dump(store) == before


def test_stop_returns_and_records_the_final_readout_and_stays_stopped(ops: tuple[TestClient, EventStore, Keys]) -> None:
    client, store, keys = ops
    rng = np.random.default_rng(0)
    for i in range(60):
        d = client.post("/v1/decide", json={"experiment": "home", "unit": f"u{i}", "candidates": CANDIDATES}).json()
        value = float(rng.random() < 0.3)
        client.post(
            "/v1/rewards",
            json={"rewards": [{"event_id": d["event_id"], "item": d["slate"][0]["item"], "value": value}]},
        )
    results = client.get("/v1/experiments/home/results").json()
    r = _call(client, "POST", "/v1/admin/experiments/home/stop", {}, keys.admin)
    assert r.status_code == 200, r.text
    stop = r.json()
    assert stop["status"] == "stopped" and stop["readout"]["readout"] == results["readout"]
    entry = audit_log(store, "home")[0]
    assert entry.action == "stop" and entry.details["final"]["readout"] == results["readout"]
    assert entry.details["serve"] == "random"  # the control
    for path in ("pause", "resume", "stop"):
        assert _call(client, "POST", f"/v1/admin/experiments/home/{path}", None, keys.admin).status_code == 409
    d = client.post("/v1/decide", json={"experiment": "home", "unit": "late", "candidates": CANDIDATES})
    assert d.status_code == 200 and d.json()["policy"] == "uniform"  # the control's policy serves everyone


def _snapshot(store: EventStore, policy: Any, version: int) -> Snapshot:
    from datetime import UTC, datetime

    snap = Snapshot(
        experiment="home",
        variant="ts",
        version=version,
        journal_seq=0,
        policy=policy.name,
        state=policy_to_bytes(policy),
        created_at=datetime.now(UTC),
    )
    store.put_snapshot(snap)
    return snap


def test_rollback_serves_an_earlier_snapshot_again_as_a_new_version(ops: tuple[TestClient, EventStore, Keys]) -> None:
    client, store, keys = ops
    service = client.app.state.service  # type: ignore[attr-defined]
    policy = service.runtimes["home"].serving["ts"].policy
    first = _snapshot(store, policy, 1)
    trained = policy_from_bytes(first.state)
    items = np.array(["a"] * 50)
    trained.update(Feedback(items, np.ones(50), np.zeros((50, 3)), np.zeros(50, dtype=np.int64), np.ones(50)))
    second = _snapshot(store, trained, 2)
    assert second.state != first.state
    service.refresh_policies()
    assert service.runtimes["home"].serving["ts"].version == 2
    r = _call(client, "POST", "/v1/admin/experiments/home/rollback", {"variant": "ts", "version": 1}, keys.admin)
    assert r.status_code == 200, r.text
    assert r.json()["details"] == {"variant": "ts", "to_version": 1, "from_version": 2, "new_version": 3}
    latest = store.latest_snapshot("home", "ts")
    assert latest is not None and latest.version == 3 and latest.state == first.state
    assert service.runtimes["home"].serving["ts"].version == 3
    assert policy_to_bytes(service.runtimes["home"].serving["ts"].policy) == first.state
    missing = _call(client, "POST", "/v1/admin/experiments/home/rollback", {"variant": "ts", "version": 9}, keys.admin)
    assert missing.status_code == 404 and "Known: 1, 2, 3" in missing.json()["message"]


def test_create_records_the_experiment_and_refuses_duplicates_and_bad_configs(
    ops: tuple[TestClient, EventStore, Keys],
) -> None:
    client, store, keys = ops
    r = _call(client, "POST", "/v1/admin/experiments", {"config": NEW}, keys.admin)
    assert r.status_code == 201, r.text
    assert r.json()["experiment"] == "checkout" and r.json()["details"]["weights"] == {"old": 0.5, "new": 0.5}
    assert "checkout" in {e.name for e in store.experiments()}
    assert audit_log(store, "checkout")[0].action == "create"
    before = dump(store)
    bad = [
        {"config": NEW},  # exists
        {"config": {**NEW, "variants": [{"name": "x", "policy": "no_such_policy"}]}},
        {"config": {**NEW, "name": "a b"}},
        {"config": {"name": "x"}},
        {"config": {**NEW, "name": "home"}},
    ]
    for body in bad:
        r = _call(client, "POST", "/v1/admin/experiments", body, keys.admin)
        assert r.status_code in (409, 422) and r.json()["message"], (body, r.text)
    assert dump(store) == before


def test_an_unknown_experiment_is_404_and_the_audit_lists_changes_newest_first(
    ops: tuple[TestClient, EventStore, Keys],
) -> None:
    client, _store, keys = ops
    for path in ("pause", "resume", "stop", "weights", "rollback"):
        r = _call(client, "POST", f"/v1/admin/experiments/nope/{path}", None, keys.admin)
        assert r.status_code in (404, 422), r.text
    _call(client, "POST", "/v1/admin/experiments/home/pause", None, keys.admin)
    _call(client, "POST", "/v1/admin/experiments/home/resume", None, keys.admin)
    entries = _call(client, "GET", "/v1/admin/audit?experiment=home", None, keys.admin).json()["entries"]
    assert [e["action"] for e in entries] == ["resume", "pause"]
    everything = _call(client, "GET", "/v1/admin/audit?limit=3", None, keys.admin).json()["entries"]
    assert [e["action"] for e in everything] == ["resume", "pause", "key.revoke"]


def test_client_endpoints_need_a_client_key_when_keys_are_required(database_url: str, make_client: Make) -> None:
    client = make_client(database_url, config_mapping(experiment()), require_keys=True)
    store = client.app.state.service.store  # type: ignore[attr-defined]
    keys = Keys(store)
    body = {"experiment": "home", "unit": "u1", "candidates": CANDIDATES}
    before = dump(store)
    for token in (None, keys.garbage, keys.wrong, keys.revoked):
        r = client.post("/v1/decide", json=body, headers=Keys.header(token))
        assert r.status_code == 401, r.text
        assert client.get("/v1/experiments", headers=Keys.header(token)).status_code == 401
    assert dump(store) == before
    for token in (keys.client, keys.admin):
        assert client.post("/v1/decide", json=body, headers=Keys.header(token)).status_code == 200
    assert client.get("/healthz").status_code == 200  # health stays open


def test_an_experiment_created_through_the_api_is_served_at_once_and_after_a_restart(
    database_url: str, make_client: Make
) -> None:
    client = make_client(database_url)
    keys = Keys(client.app.state.service.store)  # type: ignore[attr-defined]
    r = _call(client, "POST", "/v1/admin/experiments", {"config": NEW}, keys.admin)
    assert r.status_code == 201, r.text
    body = {"experiment": "checkout", "unit": "u1", "candidates": CANDIDATES}
    d = client.post("/v1/decide", json=body)
    assert d.status_code == 200 and d.json()["variant"] in ("old", "new"), d.text
    assert "checkout" in {e["name"] for e in client.get("/v1/experiments").json()["experiments"]}
    again = make_client(database_url)  # another process of the same service (a worker, or a restart)
    assert again.post("/v1/decide", json=body).json()["variant"] == d.json()["variant"]  # sticky


def test_after_a_rollback_the_live_learner_goes_on_from_the_restored_snapshot(
    database_url: str, make_client: Make
) -> None:
    from _traffic import newest_snapshots, same_state, wait_learned

    from abrec.service.learner import _batches, fold

    variants = [{"name": "random", "policy": "uniform"}, {"name": "ts", "policy": "bernoulli_ts"}]
    client = make_client(database_url, config_mapping(experiment(variants=variants)), learner=True)
    service = client.app.state.service  # type: ignore[attr-defined]
    store = service.store
    keys = Keys(store)

    def traffic(prefix: str, n: int, value: float) -> None:
        for i in range(n):
            d = client.post("/v1/decide", json={"experiment": "home", "unit": f"{prefix}{i}", "candidates": CANDIDATES})
            body = d.json()
            reward = {"event_id": body["event_id"], "item": body["slate"][0]["item"], "value": value}
            assert client.post("/v1/rewards", json={"rewards": [reward]}).status_code == 200

    traffic("a", 20, 1.0)
    wait_learned(store.url, "home")
    kept = store.latest_snapshot("home", "ts")
    assert kept is not None and kept.version >= 1
    traffic("b", 20, 0.0)
    wait_learned(store.url, "home")
    dropped = store.latest_snapshot("home", "ts")
    assert dropped is not None and dropped.version > kept.version and dropped.state != kept.state
    body = {"variant": "ts", "version": kept.version}
    r = client.post("/v1/admin/experiments/home/rollback", json=body, headers=Keys.header(keys.admin))
    assert r.status_code == 200, r.text
    rolled = store.latest_snapshot("home", "ts")
    assert rolled is not None and rolled.state == kept.state and rolled.version == dropped.version + 1
    assert rolled.journal_seq == dropped.journal_seq  # what was learned before the rollback is not replayed
    traffic("c", 20, 1.0)
    wait_learned(store.url, "home", timeout=60)
    newest = newest_snapshots(store.url, "home")["ts"]
    assert newest[0] is not None and newest[1] > rolled.journal_seq
    # expected: the kept state, plus every journal entry after the rollback folded in, batch by batch
    expected = policy_from_bytes(kept.state)
    entries = store.journal("home", "ts", dropped.journal_seq)
    decisions = store.decisions([e.event_id for e in entries])
    for batch in _batches(entries):
        fold(expected, batch, decisions, features=service.features.get("home"), context_dim=3)
    same, why = same_state(newest, (expected, int(entries[-1].seq or 0)))
    assert same, why
