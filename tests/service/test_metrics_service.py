"""``/metrics``: Prometheus text with requests and latency per route, counts per variant, learner lag, snapshot age."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from _service_config import config_mapping, experiment
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from abrec.store import EventStore

Make = Callable[..., TestClient]


def _samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    out = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


def _get(samples: dict[Any, float], name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_count_requests_decisions_rewards_and_show_the_learner_lag(
    database_url: str, make_client: Make
) -> None:
    client = make_client(database_url, config_mapping(experiment(reward={"kind": "click", "window": 0.5})))
    before = _samples(client)
    for i in range(12):
        d = client.post("/v1/decide", json={"experiment": "home", "unit": f"u{i}", "candidates": ["a", "b"]}).json()
        if i % 2 == 0:
            reward = {"event_id": d["event_id"], "item": d["slate"][0]["item"], "value": 1.0}
            assert client.post("/v1/rewards", json={"rewards": [reward]}).status_code == 200
    client.post("/v1/decide", json={"experiment": "nope", "unit": "u", "candidates": ["a"]})  # a 404
    after = _samples(client)
    route = {"method": "POST", "route": "/v1/decide"}
    assert (
        _get(after, "abrec_http_requests_total", **route, status="200")
        - _get(before, "abrec_http_requests_total", **route, status="200")
        == 12
    )
    assert (
        _get(after, "abrec_http_requests_total", **route, status="404")
        - _get(before, "abrec_http_requests_total", **route, status="404")
        == 1
    )
    assert (
        _get(after, "abrec_http_request_duration_seconds_count", **route)
        - _get(before, "abrec_http_request_duration_seconds_count", **route)
        == 13
    )
    with EventStore(database_url) as store:
        counts = store.counts("home")
    for variant, c in counts.items():
        labels = {"experiment": "home", "variant": variant}
        assert _get(after, "abrec_decisions_total", **labels) == c["decisions"]
        assert _get(after, "abrec_rewards_total", **labels) == c["rewards"]
        assert _get(after, "abrec_policy_version", **labels) == 0
    assert sum(c["decisions"] for c in counts.values()) == 12
    # no learner runs: the on-time rewards wait, and once the windows close the lag grows
    time.sleep(2.0)
    lag = _get(_samples(client), "abrec_learner_lag_seconds")
    assert lag >= 1.0
    assert _get(after, "abrec_experiment_running", experiment="home") == 1


def test_learner_lag_is_zero_once_the_learner_caught_up(sqlite_url: str, make_client: Make) -> None:
    client = make_client(sqlite_url, learner=True)
    d = client.post("/v1/decide", json={"experiment": "home", "unit": "u", "candidates": ["a", "b"]}).json()
    client.post(
        "/v1/rewards", json={"rewards": [{"event_id": d["event_id"], "item": d["slate"][0]["item"], "value": 1}]}
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        samples = _samples(client)
        ages = [v for (name, _), v in samples.items() if name == "abrec_snapshot_age_seconds"]
        if ages and _get(samples, "abrec_learner_lag_seconds") == 0:
            break
        time.sleep(0.2)
    assert ages and all(0 <= a < 60 for a in ages)
    assert _get(samples, "abrec_learner_lag_seconds") == 0


def test_request_counts_add_up_across_two_workers(tmp_path: Any) -> None:
    import httpx
    import yaml
    from _server import start_server

    from abrec.store import upgrade

    url = f"sqlite:///{tmp_path / 'abrec.db'}"
    upgrade(url)
    config = tmp_path / "service.yaml"
    config.write_text(yaml.safe_dump(config_mapping(experiment())))
    folder = tmp_path / "prometheus"
    folder.mkdir()
    running = start_server(config, url, workers=2, env={"PROMETHEUS_MULTIPROC_DIR": str(folder)})
    try:
        from concurrent.futures import ThreadPoolExecutor

        def decide(i: int) -> int:
            body = {"experiment": "home", "unit": f"u{i}", "candidates": ["a", "b"]}
            r = httpx.post(f"{running.url}/v1/decide", json=body, timeout=30.0)
            return r.status_code

        sent = 0
        writers: set[str] = set()
        for _ in range(10):  # concurrent connections until both workers have answered some
            with ThreadPoolExecutor(16) as pool:
                assert set(pool.map(decide, range(sent, sent + 48))) == {200}
            sent += 48
            writers = {p.name.rsplit("_", 1)[-1] for p in folder.iterdir() if p.name.startswith("counter_")}
            if len(writers) >= 2:
                break
        assert len(writers) >= 2, writers
        for _ in range(6):  # whichever worker answers the scrape, it adds up every worker's counts
            text = httpx.get(f"{running.url}/metrics", headers={"Connection": "close"}).text
            decided = sum(
                s.value
                for family in text_string_to_metric_families(text)
                for s in family.samples
                if s.name == "abrec_http_requests_total" and s.labels.get("route") == "/v1/decide"
            )
            assert decided == sent
    finally:
        running.stop()
