"""Traffic for the service's proofs: clients calling ``/v1/decide`` and ``/v1/rewards`` of a real ``abrec serve``.

Two drivers and the checks that go with them:

- **Crash traffic** (:func:`crash_traffic`, also ``python tests/service/_traffic.py crash URL LEDGER STOP``, so it
  runs in another process than the one that kills the server): concurrent clients decide (each with its own
  client request id) and reward every shown item, retrying each call with the same ids until it gets an answer
  however often the server dies. Every answer (200) is appended to a ledger (JSON lines). Some decides are sent
  again after their answer (a client that lost the answer) and some rewards twice (a retried reward call).
  :func:`check_crash` compares the ledger with the database: every acknowledged decision and reward stored
  exactly once, the retried decides answered with the same event, every reward learned exactly once, and each
  variant's newest policy snapshot equal, array for array, to a learner replaying the whole journal without
  interruption (:func:`replayed_policies`).
- **Environment traffic** (:func:`drive_env`): the users of an abrec bandit environment (as ``abrec simulate``
  builds it from the same config and seeds) get their slates from the service (``/v1/decide/batch``, one call per
  step, units named as the simulator names them), the environment clicks, every shown item gets its reward (0 or
  1, so every impression is learned at once) and the driver waits until the policy versions in service include
  the step's rewards: learning happens at the same points as in :func:`abrec.experiments.run_simulation`.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import os
import random
import subprocess
import sys
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
import sqlalchemy as sa

from abrec.client import AsyncClient, Client, Decision, RewardStatus, ServiceError

T = TypeVar("T")

#: The crash experiment's candidate items and context length (see :func:`crash_config`).
CRASH_ITEMS = tuple(f"i{j}" for j in range(12))
CRASH_CONTEXT_DIM = 4


def crash_config(name: str = "crash") -> dict[str, Any]:
    """A service config for crash traffic: a uniform control, LinUCB (reads contexts) and Bernoulli TS."""
    return {
        "experiments": [
            {
                "name": name,
                "seed": 3,
                "context_dim": CRASH_CONTEXT_DIM,
                "variants": [
                    {"name": "random", "policy": "uniform"},
                    {"name": "lin", "policy": "linucb", "params": {"alpha": 0.5}},
                    {"name": "ts", "policy": "bernoulli_ts", "params": {"propensity_draws": 20}},
                ],
                "control": "random",
                "reward": {"kind": "click", "window": 3600, "default": 0.0},
            }
        ]
    }


# ---------------------------------------------------------------------------------------------- crash traffic
@dataclass
class TrafficStats:
    """What a crash-traffic run did (the ledger holds every answer)."""

    decisions: int = 0
    decide_retries: int = 0
    rewards: int = 0
    reward_retries: int = 0
    failed_attempts: int = 0
    rejected: int = 0


class _Ledger:
    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._fh = open(path, "a", encoding="utf-8", buffering=1)

    def write(self, record: Mapping[str, Any]) -> None:
        self._fh.write(json.dumps(record, separators=(",", ":")) + "\n")

    def close(self) -> None:
        self._fh.close()


async def _until_answered(call: Callable[[], Awaitable[T]], stats: TrafficStats) -> T | ServiceError:
    """Call until the service answers: connection errors and 5xx are retried (same body, same ids); a 4xx is
    returned as the error (the caller records it: it means something acknowledged was lost)."""
    delay = 0.02
    while True:
        try:
            return await call()
        except ServiceError as exc:
            if exc.status is not None and exc.status < 500:
                return exc
            stats.failed_attempts += 1
            await asyncio.sleep(delay * (0.5 + random.random()))
            delay = min(delay * 2, 0.5)


async def _crash_user(
    client: AsyncClient,
    experiment: str,
    rng: np.random.Generator,
    ledger: _Ledger,
    stop: Callable[[], bool],
    stats: TrafficStats,
) -> None:
    while not stop():
        rid = uuid.uuid4().hex
        unit = f"u{int(rng.integers(300))}"
        candidates = [CRASH_ITEMS[j] for j in rng.choice(len(CRASH_ITEMS), size=4, replace=False)]
        context = rng.normal(size=CRASH_CONTEXT_DIM).round(6).tolist()
        sends = 2 if rng.random() < 0.15 else 1  # the second: a client retrying after a lost answer
        decision: Decision | None = None
        decide = functools.partial(
            client.decide, experiment, unit=unit, candidates=candidates, k=2, context=context, request_id=rid
        )
        for attempt in range(sends):
            got = await _until_answered(decide, stats)
            if isinstance(got, ServiceError):
                stats.rejected += 1
                ledger.write(
                    {"op": "rejected", "call": "decide", "rid": rid, "status": got.status, "message": str(got)}
                )
                break
            decision = got
            ledger.write(
                {"op": "decide", "rid": rid, "event": got.event_id, "items": list(got.items), "replayed": got.replayed}
            )
            stats.decisions += attempt == 0
            stats.decide_retries += attempt > 0
        if decision is None:
            continue
        values = rng.integers(0, 2, size=len(decision.items)).astype(float).tolist()
        rewards = [
            {"event_id": decision.event_id, "item": item, "value": v, "kind": "click"}
            for item, v in zip(decision.items, values, strict=True)
        ]
        calls = [(rewards, False)] if rng.random() < 0.5 else [([r], False) for r in rewards]
        if rng.random() < 0.15:
            calls.append(([rewards[0]], True))  # a retried reward: must come back a duplicate, never stored twice
        for call, retry in calls:
            answer = await _until_answered(lambda call=call: client.rewards(call), stats)  # type: ignore[misc]
            if isinstance(answer, ServiceError):
                stats.rejected += 1
                ledger.write({"op": "rejected", "call": "rewards", "status": answer.status, "message": str(answer)})
                continue
            for sent, status in zip(call, answer, strict=True):
                ledger.write(
                    {
                        "op": "reward",
                        "event": sent["event_id"],
                        "item": sent["item"],
                        "value": sent["value"],
                        "status": status.status,
                        "retry": retry,
                    }
                )
                stats.rewards += not retry
                stats.reward_retries += retry


async def crash_traffic(
    url: str,
    ledger_path: str | os.PathLike[str],
    *,
    experiment: str = "crash",
    users: int = 8,
    seed: int = 0,
    stop: Callable[[], bool],
    timeout: float = 5.0,
) -> TrafficStats:
    """Run ``users`` concurrent clients against ``url`` until ``stop()`` is true; every answer goes to the ledger.

    Each client finishes what it started (a decide and its rewards), waiting for the server to come back as long
    as it takes, so every decide or reward sent is answered before this returns.
    """
    stats = TrafficStats()
    ledger = _Ledger(ledger_path)
    rng = np.random.default_rng(seed)
    try:
        async with AsyncClient(url, timeout=timeout, retries=0) as client:
            await asyncio.gather(
                *(
                    _crash_user(client, experiment, np.random.default_rng(rng.integers(2**63)), ledger, stop, stats)
                    for _ in range(users)
                )
            )
    finally:
        ledger.close()
    return stats


def _crash_main(argv: Sequence[str]) -> int:
    ap = argparse.ArgumentParser(prog="_traffic.py crash")
    ap.add_argument("url")
    ap.add_argument("ledger")
    ap.add_argument("stop_file", help="the clients stop (after finishing what they started) once this file exists")
    ap.add_argument("--experiment", default="crash")
    ap.add_argument("--users", type=int, default=8)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--max-seconds", type=float, default=900.0)
    args = ap.parse_args(argv)
    deadline = time.monotonic() + args.max_seconds
    stop_file = Path(args.stop_file)

    def stop() -> bool:
        return stop_file.exists() or time.monotonic() > deadline

    stats = asyncio.run(
        crash_traffic(args.url, args.ledger, experiment=args.experiment, users=args.users, seed=args.seed, stop=stop)
    )
    print(json.dumps(stats.__dict__), flush=True)
    return 0


@dataclass
class CrashReport:
    """The ledger against the database (:func:`check_crash`): counts, and every problem found."""

    counts: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    states_equal: dict[str, bool] = field(default_factory=dict)


def read_ledger(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def _tables(url: str) -> dict[str, list[dict[str, Any]]]:
    """The decisions, rewards and journal rows of the database at ``url`` (read directly, not through the store)."""
    from abrec.store.engine import create_store_engine

    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            out = {}
            for table, columns in (
                ("decisions", "event_id, experiment, client_request_id, variant, items"),
                ("rewards", "event_id, item, kind, value, late"),
                ("journal", "seq, experiment, variant, event_id, item, position, value, source, batch"),
            ):
                rows = connection.execute(sa.text(f"SELECT {columns} FROM {table} ORDER BY seq"))
                out[table] = [dict(r._mapping) for r in rows]
            return out
    finally:
        engine.dispose()


def check_crash(url: str, ledger: Sequence[Mapping[str, Any]], *, experiment: str = "crash") -> CrashReport:
    """Every acknowledged decision and reward of ``ledger`` in the database at ``url`` exactly once, each reward
    learned exactly once, and each variant's newest snapshot equal to an uninterrupted replay of the journal."""
    report = CrashReport()
    problems = report.problems
    db = _tables(url)
    decisions = [d for d in db["decisions"] if d["experiment"] == experiment]
    # -- decisions: one row per client request id, the event every answer named
    answered: dict[str, set[str]] = defaultdict(set)
    slates: dict[str, list[str]] = {}
    replays = 0
    for r in ledger:
        if r["op"] == "rejected":
            problems.append(f"a {r['call']} was rejected ({r['status']}): {r['message']}")
        if r["op"] == "decide":
            answered[r["rid"]].add(r["event"])
            slates[r["event"]] = r["items"]
            replays += bool(r["replayed"])
    for rid, events in answered.items():
        if len(events) != 1:
            problems.append(f"client request {rid} was answered with {len(events)} events: {sorted(events)}")
    by_rid = Counter(d["client_request_id"] for d in decisions)
    stored = {d["event_id"]: d for d in decisions}
    twice = [rid for rid, n in by_rid.items() if n > 1]
    if twice:
        problems.append(f"{len(twice)} client request ids stored more than once, e.g. {twice[:3]}")
    lost = [e for events in answered.values() for e in events if e not in stored]
    if lost:
        problems.append(f"{len(lost)} acknowledged decisions are not in the database, e.g. {lost[:3]}")
    for event, items in slates.items():
        if event in stored and json.loads(stored[event]["items"]) != items:
            problems.append(f"decision {event}: answered slate {items}, stored {stored[event]['items']}")
    unasked = [d["event_id"] for d in decisions if d["client_request_id"] not in answered]
    if unasked:
        problems.append(f"{len(unasked)} stored decisions no client got an answer for, e.g. {unasked[:3]}")
    # -- rewards: one row per (event, item, kind), with the acknowledged value
    acked: dict[tuple[str, str], set[float]] = defaultdict(set)
    statuses: Counter[str] = Counter()
    for r in ledger:
        if r["op"] == "reward":
            acked[(r["event"], r["item"])].add(float(r["value"]))
            statuses[r["status"]] += 1
            if r["status"] not in ("stored", "duplicate"):
                problems.append(f"reward {r['event']}/{r['item']} answered {r['status']!r}")
    rewards = [r for r in db["rewards"] if r["event_id"] in stored]
    reward_rows = Counter((r["event_id"], r["item"], r["kind"]) for r in rewards)
    doubled = [key for key, n in reward_rows.items() if n > 1]
    if doubled:
        problems.append(f"{len(doubled)} rewards stored more than once, e.g. {doubled[:3]}")
    values = {(r["event_id"], r["item"]): float(r["value"]) for r in rewards}
    for key, vals in acked.items():
        if key not in values:
            problems.append(f"acknowledged reward {key} is not in the database")
        elif {values[key]} != vals:
            problems.append(f"reward {key}: acknowledged {sorted(vals)}, stored {values[key]}")
    extra = sorted(set(values) - set(acked))
    if extra:
        problems.append(f"{len(extra)} stored rewards no client got an answer for, e.g. {extra[:3]}")
    # -- journal: every reward learned exactly once, with its value
    journal = [j for j in db["journal"] if j["experiment"] == experiment]
    learned = Counter((j["event_id"], j["item"]) for j in journal)
    if any(n > 1 for n in learned.values()):
        problems.append("a shown item was learned more than once")
    journal_values = {(j["event_id"], j["item"]): float(j["value"]) for j in journal}
    if journal_values != values:
        missing = len(set(values) - set(journal_values))
        problems.append(
            f"the journal differs from the rewards: {missing} rewards not learned, {len(journal_values)} entries"
        )
    # -- policies: newest snapshot == an uninterrupted replay of the whole journal
    orphans = sorted({j["event_id"] for j in journal} - set(stored))
    if orphans:
        problems.append(f"{len(orphans)} journaled events have no decision, e.g. {orphans[:3]}: no replay possible")
    snapshots = newest_snapshots(url, experiment)
    replayed = {} if orphans else replayed_policies(url, experiment)
    for variant, replay in replayed.items():
        snap = snapshots.get(variant)
        if snap is None:  # never snapshotted: only right when the journal never reached this variant
            equal, why = replay[1] == 0, f"no snapshot, yet journal entries up to seq {replay[1]}"
        else:
            equal, why = same_state(snap, replay)
        report.states_equal[variant] = equal
        if not equal:
            problems.append(f"{variant}: the newest snapshot differs from an uninterrupted replay: {why}")
    report.counts = {
        "acknowledged_decisions": len(answered),
        "decide_retries_replayed": replays,
        "stored_decisions": len(decisions),
        "acknowledged_rewards": len(acked),
        "reward_answers": sum(statuses.values()),
        "duplicate_answers": statuses["duplicate"],
        "stored_rewards": len(rewards),
        "journal_entries": len(journal),
        "journal_batches": len({j["batch"] for j in journal}),
        "lost": len(lost) + sum(1 for key in acked if key not in values),
        "duplicated": len(twice) + len(doubled),
    }
    return report


def crash_run(
    config: str | os.PathLike[str],
    url: str,
    workdir: str | os.PathLike[str],
    *,
    kills: int,
    seed: int = 0,
    users: int = 8,
    experiment: str = "crash",
    say: Callable[[str], None] = lambda _line: None,
) -> CrashReport:
    """Serve ``config`` on ``url`` as a real process, drive crash traffic from another process, ``kill -9`` the
    server ``kills`` times at random moments (each after the clients got answers from it), restart it each time,
    then let the learner catch up and :func:`check_crash`. ``counts`` gains ``kills`` and ``seconds``."""
    from _server import start_server

    workdir = Path(workdir)
    ledger, stop = workdir / f"ledger-{seed}.jsonl", workdir / f"stop-{seed}"
    ledger.touch()
    rng = random.Random(seed)
    env = {"ABREC_POLL_INTERVAL": "0.05"}
    began = time.monotonic()
    server = start_server(config, url, env=env, log_path=workdir / f"server-{seed}.log")
    command = [sys.executable, __file__, "crash", server.url, str(ledger), str(stop), "--seed", str(seed)]
    driver = subprocess.Popen([*command, "--users", str(users), "--experiment", experiment], stdout=subprocess.PIPE)
    from abrec.store.engine import create_store_engine

    engine = create_store_engine(url)
    try:
        for kill in range(kills):
            seen, batches = _lines(ledger), _journal_batches(engine)
            deadline = time.monotonic() + 60
            # the clients are getting answers from this server, and its learner (a process of its own, which
            # starts beside the worker) has journaled a batch: each kill then interrupts a learner at work
            while _lines(ledger) < seen + 3 or _journal_batches(engine) <= batches:
                if driver.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        f"the traffic stopped (driver exit {driver.returncode}):\n{server.log()[-3000:]}"
                    )
                time.sleep(0.02)
            time.sleep(rng.uniform(0.0, 1.0))
            server.kill()
            say(f"kill {kill + 1}/{kills}: {_lines(ledger)} answers so far")
            time.sleep(rng.uniform(0.0, 0.3))
            server = server.restart()
        time.sleep(rng.uniform(0.3, 1.0))
        stop.touch()
        out, _ = driver.communicate(timeout=120)
        if driver.returncode != 0:
            raise AssertionError(f"the traffic driver failed with {driver.returncode}")
        wait_learned(url, experiment)
    finally:
        engine.dispose()
        stop.touch()
        if driver.poll() is None:
            driver.kill()
            driver.wait()
        server.stop()
    report = check_crash(url, read_ledger(ledger), experiment=experiment)
    stats = json.loads(out.decode().strip().splitlines()[-1])
    report.counts.update(
        kills=kills,
        failed_attempts=int(stats["failed_attempts"]),
        seconds=round(time.monotonic() - began, 1),
    )
    return report


def _journal_batches(engine: Any) -> int:
    """How many micro-batches the learners journaled so far."""
    import sqlalchemy as sa

    from abrec.store import schema

    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count(sa.distinct(schema.journal.c.batch)))).scalar() or 0)


def _lines(path: Path) -> int:
    with open(path, "rb") as fh:
        return sum(1 for _ in fh)


# ---------------------------------------------------------------------------------------------- policy states
def newest_snapshots(url: str, experiment: str) -> dict[str, Any]:
    """Each variant's newest snapshot, as a policy (what the service serves after a restart)."""
    from abrec.service.config import ServiceConfig
    from abrec.service.snapshots import policy_from_bytes
    from abrec.store import EventStore

    with EventStore(url) as store:
        row = next(e for e in store.experiments() if e.name == experiment)
        spec = ServiceConfig.from_mapping({"experiments": [dict(row.config)]}).experiments[0]
        out = {}
        for variant in spec.variant_names:
            snap = store.latest_snapshot(experiment, variant)
            if snap is not None:
                out[variant] = (policy_from_bytes(snap.state), int(snap.journal_seq))
        return out


def replayed_policies(url: str, experiment: str) -> dict[str, Any]:
    """Each variant's policy built fresh and fed the whole journal, batch by batch, in journal order: the state
    of a learner that was never interrupted. Returned with the last journal seq folded in."""
    from abrec.service.config import ServiceConfig
    from abrec.service.learner import fold
    from abrec.service.runtime import fresh_policies
    from abrec.store import EventStore

    with EventStore(url) as store:
        row = next(e for e in store.experiments() if e.name == experiment)
        spec = ServiceConfig.from_mapping({"experiments": [dict(row.config)]}).experiments[0]
        out: dict[str, Any] = {}
        for variant, policy in fresh_policies(spec).items():
            entries = store.journal(experiment, variant)
            decisions = store.decisions(sorted({e.event_id for e in entries})) if entries else {}
            start = 0
            while start < len(entries):
                stop = start
                while stop < len(entries) and entries[stop].batch == entries[start].batch:
                    stop += 1
                fold(policy, entries[start:stop], decisions, features=None, context_dim=spec.context_dim)
                start = stop
            out[variant] = (policy, int(entries[-1].seq or 0) if entries else 0)
        return out


def policy_arrays(policy: Any) -> dict[str, Any]:
    """Everything a policy has learned, as plain values: item ids, per-item arrays, extra state, generator state."""
    n = policy.n_items
    out: dict[str, Any] = {"item_ids": [str(i) for i in policy.item_ids.tolist()], "dim": policy._dim}
    out.update({f"item:{k}": np.asarray(v[:n]).tolist() for k, v in policy._state.items()})
    out.update({f"extra:{k}": np.asarray(v).tolist() for k, v in policy._extra_state().items()})
    out["rng"] = json.dumps(policy._rng.bit_generator.state, sort_keys=True, default=str)
    return out


def same_state(a: tuple[Any, int], b: tuple[Any, int]) -> tuple[bool, str]:
    """Whether two (policy, last journal seq) pairs hold exactly the same arrays; else which ones differ."""
    (pa, seq_a), (pb, seq_b) = a, b
    if seq_a != seq_b:
        return False, f"journal seq {seq_a} != {seq_b}"
    xa, xb = policy_arrays(pa), policy_arrays(pb)
    differ = sorted(k for k in set(xa) | set(xb) if xa.get(k) != xb.get(k))
    return not differ, f"arrays {differ} differ" if differ else ""


def wait_learned(url: str, experiment: str, *, timeout: float = 60.0) -> None:
    """Wait until every stored reward of ``experiment`` is in the journal and each variant's newest snapshot
    folds in its last journal entry."""
    deadline = time.monotonic() + timeout
    while True:
        db = _tables(url)
        events = {d["event_id"] for d in db["decisions"] if d["experiment"] == experiment}
        rewards = {(r["event_id"], r["item"]) for r in db["rewards"] if r["event_id"] in events}
        journal = [j for j in db["journal"] if j["experiment"] == experiment]
        last = {j["variant"]: j["seq"] for j in journal}
        snaps = newest_snapshots(url, experiment)
        if rewards == {(j["event_id"], j["item"]) for j in journal} and all(
            v in snaps and snaps[v][1] == seq for v, seq in last.items()
        ):
            return
        if time.monotonic() > deadline:
            raise AssertionError(
                f"the learner did not catch up in {timeout} s: {len(rewards)} rewards, {len(journal)} journal entries, "
                f"last seq per variant {last}, snapshots at { ({v: s[1] for v, s in snaps.items()}) }"
            )
        time.sleep(0.2)


# ---------------------------------------------------------------------------------------------- environment traffic
@dataclass
class EnvRun:
    """What :func:`drive_env` did: each step's decisions (users in arrival order) and clicks."""

    decisions: list[list[Decision]]
    clicks: list[np.ndarray]
    seconds_waiting: float = 0.0


def service_experiment(simulate: Mapping[str, Any], *, context_dim: int) -> dict[str, Any]:
    """The service config entry of a simulate-style experiment mapping (the ``env`` entry is ignored by the
    service; a fixed allocation's ``period`` is dropped; explicit 0 rewards make the window irrelevant)."""
    out = {k: v for k, v in simulate.items() if k != "env"}
    allocation = dict(out.get("allocation") or {"method": "fixed"})
    allocation.pop("period", None)
    out["allocation"] = allocation
    out["context_dim"] = context_dim
    out["reward"] = {"kind": "click", "window": 3600, "default": 0.0}
    return out


def _learning_done(results: Mapping[str, Any], joined: Mapping[str, int], versions: Mapping[str, int]) -> bool:
    for v in results["variants"]:
        name = v["variant"]
        if v["joined"] < joined.get(name, 0):
            return False
        if v["learns"] and v["snapshot_version"] < versions.get(name, 0):
            return False
    return True


def drive_env(
    client: Client,
    simulate: Mapping[str, Any],
    *,
    wait_timeout: float = 60.0,
    on_step: Callable[[int], None] | None = None,
) -> EnvRun:
    """Run the simulate-style experiment ``simulate`` (a mapping as ``abrec simulate`` reads it) through the
    service: the same environment, seed and unit names as :func:`abrec.experiments.run_simulation`.

    After each step's rewards the driver waits until, for every variant, the service has joined all its rewards
    so far and (for a learning policy) serves a snapshot version counting one more batch per step that variant
    had users in: the policies learn from exactly one step at a time, as in the simulation.
    """
    from abrec.envs.registry import make_env
    from abrec.experiments.config import ExperimentConfig

    config = ExperimentConfig.from_mapping(dict(simulate))
    view = make_env(dict(config.env)).unwrapped
    public = np.asarray(view.world.item_ids)
    k = view.slate_size
    obs, _ = view.reset(seed=config.seed)
    joined: Counter[str] = Counter()
    versions: Counter[str] = Counter()
    run = EnvRun([], [])
    for step in range(view.horizon):
        cands = public[obs["candidates"]]
        ctx = obs["context"].astype(np.float64)
        requests = [
            {
                "experiment": config.name,
                "unit": f"{config.name}-s{step}-u{i}",
                "candidates": [str(c) for c in cands[i]],
                "k": k,
                "context": ctx[i].tolist(),
                "step": step,
                "request_id": f"{config.name}-{step}-{i}",
            }
            for i in range(cands.shape[0])
        ]
        decisions = client.decide_batch(requests)
        action = np.asarray(
            [[list(map(str, cands[i])).index(item) for item in d.items] for i, d in enumerate(decisions)]
        )
        obs, _, _, _, info = view.step(action)
        clicks = np.asarray(info["clicks"], dtype=np.float64)
        rewards = [
            {"event_id": d.event_id, "item": item, "value": float(clicks[i, j]), "kind": "click", "position": j}
            for i, d in enumerate(decisions)
            for j, item in enumerate(d.items)
        ]
        answers: list[RewardStatus] = client.rewards(rewards)
        assert all(a.status == "stored" for a in answers), answers
        for name in {d.variant for d in decisions}:
            versions[name] += 1
        joined.update(d.variant for d in decisions for _ in d.items)
        start = time.monotonic()
        while True:
            results = client.results(config.name)
            if _learning_done(results, joined, versions):
                break
            if time.monotonic() - start > wait_timeout:
                raise AssertionError(
                    f"step {step}: the service did not learn the step's rewards within {wait_timeout} s "
                    f"(expected joined {dict(joined)}, versions {dict(versions)}): {results['variants']}"
                )
            time.sleep(0.02)
        run.seconds_waiting += time.monotonic() - start
        run.decisions.append(decisions)
        run.clicks.append(clicks)
        if on_step is not None:
            on_step(step)
    return run


def journal_steps(url: str, experiment: str) -> list[set[int]]:
    """For each journal batch of ``experiment`` (in order), the environment steps of its decisions."""
    from abrec.store.engine import create_store_engine

    engine = create_store_engine(url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT j.batch, d.step FROM journal j JOIN decisions d ON d.event_id = j.event_id "
                    "WHERE j.experiment = :e ORDER BY j.seq"
                ),
                {"e": experiment},
            )
            out: dict[int, set[int]] = {}
            for batch, step in rows:
                out.setdefault(int(batch), set()).add(int(step))
            return [out[b] for b in sorted(out)]
    finally:
        engine.dispose()


if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] != "crash":
        print("usage: _traffic.py crash URL LEDGER STOP_FILE [--users N] [--seed S]", file=sys.stderr)
        sys.exit(2)
    sys.exit(_crash_main(sys.argv[2:]))
