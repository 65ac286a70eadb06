"""Helpers of the operations tests (admin API, keys, dashboard, metrics): an app with keys, a database dump."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from fastapi import FastAPI

from abrec.store import EventStore
from abrec.store.admin import create_key, revoke_key
from abrec.store.schema import metadata


def ensure_operations(app: FastAPI) -> FastAPI:
    """The app with the admin API, dashboard and metrics (``create_app`` installs them; this checks it)."""
    paths = app.openapi()["paths"]
    assert "/v1/admin/audit" in paths, sorted(paths)
    assert app.url_path_for("metrics") == "/metrics" and app.url_path_for("index") == "/"
    return app


def dump(store: EventStore) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, in a fixed order: equal dumps mean nothing changed."""
    out = {}
    with store.engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows = connection.execute(sa.select(table)).all()
            out[table.name] = sorted((tuple(r) for r in rows), key=repr)
        connection.rollback()
    return out


class Keys:
    """One key of each kind on a store: admin, client, revoked admin, and tokens that are wrong."""

    def __init__(self, store: EventStore) -> None:
        self.admin, self.admin_key = create_key(store, "ops team", "admin", actor="test")
        self.client, self.client_key = create_key(store, "web frontend", "client", actor="test")
        self.revoked, revoked = create_key(store, "old admin", "admin", actor="test")
        revoke_key(store, revoked.id, actor="test")
        key_id = self.admin.split("_")[1]
        self.wrong = f"abrec_{key_id}_{'0' * 64}"  # a real key's id with a wrong secret
        self.garbage = "not-a-token"

    @staticmethod
    def header(token: str | None) -> dict[str, str]:
        return {} if token is None else {"Authorization": f"Bearer {token}"}
