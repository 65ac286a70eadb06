"""Simulated traffic end to end: an A/B test driven through the HTTP API of a real ``abrec serve`` reaches the
conclusions of the same experiment run in process by :func:`abrec.experiments.run_simulation`.

The users of the simulator's bandit environment (same config, same seeds, same unit names) get their slates
from the service, click, and reward every shown item; the driver waits, step by step, until the service serves
policy versions that include the step's rewards (``_traffic.drive_env``), so learning happens at the same
points as in the simulation. Policies that are deterministic given what they learned (LinUCB) then make the
same decisions, and the readout is the same; with random policies (uniform, Thompson sampling) the results are
compared statistically over seeds.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import yaml
from _server import Server, start_server
from _traffic import drive_env, journal_steps, service_experiment

from _experiments import small_experiment
from abrec.abtest.readout import analyze_log
from abrec.client import Client
from abrec.experiments import run_simulation
from abrec.experiments.config import ExperimentConfig
from abrec.store import EventStore

CONTEXT_DIM = 24  # the SyntheticCatalog bandit view's context length
VIEW = {"n_users": 40, "n_candidates": 8, "slate_size": 2, "horizon": 6}


def _deterministic(seed: int) -> dict[str, Any]:
    variants = [
        {"name": "narrow", "policy": "linucb", "params": {"alpha": 0.1}},
        {"name": "wide", "policy": "linucb", "params": {"alpha": 1.5}},
    ]
    # one allocation period for the whole run, as a service with fixed weights has
    allocation = {"method": "fixed", "period": VIEW["horizon"]}
    return small_experiment(f"det{seed}", seed, variants=variants, control="narrow", allocation=allocation, view=VIEW)


def _random(seed: int) -> dict[str, Any]:
    variants = [
        {"name": "random", "policy": "uniform"},
        {"name": "ts", "policy": "bernoulli_ts", "params": {"propensity_draws": 20}},
    ]
    view = {"n_users": 60, "n_candidates": 8, "slate_size": 2, "horizon": 6}
    allocation = {"method": "fixed", "period": view["horizon"]}
    mapping = small_experiment(f"rnd{seed}", seed, variants=variants, allocation=allocation, view=view)
    mapping["env"]["world"] = {"n_items": 20}
    return mapping


RANDOM_SEEDS = range(6)
EXPERIMENTS = [_deterministic(0), *(_random(s) for s in RANDOM_SEEDS)]


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    """One ``abrec serve`` (SQLite) serving every experiment of this module."""
    from abrec.store import upgrade

    folder = tmp_path_factory.mktemp("simulated")
    config = folder / "service.yaml"
    entries = [service_experiment(m, context_dim=CONTEXT_DIM) for m in EXPERIMENTS]
    config.write_text(yaml.safe_dump({"experiments": entries}), encoding="utf-8")
    url = f"sqlite:///{folder / 'abrec.db'}"
    upgrade(url)
    server = start_server(config, url, env={"ABREC_POLL_INTERVAL": "0.02"}, log_path=folder / "server.log")
    yield server, url
    server.stop()


def _service_rows(run: Any) -> dict[str, np.ndarray]:
    """The service's decisions as the simulator's log columns: users in arrival order, ``k`` rows each."""
    cols: dict[str, list[Any]] = {"unit": [], "variant": [], "item": [], "position": [], "propensity": [], "reward": []}
    for decisions, clicks in zip(run.decisions, run.clicks, strict=True):
        for i, d in enumerate(decisions):
            for j, item in enumerate(d.items):
                cols["unit"].append(d.unit)
                cols["variant"].append(d.variant)
                cols["item"].append(int(item))
                cols["position"].append(j)
                cols["propensity"].append(d.propensities[j])
                cols["reward"].append(clicks[i, j])
    return {k: np.asarray(v) for k, v in cols.items()}


def _readout(log: Any, mapping: dict[str, Any]) -> list[dict[str, Any]]:
    return analyze_log(log, control=mapping["control"], alpha=0.05).rows()


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, float) and isinstance(b, float):
        return (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return bool(a == b)


def test_deterministic_policies_make_the_same_decisions_as_the_simulation(served: tuple[Server, str]) -> None:
    server, url = served
    mapping = EXPERIMENTS[0]
    with Client(server.url, timeout=30.0) as client:
        run = drive_env(client, mapping)
    sim = run_simulation(ExperimentConfig.from_mapping(mapping))
    frame = sim.log.frame
    mine = _service_rows(run)
    for column, values in mine.items():
        expected = frame[column].to_numpy()
        differ = np.flatnonzero(values != expected)
        step = frame["step"].to_numpy()[differ[0]] if differ.size else None
        assert not differ.size, (
            f"{column} differs from the simulation's at {differ.size} of {len(values)} rows, from step {step} on. "
            "LinUCB breaks ties among unseen items with its random generator: a serving policy must keep drawing "
            "from its own generator when a new snapshot replaces it, as the simulation's policy does."
        )
    # the policies learnt once per step, one journal batch per step, in step order
    assert journal_steps(url, mapping["name"]) == [{s} for s in range(VIEW["horizon"])]
    # the same readout: the service's exported log through abrec analyze's code
    with EventStore(url) as store:
        exported = store.export_log(mapping["name"])
    ours, theirs = _readout(exported, mapping), _readout(sim.log, mapping)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        differ = {k: (a[k], b.get(k)) for k in a if not _close(a[k], b.get(k))}
        assert not differ, differ


def test_random_policies_reach_statistically_the_same_results(served: tuple[Server, str]) -> None:
    """Uniform control vs Thompson sampling over seeds: the first step, decided by freshly seeded policies for the
    same users, is identical; over the whole run each variant's click rate matches the simulation's within
    sampling error (the mean over seeds of the paired differences, against its binomial standard error)."""
    server, url = served
    service_ctr: dict[str, list[float]] = {"random": [], "ts": []}
    sim_ctr: dict[str, list[float]] = {"random": [], "ts": []}
    shown: dict[str, list[int]] = {"random": [], "ts": []}
    with Client(server.url, timeout=30.0) as client:
        for seed in RANDOM_SEEDS:
            mapping = _random(seed)
            run = drive_env(client, mapping)
            sim = run_simulation(ExperimentConfig.from_mapping(mapping))
            mine, frame = _service_rows(run), sim.log.frame
            assert np.array_equal(mine["variant"], frame["variant"].to_numpy())  # the same assignment
            first = len(run.decisions[0]) * 2
            assert np.array_equal(mine["item"][:first], frame["item"].to_numpy()[:first]), "step 0 differs"
            assert np.allclose(mine["propensity"][:first], frame["propensity"].to_numpy()[:first])
            assert journal_steps(url, mapping["name"]) == [{s} for s in range(mapping["env"]["view"]["horizon"])]
            for v in service_ctr:
                rows = mine["variant"] == v
                service_ctr[v].append(float(mine["reward"][rows].mean()))
                sim_ctr[v].append(float(frame["reward"][frame["variant"] == v].mean()))
                shown[v].append(int(rows.sum()))
    for v in service_ctr:
        diff = np.asarray(service_ctr[v]) - np.asarray(sim_ctr[v])
        p = float(np.mean(service_ctr[v] + sim_ctr[v]))
        se = math.sqrt(sum(2 * p * (1 - p) / n for n in shown[v])) / len(diff)
        assert abs(diff.mean()) < 4.5 * se, (v, service_ctr[v], sim_ctr[v], se)
