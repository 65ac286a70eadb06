"""The learner: journal -> Feedback per variant, exact restarts, live snapshots, adaptive allocation periods."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from _policy_state import assert_same_state
from _service_config import config_mapping, experiment
from fastapi.testclient import TestClient

from abrec.service import Learner, ServiceConfig
from abrec.service.features import ItemSpace
from abrec.service.learner import feedback_for, fold, next_allocation
from abrec.service.runtime import fresh_policies
from abrec.service.snapshots import policy_from_bytes
from abrec.service.state import needs_features
from abrec.store import EventStore
from abrec.store.records import DecisionRow, JournalEntry

Make = Callable[..., TestClient]
NOW = datetime(2026, 1, 5, tzinfo=UTC)
VARIANTS = [
    {"name": "random", "policy": "uniform"},
    {"name": "ts", "policy": "bernoulli_ts", "params": {"propensity_draws": 20}},
    {"name": "lin", "policy": "linucb"},
    {"name": "hybrid", "policy": "hybrid_linucb"},
]


def test_feedback_is_the_journal_in_order_with_the_logged_propensities_contexts_and_features() -> None:
    config = ServiceConfig.from_mapping(config_mapping(experiment(variants=VARIANTS)))
    spec = config.experiments[0]
    space = ItemSpace("hashing", 3, config.catalog)
    decision = DecisionRow(
        event_id="e1",
        experiment="home",
        unit="u",
        variant="hybrid",
        period=0,
        assignment_p=0.25,
        policy="hybrid_linucb",
        policy_version="1",
        k=2,
        items=("c", "a"),
        propensities=(0.5, 0.25),
        created_at=NOW,
        window_closes_at=NOW,
        context=(0.1, 0.2, 0.3),
    )
    entries = [
        JournalEntry(
            experiment="home",
            variant="hybrid",
            event_id="e1",
            item=item,
            position=pos,
            value=value,
            source=source,
            batch=1,
            learned_at=NOW,
            seq=seq,
        )
        for seq, (item, pos, value, source) in enumerate([("a", 1, 1.0, "reward"), ("c", 0, 0.0, "default")], 1)
    ]
    policy = fresh_policies(spec)["hybrid"]
    fb = feedback_for(entries, {"e1": decision}, policy, features=space, context_dim=3)
    assert fb.items.tolist() == ["a", "c"] and fb.rewards.tolist() == [1.0, 0.0]
    assert fb.positions.tolist() == [1, 0] and fb.propensities.tolist() == [0.25, 0.5]
    np.testing.assert_array_equal(fb.contexts, [[0.1, 0.2, 0.3]] * 2)
    np.testing.assert_array_equal(fb.item_features, space.lookup(["a", "c"]))
    assert fold(policy, entries, {"e1": decision}, features=space, context_dim=3) == ""
    assert policy.n_items == 2
    rating = [
        JournalEntry(
            **{
                **{
                    f: getattr(entries[0], f)
                    for f in ("experiment", "event_id", "item", "position", "source", "batch", "learned_at", "seq")
                },
                "variant": "ts",
                "value": 4.0,
            }
        )
    ]
    ts = fresh_policies(spec)["ts"]
    message = fold(ts, rating, {"e1": decision}, features=None, context_dim=3)
    assert "[0, 1]" in message  # refused; a replay refuses it the same way, to the same state
    again = fresh_policies(spec)["ts"]
    assert fold(again, rating, {"e1": decision}, features=None, context_dim=3) == message
    assert_same_state(ts, again)


def _traffic(client: TestClient, start: int, n: int, rng: np.random.Generator) -> None:
    """``n`` decisions (users start..start+n) with clicks on some shown items."""
    for i in range(start, start + n):
        d = client.post(
            "/v1/decide",
            json={
                "experiment": "home",
                "unit": f"user-{i}",
                "candidates": ["a", "b", "c", "d", "e"],
                "k": 2,
                "context": rng.normal(size=3).round(3).tolist(),
            },
        )
        assert d.status_code == 200, d.text
        body = d.json()
        clicks = [
            {"event_id": body["event_id"], "item": s["item"], "value": float(rng.random() < 0.4)}
            for s in body["slate"]
            if rng.random() < 0.7
        ]
        if clicks:
            assert client.post("/v1/rewards", json={"rewards": clicks}).status_code == 200


def _learner(url: str, config: ServiceConfig, clock: Callable[[], datetime]) -> Learner:
    features = {
        e.name: ItemSpace(e.config.encoder, e.config.feature_dim, config.catalog) if needs_features(e, config) else None
        for e in config.experiments
    }
    return Learner(EventStore(url), config, features, batch_size=40, clock=clock)


def test_a_restarted_learner_ends_in_the_state_of_a_run_never_interrupted(database_url: str, make_client: Make) -> None:
    mapping = config_mapping(experiment(variants=VARIANTS, reward={"kind": "click", "window": 60}))
    client = make_client(database_url, mapping)
    config = ServiceConfig.from_mapping(mapping)
    rng = np.random.default_rng(7)
    now = {"t": datetime.now(UTC)}
    _traffic(client, 0, 60, rng)
    first = _learner(database_url, config, lambda: now["t"])
    first.restore()
    assert first.step() > 0 and first.step() > 0
    _traffic(client, 60, 60, rng)
    first.step()

    def crash(*_args: object) -> None:
        raise RuntimeError("killed between the journal and the snapshots")

    first._snapshot = crash  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="killed"):
            first.step()  # its batch is journaled, no snapshot was written
    finally:
        first.store.close()
    _traffic(client, 120, 40, rng)
    now["t"] = datetime.now(UTC) + timedelta(minutes=5)  # every window closed: the rest learns the default
    second = _learner(database_url, config, lambda: now["t"])
    second.restore()
    while second.step():
        pass
    # The uninterrupted run: fresh policies folding the whole journal, batch by batch, in one go.
    store = second.store
    spec = config.experiments[0]
    features = second.features["home"]
    reference = fresh_policies(spec)
    defaults = 0
    for name, policy in reference.items():
        entries = store.journal("home", name)
        decisions = store.decisions(sorted({e.event_id for e in entries}))
        batches: dict[int, list[JournalEntry]] = {}
        for e in entries:
            batches.setdefault(e.batch, []).append(e)
        for batch in batches.values():
            assert fold(policy, batch, decisions, features=features, context_dim=3) == ""
        assert_same_state(second.variants[("home", name)].policy, policy)
        latest = store.latest_snapshot("home", name)
        if policy.learns:
            assert latest is not None and latest.journal_seq == entries[-1].seq
            assert_same_state(policy_from_bytes(latest.state), policy)
        defaults += sum(e.source == "default" for e in entries)
    counts = store.counts("home")
    assert sum(c["waiting"] for c in counts.values()) == 0 and defaults > 0
    assert sum(c["journaled"] for c in counts.values()) == sum(c["decisions"] for c in counts.values()) * 2
    store.close()


def test_workers_serve_new_snapshots_while_running(sqlite_url: str, make_client: Make) -> None:
    mapping = config_mapping(experiment(reward={"kind": "click", "window": 3600}))
    client = make_client(sqlite_url, mapping, learner=True, poll_interval=0.05)
    decisions = [
        client.post(
            "/v1/decide", json={"experiment": "home", "unit": f"u{i}", "candidates": ["a", "b"], "context": [0, 0, 1]}
        ).json()
        for i in range(30)
    ]
    start = time.monotonic()
    for d in decisions:
        client.post("/v1/rewards", json={"rewards": [{"event_id": d["event_id"], "item": d["slate"][0]["item"]}]})
    acknowledged = time.monotonic()
    versions: dict[str, int] = {}
    while time.monotonic() - acknowledged < 5:
        for i in range(0, 30, 3):
            d = client.post("/v1/decide", json={"experiment": "home", "unit": f"u{i}", "candidates": ["a", "b"]}).json()
            versions[d["variant"]] = d["snapshot_version"]
        if all(versions.get(v, 0) > 0 for v in ("ts", "lin")):
            break
        time.sleep(0.02)
    assert versions.get("ts", 0) > 0 and versions.get("lin", 0) > 0, versions  # learned without a restart
    assert time.monotonic() - start < 5
    status = {v["variant"]: v for v in client.get("/v1/experiments/home/results").json()["variants"]}
    assert status["ts"]["joined"] > 0 and status["ts"]["snapshot_version"] > 0
    assert "Learning" in status["ts"]["status"] or "all 0" in status["ts"]["status"]


def test_adaptive_allocation_starts_new_periods_that_decisions_record(sqlite_url: str, make_client: Make) -> None:
    allocation = {"method": "top_two", "min_share": 0.1, "cadence": 0.5}
    variants = [
        {"name": "a", "policy": "uniform"},
        {"name": "b", "policy": "uniform"},
        {"name": "c", "policy": "uniform"},
    ]
    mapping = config_mapping(experiment(variants=variants, control="a", allocation=allocation))
    client = make_client(sqlite_url, mapping, allocation_poll=0.05)
    for i in range(300):
        d = client.post("/v1/decide", json={"experiment": "home", "unit": f"u{i}", "candidates": ["a", "b"]}).json()
        if d["variant"] == "c":  # c is much better: top-two Thompson moves traffic to it
            client.post("/v1/rewards", json={"rewards": [{"event_id": d["event_id"], "item": d["slate"][0]["item"]}]})
    config = ServiceConfig.from_mapping(mapping)
    learner = _learner(sqlite_url, config, lambda: datetime.now(UTC) + timedelta(seconds=1))
    try:
        (row,) = learner.reallocate()
    finally:
        learner.store.close()
    assert row.period == 1 and row.weights["c"] > 0.4 and min(row.weights.values()) >= 0.1 - 1e-9
    with EventStore(sqlite_url) as store:
        stats = store.stats("home")
        # period 1 saw nobody
        assert next_allocation(config.experiments[0], stats, store.allocation("home"), NOW) is None
    deadline = time.monotonic() + 5
    while client.get("/v1/experiments").json()["experiments"][0]["period"] != 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    d = client.post("/v1/decide", json={"experiment": "home", "unit": "new-unit", "candidates": ["a", "b"]}).json()
    assert d["period"] == 1 and d["assignment_p"] == pytest.approx(row.weights[d["variant"]], abs=1e-6)
    old = client.post("/v1/decide", json={"experiment": "home", "unit": "u0", "candidates": ["a", "b"]}).json()
    first = client.post("/v1/decide", json={"experiment": "home", "unit": "u0", "candidates": ["a"]}).json()
    assert old["variant"] == first["variant"]  # sticky across periods


def test_the_learner_keeps_only_each_variants_newest_snapshots(
    sqlite_url: str, make_client: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    from abrec.service import learner

    monkeypatch.setattr(learner, "PRUNE_INTERVAL", 0.05)
    mapping = config_mapping(experiment(reward={"kind": "click", "window": 3600}))
    client = make_client(sqlite_url, mapping, learner=True, poll_interval=0.02, snapshot_keep=2)
    store = EventStore(sqlite_url)
    try:

        def kept(variant: str) -> list[int]:
            newest = store.latest_versions().get(("home", variant), 0)
            return [v for v in range(1, newest + 1) if store.snapshot("home", variant, v) is not None]

        deadline = time.monotonic() + 20
        unit = 0
        while time.monotonic() < deadline and store.latest_versions().get(("home", "lin"), 0) < 5:
            for _ in range(6):  # a round of rewards: the next micro-batch, the next snapshot of each learning variant
                unit += 1
                body = {"experiment": "home", "unit": f"u{unit}", "candidates": ["a", "b"], "context": [0, 0, 1]}
                d = client.post("/v1/decide", json=body).json()
                shown = d["slate"][0]["item"]
                client.post("/v1/rewards", json={"rewards": [{"event_id": d["event_id"], "item": shown}]})
            time.sleep(0.06)
        assert store.latest_versions()[("home", "lin")] >= 5  # more snapshots than kept were written
        time.sleep(0.3)  # the last rewards learned: no more snapshots come
        while time.monotonic() < deadline and any(len(kept(v)) > 2 for _, v in store.latest_versions()):
            time.sleep(0.05)  # every variant pruned (a static one's last snapshot may come after lin's)
        newest = store.latest_versions()[("home", "lin")]
        assert kept("lin") == [newest - 1, newest]  # the newest two, nothing older
        for (_, variant), version in store.latest_versions().items():  # the others too: at most two, the newest
            assert kept(variant) == [v for v in (version - 1, version) if v > 0]
        d = client.post("/v1/decide", json={"experiment": "home", "unit": "u1", "candidates": ["a", "b"]}).json()
        assert d["snapshot_version"] > 0  # the workers still serve the newest
    finally:
        store.close()
