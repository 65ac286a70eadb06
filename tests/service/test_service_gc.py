"""The garbage collector of `abrec serve`'s processes: a higher first threshold (``gc_threshold``), and nothing
changed for an app that shares its process (tests, an embedding program)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

# Run in a fresh interpreter: the collector's settings are the process's.
_PROBE = """
import gc, json, sys
from fastapi.testclient import TestClient
from abrec.service.app import app_from_env, create_app
from abrec.service.settings import load_settings
before = gc.get_threshold()
if sys.argv[1] == "worker":
    app = app_from_env()
else:
    app = create_app(load_settings())
with TestClient(app) as client:
    assert client.get("/readyz").status_code == 200
    print(json.dumps({"before": before, "after": gc.get_threshold()}))
"""


def _probe(kind: str, config: Path, url: str, **env: str) -> dict[str, list[int]]:
    variables = {**os.environ, "ABREC_CONFIG": str(config), "ABREC_DATABASE_URL": url, "ABREC_LEARNER": "false"}
    done = subprocess.run(
        [sys.executable, "-c", _PROBE, kind], env={**variables, **env}, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out: dict[str, list[int]] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


@pytest.mark.parametrize(("threshold", "expected"), [(None, 20_000), ("5000", 5_000)])
def test_a_worker_collects_young_objects_less_often(
    sqlite_url: str, write_config: Callable[..., Path], threshold: str | None, expected: int
) -> None:
    env = {} if threshold is None else {"ABREC_GC_THRESHOLD": threshold}
    got = _probe("worker", write_config(), sqlite_url, **env)
    assert got["before"] == [700, 10, 10] and got["after"] == [expected, 10, 10]


@pytest.mark.parametrize("kind", ["worker", "app"])
def test_an_app_in_a_shared_process_or_a_zero_threshold_leaves_the_collector_alone(
    sqlite_url: str, write_config: Callable[..., Path], kind: str
) -> None:
    env = {"ABREC_GC_THRESHOLD": "0"} if kind == "worker" else {}
    got = _probe(kind, write_config(), sqlite_url, **env)
    assert got["after"] == got["before"] == [700, 10, 10]
