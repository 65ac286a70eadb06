"""Fuzzing: schemathesis generates requests from the OpenAPI document against a running ``abrec serve`` (SQLite).

Every generated request (valid and invalid bodies, paths and queries, with an admin key so that the admin API is
reached too) must get an answer that is not a 5xx and that matches the schema of its documented status. The
budget is ``ABREC_FUZZ_REQUESTS`` generated requests (default 300 in ``make test``; the benchmark run sets
10000), spread over every operation, in rounds with new seeds until it is spent. The server's own ``/metrics``
then confirms the number of requests and that none was answered 5xx.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml
from _server import Server, start_server
from _service_config import config_mapping, experiment
from hypothesis import HealthCheck, given, seed, settings
from prometheus_client.parser import text_string_to_metric_families

from _shared import in_ci
from abrec.store import EventStore, upgrade
from abrec.store.admin import create_key

try:
    import schemathesis
    from schemathesis.checks import not_a_server_error, response_schema_conformance
except ImportError as error:  # skipped locally, fails in CI (where the dev extra is installed)
    if in_ci():
        raise
    pytest.skip(f"schemathesis is not installed (pip install -e '.[dev]'): {error}", allow_module_level=True)

REQUESTS = int(os.environ.get("ABREC_FUZZ_REQUESTS", "300"))
_STATE: dict[str, Any] = {}


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, str]]:
    folder = tmp_path_factory.mktemp("fuzz")
    url = f"sqlite:///{folder / 'abrec.db'}"
    upgrade(url)
    with EventStore(url) as store:
        token, _ = create_key(store, "fuzzer", "admin", actor="test")
    config = folder / "service.yaml"
    config.write_text(yaml.safe_dump(config_mapping(experiment())))
    running = start_server(config, url)
    _STATE["server"] = running
    try:
        yield running, token
    finally:
        running.stop()
        if running.process.returncode not in (0, -15):
            print(running.log()[-4000:])


def test_no_generated_request_gets_a_5xx_or_an_answer_off_its_schema(fuzz_server: tuple[Server, str]) -> None:
    running, token = fuzz_server
    schema = schemathesis.openapi.from_url(f"{running.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10, [op.label for op in operations]
    headers = {"Authorization": f"Bearer {token}"}
    per_round = max(1, min(200, math.ceil(REQUESTS / len(operations))))
    for round_ in range(100):  # rounds with new seeds until the budget is sent (small operations stop early)
        if _STATE.get("sent", 0) >= REQUESTS:
            break
        for operation in operations:

            @given(case=operation.as_strategy())
            @seed(round_)
            @settings(max_examples=per_round, deadline=None, suppress_health_check=list(HealthCheck), database=None)
            def fuzz(case: Any) -> None:
                _STATE["sent"] = _STATE.get("sent", 0) + 1
                case.call_and_validate(
                    base_url=running.url,
                    headers=headers,
                    checks=[not_a_server_error, response_schema_conformance],
                    timeout=30,
                )

            fuzz()


def test_the_server_counted_every_fuzzed_request_and_no_5xx(fuzz_server: tuple[Server, str]) -> None:
    running, _ = fuzz_server
    text = httpx.get(f"{running.url}/metrics", timeout=30).text
    statuses: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == "abrec_http_requests_total":
                statuses[s.labels["status"]] = statuses.get(s.labels["status"], 0.0) + s.value
    answered = sum(statuses.values())
    print(f"fuzz: {_STATE.get('sent', 0):,} generated requests, {answered:,} answered by status {statuses}")
    assert not [code for code in statuses if code.startswith("5")], statuses
    assert answered >= _STATE.get("sent", 0) >= REQUESTS, (answered, statuses)
    assert running.alive()
