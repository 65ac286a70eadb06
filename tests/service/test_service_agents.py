"""Agents served as variants: session states from the stored log, every transition logged and learned, restarts.

An agent variant decides from the session state that :class:`~abrec.agents.StateEncoder` builds of the unit's
session so far (earlier steps, their rewards), stores that state as the decision's context, and the learner
turns each session's steps into the n-step transitions a :func:`~abrec.agents.run_sessions`-style rollout
would give the agent. Every case runs on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from _policy_state import assert_same_state
from _service_config import config_mapping, experiment
from fastapi.testclient import TestClient

from abrec.agents import NStepCollector, StateEncoder, TabularQAgent, Transitions
from abrec.embeddings import ItemFeatures
from abrec.errors import InputError, ParameterError
from abrec.ope import PDIS, WPDIS, estimate_sessions, session_returns, session_target
from abrec.service import Learner, ServiceConfig, load_service_config
from abrec.service.features import ItemSpace
from abrec.service.learner import GRACE
from abrec.service.runtime import fresh_policies
from abrec.service.sessions import SessionLearning, batch_mark, session_requests, state_dim
from abrec.service.snapshots import policy_from_bytes
from abrec.service.state import needs_features
from abrec.store import EventStore
from abrec.store.records import DecisionRow, JournalEntry

Make = Callable[..., TestClient]
CANDIDATES = ["a", "b", "c", "d", "e"]
STATE = {"decay": 0.3, "horizon": 10}


def agent_variant(**params: Any) -> dict[str, Any]:
    return {
        "name": "q",
        "policy": "tabular_q",
        "params": {"n_step": 2, "gamma": 0.5, "epsilon": 0.3, **params},
        "state": dict(STATE),
    }


def agent_mapping(weights: dict[str, float] | None = None, **agent: Any) -> dict[str, Any]:
    return config_mapping(
        experiment(
            variants=[{"name": "random", "policy": "uniform"}, agent_variant(**agent)],
            allocation={"method": "fixed", "weights": weights or {"random": 0.0, "q": 1.0}},
            reward={"kind": "click", "window": 60},
        )
    )


def decide(client: TestClient, unit: str, session: str, step: int, context: list[float], k: int = 1) -> dict[str, Any]:
    response = client.post(
        "/v1/decide",
        json={
            "experiment": "home",
            "unit": unit,
            "session_id": session,
            "step": step,
            "candidates": CANDIDATES,
            "k": k,
            "context": context,
        },
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def reward(client: TestClient, body: dict[str, Any], values: list[float]) -> None:
    rewards = [
        {"event_id": body["event_id"], "item": s["item"], "value": v}
        for s, v in zip(body["slate"], values, strict=True)
    ]
    assert client.post("/v1/rewards", json={"rewards": rewards}).status_code == 200


def space_of(config: ServiceConfig) -> ItemSpace:
    spec = config.experiments[0]
    return ItemSpace(spec.config.encoder, spec.config.feature_dim, config.catalog)


def reference_encoder(space: ItemSpace) -> StateEncoder:
    ids = np.array(CANDIDATES)
    return StateEncoder(ItemFeatures(ids, space.lookup(ids)), decay=STATE["decay"], horizon=STATE["horizon"])


def stored(url: str, events: list[str]) -> list[DecisionRow]:
    with EventStore(url) as store:
        found = store.decisions(events)
    return [found[e] for e in events]


# ---------------------------------------------------------------------------------------------------- decide
def test_an_agent_decides_from_its_sessions_earlier_steps_and_their_rewards(
    database_url: str, make_client: Make
) -> None:
    mapping = agent_mapping()
    client = make_client(database_url, mapping)
    space = space_of(ServiceConfig.from_mapping(mapping))
    enc = reference_encoder(space)
    x0, x1 = [0.2, -0.1, 0.4], [0.5, 0.3, -0.2]
    first = {u: decide(client, u, "s1", 0, x0) for u in ("clicker", "skipper")}
    assert {b["variant"] for b in first.values()} == {"q"}
    reward(client, first["clicker"], [1.0])
    reward(client, first["skipper"], [0.0])
    second = {u: decide(client, u, "s1", 1, x1) for u in ("clicker", "skipper")}
    fresh = decide(client, "clicker", "s2", 0, x1)  # another session of the same unit starts afresh
    again = decide(client, "clicker", "s1", 0, x1)  # step 0 asked again: the later step is not part of its past
    rows = stored(database_url, [b["event_id"] for b in (*first.values(), *second.values(), fresh, again)])
    dim = state_dim(3, space.dim)
    assert all(r.context is not None and len(r.context) == dim for r in rows)
    start = enc.start(np.array([x0]))
    for row in rows[:2]:  # step 0: the user's context, nothing shown yet
        np.testing.assert_allclose(row.context, enc.encode(start)[0], rtol=0, atol=1e-12)
    for unit, row, click in (("clicker", rows[2], 1.0), ("skipper", rows[3], 0.0)):
        shown = np.array([[first[unit]["slate"][0]["item"]]])
        expected = enc.encode(enc.with_context(enc.advance(start, shown, np.array([[click]])), np.array([x1])))[0]
        np.testing.assert_allclose(row.context, expected, rtol=0, atol=1e-12, err_msg=unit)
    clicked = slice(3, 3 + space.dim)
    assert np.abs(np.subtract(rows[2].context, rows[3].context)[clicked]).sum() > 0.1  # the click is in the state
    for row in rows[4:]:
        np.testing.assert_allclose(row.context, enc.encode(enc.start(np.array([x1])))[0], rtol=0, atol=1e-12)
    # The logged propensity is the served agent's own, on that state and its pair features.
    agent = client.app.state.service.runtimes["home"].serving["q"].policy
    requests = session_requests(ServiceConfig.from_mapping(mapping).experiments[0], "q", space, rows)
    dist = agent.action_distribution(
        requests.candidates,
        requests.contexts,
        k=1,
        item_features=requests.item_features,
        pair_features=requests.pair_features,
    )
    chosen = [CANDIDATES.index(r.items[0]) for r in rows]
    np.testing.assert_allclose(dist.probabilities[np.arange(len(rows)), chosen, 0], [r.propensities[0] for r in rows])


def test_only_an_experiment_with_agents_puts_its_decisions_in_the_session_index(
    database_url: str, make_client: Make
) -> None:
    import sqlalchemy as sa

    from abrec.store import schema

    plain = experiment(name="plain")  # uniform, Thompson sampling, LinUCB: no agent
    mapping = agent_mapping()
    mapping["experiments"].append(plain)
    client = make_client(database_url, mapping)
    events = {"home": decide(client, "u1", "s1", 0, [0.1, 0.2, 0.3])["event_id"]}
    body = {"experiment": "plain", "unit": "u1", "session_id": "s1", "candidates": CANDIDATES, "context": [0.0] * 3}
    response = client.post("/v1/decide", json=body)
    assert response.status_code == 200, response.text
    events["plain"] = response.json()["event_id"]
    d = schema.decisions
    with EventStore(database_url) as store, store.engine.connect() as connection:
        marked = dict(
            connection.execute(sa.select(d.c.event_id, d.c.stateful).where(d.c.event_id.in_(events.values()))).all()
        )
    assert {name: bool(marked[event]) for name, event in events.items()} == {"home": True, "plain": False}


def test_a_session_state_reads_on_time_rewards_of_the_experiments_kind_only(
    database_url: str, make_client: Make
) -> None:
    mapping = agent_mapping()
    mapping["experiments"][0]["reward"]["window"] = 1
    client = make_client(database_url, mapping)
    enc = reference_encoder(space_of(ServiceConfig.from_mapping(mapping)))
    x = [0.1, 0.2, 0.3]
    other = decide(client, "buyer", "v", 0, x)
    purchase = {"event_id": other["event_id"], "item": other["slate"][0]["item"], "kind": "purchase", "value": 1.0}
    assert client.post("/v1/rewards", json={"rewards": [purchase]}).status_code == 200
    slow = decide(client, "slow", "v", 0, x)
    time.sleep(1.2)
    reward(client, slow, [1.0])  # after the window: stored, marked late
    rows = stored(database_url, [decide(client, u, "v", 1, x)["event_id"] for u in ("buyer", "slow")])
    for row, first in zip(rows, (other, slow), strict=True):
        shown = np.array([[first["slate"][0]["item"]]])
        nothing = enc.encode(enc.advance(enc.start(np.array([x])), shown, np.zeros((1, 1))))[0]
        np.testing.assert_allclose(row.context, nothing, rtol=0, atol=1e-12, err_msg=row.unit)


# ---------------------------------------------------------------------------------------------------- learn
def _rows(ts: list[Transitions]) -> list[dict[str, Any]]:
    out = []
    for t in ts:
        for i in range(t.size):
            out.append({name: np.asarray(getattr(t, name))[i] for name in Transitions._fields})
    return sorted(out, key=lambda r: tuple(np.round(r["states"], 9)))


def _sessions(client: TestClient, rng: np.random.Generator, units: range, lengths: list[int], k: int) -> dict[str, Any]:
    """Sessions of the given lengths: each step decided, then rewarded (a click on each shown item with
    probability 0.4, else an explicit 0 or nothing); returns what was sent, by unit."""
    sent: dict[str, Any] = {}
    for unit, length in zip(units, lengths, strict=True):
        steps = []
        for step in range(length):
            context = rng.normal(size=3).round(3).tolist()
            body = decide(client, f"u{unit}", f"visit-{unit}", step, context, k=k)
            values = [float(rng.random() < 0.4) for _ in body["slate"]]
            if any(values) or rng.random() < 0.5:
                reward(client, body, values)
            steps.append((context, [s["item"] for s in body["slate"]], values))
        sent[f"u{unit}"] = steps
    return sent


def _reference(
    enc: StateEncoder, space: ItemSpace, sent: dict[str, Any], n_step: int, gamma: float
) -> list[Transitions]:
    """What a run_sessions-style rollout gives the agent on the same sessions: StateEncoder + NStepCollector,
    with pair features, the session ending after its last step."""
    out = []

    def with_pairs(state: Any, ids: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
        feats = space.lookup(ids)
        return np.concatenate([feats, enc.pair_features(state, ids, None, feats)], axis=2)

    cands = np.array([CANDIDATES])
    for steps in sent.values():
        collector = NStepCollector(1, n_step=n_step, gamma=gamma)
        state = enc.start(np.array([steps[0][0]]))
        for t, (context, shown, values) in enumerate(steps):
            state = enc.with_context(state, np.array([context]))
            pos = [CANDIDATES.index(i) for i in shown]
            chosen = with_pairs(state, cands)[:, pos]
            collector.push(enc.encode(state), chosen, np.array([values]), np.array([True]), np.array([shown]))
            state = enc.advance(state, np.array([shown]), np.array([values]))
            last = t == len(steps) - 1
            if last:
                nxt, following = state, np.array([shown])
            else:
                nxt, following = enc.with_context(state, np.array([steps[t + 1][0]])), cands
            ready = collector.emit(
                enc.encode(nxt),
                with_pairs(nxt, following),
                np.ones(following.shape, dtype=bool),
                np.array([last]),
                truncated=False,
                next_items=following,
            )
            if ready is not None:
                out.append(ready)
    return out


def _learner(url: str, config: ServiceConfig, clock: Callable[[], datetime]) -> Learner:
    features = {e.name: space_of(config) if needs_features(e, config) else None for e in config.experiments}
    return Learner(EventStore(url), config, features, batch_size=40, clock=clock)


def _learned(url: str, config: ServiceConfig) -> Learner:
    """A learner that has learned everything stored, five minutes from now (every window closed)."""
    later = datetime.now(UTC) + timedelta(minutes=5)
    learner = _learner(url, config, lambda: later)
    try:
        learner.restore()
        while learner.step():
            pass
    finally:
        learner.store.close()
    return learner


def test_the_learner_learns_the_transitions_a_session_rollout_gives(
    database_url: str, make_client: Make, monkeypatch: pytest.MonkeyPatch
) -> None:
    mapping = agent_mapping()
    client = make_client(database_url, mapping)
    config = ServiceConfig.from_mapping(mapping)
    rng = np.random.default_rng(3)
    sent = _sessions(client, rng, range(8), [1, 2, 3, 4, 5, 3, 2, 4], k=2)
    learned: list[Transitions] = []
    original = TabularQAgent.learn

    def record(self: TabularQAgent, transitions: Transitions) -> None:
        learned.append(transitions)
        original(self, transitions)

    monkeypatch.setattr(TabularQAgent, "learn", record)
    learner = _learned(database_url, config)  # every window closed: every session ended
    space = space_of(config)
    got, want = _rows(learned), _rows(_reference(reference_encoder(space), space, sent, n_step=2, gamma=0.5))
    assert len(want) == sum(len(steps) for steps in sent.values()) == len(got)
    for a, b in zip(got, want, strict=True):
        for name in Transitions._fields:
            if a[name].dtype.kind in "OU":
                assert a[name].astype(str).tolist() == b[name].astype(str).tolist(), name
            else:
                np.testing.assert_allclose(a[name], b[name], rtol=0, atol=1e-9, err_msg=name)
    # The last n_step steps of each session reach its end (discount 0); the others bootstrap from step t + 2.
    assert sum(r["discounts"] == 0 for r in got) == sum(min(2, len(s)) for s in sent.values())
    assert sum(r["discounts"] == 0.25 for r in got) == sum(max(0, len(s) - 2) for s in sent.values())
    assert learner.variants[("home", "q")].policy.transitions_seen == len(want)


@pytest.mark.parametrize(
    ("policy", "params"),
    [("dqn", {"hidden": 8, "batch_size": 8, "n_step": 2}), ("slateq", {"hidden": 8, "batch_size": 8})],
)
def test_every_registered_agent_serves_and_learns(
    database_url: str, make_client: Make, policy: str, params: dict[str, Any]
) -> None:
    variant = {"name": "q", "policy": policy, "params": params}
    mapping = config_mapping(
        experiment(
            variants=[{"name": "random", "policy": "uniform"}, variant],
            allocation={"method": "fixed", "weights": {"random": 0.0, "q": 1.0}},
            reward={"kind": "click", "window": 60},
        )
    )
    client = make_client(database_url, mapping)
    config = ServiceConfig.from_mapping(mapping)
    sent = _sessions(client, np.random.default_rng(2), range(4), [3, 1, 2, 3], k=2)
    learner = _learned(database_url, config)
    state = learner.variants[("home", "q")]
    assert state.error == "" and state.version >= 1
    assert state.policy.transitions_seen == sum(len(s) for s in sent.values())


@pytest.mark.parametrize("serving", ["q", "random"])
def test_a_paused_experiment_served_by_one_variant_still_learns_every_variant(
    sqlite_url: str, make_client: Make, serving: str
) -> None:
    mapping = agent_mapping({"random": 0.25, "lin": 0.25, "q": 0.5})
    mapping["experiments"][0]["variants"].append({"name": "lin", "policy": "linucb"})
    client = make_client(sqlite_url, mapping)
    config = ServiceConfig.from_mapping(mapping)
    rng = np.random.default_rng(4)
    _sessions(client, rng, range(6), [2, 3, 1, 2, 3, 2], k=1)
    runtime = client.app.state.service.runtimes["home"]
    mixed = next(f"m{i}" for i in range(100) if runtime.assign([f"m{i}"])[0][0] == "q")
    decide(client, mixed, "v", 0, [0.1, 0.2, 0.3])  # a session of the agent's that the pause cuts in two
    runtime.status, runtime.serve_with = "paused", serving  # as the admin API sets them
    paused = _sessions(client, rng, range(6, 14), [2] * 8, k=1)
    decide(client, mixed, "v", 1, [0.1, 0.2, 0.3])
    runtime.status, runtime.serve_with = "running", None
    decide(client, mixed, "v", 2, [0.1, 0.2, 0.3])
    _sessions(client, rng, range(14, 18), [2] * 4, k=1)
    learner = _learned(sqlite_url, config)
    assert learner.status.errors == {}
    agent = learner.variants[("home", "q")].policy
    with EventStore(sqlite_url) as store:
        decided = store.export_log("home", variant="q")
    paused_q = sum(len(s) for u, s in paused.items() if decided.frame["unit"].eq(u).any())
    # With the bandit serving, the mixed session's step 1 is not the agent's: step 0's transition (2 steps)
    # would cross it, and step 1 starts none; step 2 (the session's end) is learned.
    expected = len(decided) - (paused_q + 2 if serving == "random" else 0)
    assert agent.transitions_seen == expected  # a step the bandit decided for the agent's units is not learned
    assert learner.variants[("home", "lin")].journal_seq > 0 and learner.variants[("home", "lin")].error == ""


# ---------------------------------------------------------------------------------------------------- restart
def _steps(client: TestClient, rng: np.random.Generator, units: range, steps: range) -> None:
    """One more step of each unit's session, every shown item rewarded at once (0 or 1)."""
    for unit in units:
        for step in steps:
            body = decide(client, f"user-{unit}", "s", step, rng.normal(size=3).round(3).tolist(), k=2)
            if rng.random() < 0.8:
                reward(client, body, [float(rng.random() < 0.4) for _ in body["slate"]])


def test_a_restarted_learner_ends_with_the_agent_of_a_run_never_interrupted(
    database_url: str, make_client: Make
) -> None:
    mapping = agent_mapping({"random": 0.3, "q": 0.7}, warmup=20)
    client = make_client(database_url, mapping)
    config = ServiceConfig.from_mapping(mapping)
    rng = np.random.default_rng(11)

    def real_time() -> datetime:  # the learner runs at the time decisions are stamped with (live)
        return datetime.now(UTC)

    _steps(client, rng, range(12), range(3))
    time.sleep(1.2)  # the decisions are older than the learner's grace
    first = _learner(database_url, config, real_time)
    first.restore()
    while first.step():
        pass
    learned_early = first.variants[("home", "q")].policy.transitions_seen
    _steps(client, rng, range(12), range(3, 5))
    _steps(client, rng, range(12, 20), range(2))
    time.sleep(1.2)
    assert first.step() > 0

    def crash(*_args: object) -> None:
        raise RuntimeError("killed between the journal and the snapshots")

    _steps(client, rng, range(20, 26), range(3))
    time.sleep(1.2)
    first._snapshot = crash  # type: ignore[method-assign]
    try:
        with pytest.raises(RuntimeError, match="killed"):
            first.step()  # its batch is journaled, no snapshot was written
    finally:
        first.store.close()
    _steps(client, rng, range(26, 30), range(2))
    later = datetime.now(UTC) + timedelta(minutes=5)  # every window closed: the rest learns the default
    second = _learner(database_url, config, lambda: later)
    second.restore()
    while second.step():
        pass
    # The uninterrupted run: a fresh agent learning the whole journal, batch by batch, in one go.
    store = second.store
    spec = config.experiments[0]
    agent = fresh_policies(spec)["q"]
    learning = SessionLearning(spec, "q", second.features["home"], GRACE)  # type: ignore[arg-type]
    batches: dict[int, list[JournalEntry]] = {}
    for e in store.journal("home", "q"):
        batches.setdefault(e.batch, []).append(e)
    mark = None
    for batch in batches.values():
        assert learning.fold(agent, store, batch, mark) == ""
        mark = batch_mark(batch)
    served = second.variants[("home", "q")].policy
    assert 0 < learned_early < served.transitions_seen  # learned before the crash, and after the restart
    assert served.transitions_seen == agent.transitions_seen
    assert_same_state(served, agent)
    latest = store.latest_snapshot("home", "q")
    assert latest is not None and latest.journal_seq == store.journal("home", "q")[-1].seq
    assert_same_state(policy_from_bytes(latest.state), agent)
    store.close()
    # A worker started now serves the learned agent (its snapshot), deciding from session states as before.
    worker = make_client(database_url, mapping)
    assert worker.app.state.service.runtimes["home"].serving["q"].version == latest.version
    for step in range(2):
        assert decide(worker, "user-0", "later", step, [0.1, 0.2, 0.3], k=2)["snapshot_version"] == latest.version


# ---------------------------------------------------------------------------------------------------- export, OPE
def test_the_exported_agent_log_is_a_session_log_for_sequential_ope(database_url: str, make_client: Make) -> None:
    mapping = agent_mapping()
    client = make_client(database_url, mapping)
    config = ServiceConfig.from_mapping(mapping)
    rng = np.random.default_rng(5)
    sent = _sessions(client, rng, range(10), [3, 1, 2, 4, 2, 3, 1, 2, 3, 2], k=1)
    with EventStore(database_url) as store:
        log = store.export_log("home", variant="q")
        decisions = store.decisions(log.frame["request_id"].tolist())
    rows = [decisions[e] for e in log.frame["request_id"]]
    space = space_of(config)
    assert len(log) == sum(len(s) for s in sent.values())
    assert log.contexts() is not None and log.contexts().shape == (len(log), state_dim(3, space.dim))
    np.testing.assert_allclose(log.contexts(), [r.context for r in rows])
    returns = session_returns(log)
    want = sorted(sum(v[0] for _, _, v in steps) for steps in sent.values())
    np.testing.assert_allclose(sorted(returns), want)
    logged = log.frame["propensity"].to_numpy()
    assert PDIS().value(log, logged) == pytest.approx(float(np.mean(want)))
    assert WPDIS().value(log, logged) == pytest.approx(float(np.mean(want)))
    # The served agent, asked at the logged requests (its states, candidates, features), gives back what it logged.
    agent = client.app.state.service.runtimes["home"].serving["q"].policy
    target = session_target(agent, log, session_requests(config.experiments[0], "q", space, rows))
    np.testing.assert_allclose(target.prob, logged, rtol=0, atol=1e-12)
    results = estimate_sessions(log, target, n_bootstrap=20)
    assert {r.estimator for r in results} >= {"pdis", "wpdis"}
    assert all(np.isfinite(r.value) for r in results)


# ---------------------------------------------------------------------------------------------------- config
@pytest.mark.parametrize(
    ("variant", "error", "match"),
    [
        (
            {"name": "ts", "policy": "bernoulli_ts", "state": {"horizon": 5}},
            InputError,
            r"variants\[1\]\.state \(ts\).*not an agent",
        ),
        (
            {"name": "q", "policy": "tabular_q", "state": {"horizn": 5}},
            InputError,
            r"Unknown key 'horizn' in .*variants\[1\]\.state \(q\)\. Did you mean 'horizon'",
        ),
        (
            {"name": "q", "policy": "tabular_q", "state": {"horizon": 0}},
            ParameterError,
            r"variants\[1\]\.state: The 'horizon' parameter .* int in \[1, inf\)\. Got 0",
        ),
        (
            {"name": "q", "policy": "tabular_q", "state": {"decay": 1.5}},
            ParameterError,
            r"'decay' parameter .* in \[0, 1\]\. Got 1\.5",
        ),
        (
            {"name": "q", "policy": "tabular_q", "state": {"pair_features": "yes"}},
            ParameterError,
            r"'pair_features' .* a bool",
        ),
        (
            {"name": "q", "policy": "tabular_q", "state": [1]},
            InputError,
            r"variants\[1\]\.state \(q\) must be a mapping",
        ),
        (
            {"name": "q", "policy": "tabular_q", "params": {"reward_weights": {"click": 1.0}}},
            InputError,
            r"variants\[1\]\.params \(q\).*reward_weights",
        ),
        (
            {"name": "q", "policy": "tabular_q", "params": {"epsilon": 2.0}},
            ParameterError,
            r"variants\[1\]\.params \(q\).*'epsilon'",
        ),
        ({"name": "q", "policy": "dqm"}, Exception, r"dqn"),
    ],
)
def test_bad_agent_configs_say_what_and_where(variant: dict[str, Any], error: type[Exception], match: str) -> None:
    mapping = config_mapping(experiment(variants=[{"name": "random", "policy": "uniform"}, variant]))
    with pytest.raises(error, match=match):
        ServiceConfig.from_mapping(mapping)


def test_an_agent_needs_a_catalog_and_its_config_round_trips(tmp_path: Any) -> None:
    import yaml

    mapping = config_mapping(experiment(variants=[{"name": "random", "policy": "uniform"}, agent_variant()]))
    without = {k: v for k, v in mapping.items() if k != "catalog"}
    path = tmp_path / "agents.yaml"
    path.write_text(yaml.safe_dump(without), encoding="utf-8")
    with pytest.raises(
        InputError, match=r"agents\.yaml: experiments\[0\] \(home\): the agent variant\(s\) \['q'\].*catalog"
    ):
        load_service_config(path)
    spec = ServiceConfig.from_mapping(mapping).experiments[0]
    assert spec.states["q"].horizon == STATE["horizon"] and "random" not in spec.states
    again = ServiceConfig.from_mapping({"catalog": mapping["catalog"], "experiments": [spec.to_dict()]})
    assert again.experiments[0] == spec  # what the database stores of it builds the same experiment


def test_the_example_config_serves_agents_next_to_a_bandit(sqlite_url: str, make_client: Make) -> None:
    import yaml

    path = Path(__file__).parents[2] / "examples" / "serve-agents.yaml"
    config = load_service_config(path)
    spec = config.experiments[0]
    assert sorted(spec.states) == ["dqn", "tabular-q"] and "bandit" not in spec.states
    mapping = yaml.safe_load(path.read_text(encoding="utf-8"))
    mapping["experiments"][0]["encoder"] = "hashing"  # the light encoder, whatever is installed
    client = make_client(sqlite_url, mapping)
    seen = set()
    for unit in range(12):
        for step in range(2):
            body = client.post(
                "/v1/decide",
                json={
                    "experiment": "shop-sessions",
                    "unit": f"user-{unit}",
                    "session_id": f"visit-{unit}",
                    "step": step,
                    "history": ["boots"],
                    "candidates": ["boots", "scarf", "hat", "gloves", "coat", "socks"],
                    "k": 2,
                },
            )
            assert body.status_code == 200, body.text
            seen.add(body.json()["variant"])
    assert seen == {"bandit", "dqn", "tabular-q"}
