"""Fixtures of the service's tests: a small config, the app in process, and the store's database fixtures.

``database_url`` (parametrised ``sqlite`` / ``postgresql``) comes from ``tests/store/conftest.py``: a PostgreSQL
that cannot be reached skips its cases locally and fails them under ``CI``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from _service_config import ITEMS, config_mapping, experiment  # noqa: F401
from fastapi.testclient import TestClient

from abrec.service import create_app, load_settings
from store._database_fixtures import _postgres, backend, database_url, empty_database_url, store  # noqa: F401


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """Write a config mapping (default: one experiment, ``home``) to a YAML file; returns its path."""

    def write(mapping: dict[str, Any] | None = None, name: str = "service.yaml") -> Path:
        path = tmp_path / name
        path.write_text(yaml.safe_dump(mapping or config_mapping()), encoding="utf-8")
        return path

    return write


@pytest.fixture
def make_client(tmp_path: Path, write_config: Callable[..., Path]) -> Iterator[Callable[..., TestClient]]:
    """Start the app in process (lifespan included) on a database; ``learner`` is off unless asked for."""
    opened: list[TestClient] = []

    def make(url: str, mapping: dict[str, Any] | None = None, **settings: Any) -> TestClient:
        path = write_config(mapping)
        options = {"learner": False, "poll_interval": 0.05, "cache_dir": tmp_path / "cache", **settings}
        client = TestClient(create_app(load_settings(config=path, database_url=url, **options)))
        client.__enter__()
        opened.append(client)
        return client

    yield make
    for client in reversed(opened):
        client.__exit__(None, None, None)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """An empty SQLite database at the migration head (the tests that need only one database)."""
    from abrec.store import upgrade

    url = f"sqlite:///{tmp_path / 'abrec.db'}"
    upgrade(url)
    return url
