"""API keys: `abrec keys create|list|revoke`, only hashes stored, tokens compared in constant time (both DBs)."""

from __future__ import annotations

import hashlib
from typing import Any

import pytest
from _ops import dump
from typer.testing import CliRunner

import abrec.store.admin as store_admin
from abrec.cli import app
from abrec.store import EventStore
from abrec.store.admin import audit_log, keys, parse_token, verify_token

runner = CliRunner()


def test_create_prints_the_token_once_and_stores_only_its_hash(database_url: str) -> None:
    made = runner.invoke(app, ["keys", "create", "--scope", "admin", "--name", "ops", "--database-url", database_url])
    assert made.exit_code == 0, made.output
    token = made.stdout.strip().splitlines()[0]
    parsed = parse_token(token)
    assert parsed is not None
    key_id, secret = parsed
    with EventStore(database_url) as store:
        everything = repr(dump(store))
        assert secret not in everything and token not in everything  # never stored
        (key,) = keys(store)
        assert (key.id, key.name, key.scope, key.hash) == (
            key_id,
            "ops",
            "admin",
            hashlib.sha256(secret.encode()).hexdigest(),
        )
        assert verify_token(store, token) == key
    listed = runner.invoke(app, ["keys", "list", "--database-url", database_url])
    assert listed.exit_code == 0 and key_id in listed.output and secret not in listed.output
    revoked = runner.invoke(app, ["keys", "revoke", key_id, "--database-url", database_url])
    assert revoked.exit_code == 0 and f"revoked admin key {key_id} (ops)" in revoked.output
    with EventStore(database_url) as store:
        assert verify_token(store, token) is None
        assert [(e.action, e.actor, e.details["key"]) for e in audit_log(store)] == [
            ("key.revoke", "cli", key_id),
            ("key.create", "cli", key_id),
        ]
    listed = runner.invoke(app, ["keys", "list", "--database-url", database_url])
    assert "-  " not in listed.output.splitlines()[1]  # the revoked time is shown


def test_keys_errors_are_one_line(database_url: str) -> None:
    bad_scope = runner.invoke(app, ["keys", "create", "--scope", "root", "--database-url", database_url])
    assert bad_scope.exit_code == 2
    unknown = runner.invoke(app, ["keys", "revoke", "nope", "--database-url", database_url])
    assert unknown.exit_code == 2 and unknown.output.startswith("error: Unknown API key 'nope'.")
    empty = runner.invoke(app, ["keys", "list", "--database-url", database_url])
    assert "no keys" in empty.output


def test_tokens_are_compared_in_constant_time_whatever_is_wrong(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    token, key = store_admin.create_key(store, "web", "client", actor="test")
    calls: list[tuple[Any, Any]] = []
    real = store_admin.hmac.compare_digest

    def spy(a: Any, b: Any) -> bool:
        calls.append((a, b))
        return bool(real(a, b))

    monkeypatch.setattr(store_admin.hmac, "compare_digest", spy)
    wrong_secret = f"abrec_{key.id}_{'f' * 64}"
    unknown_id = f"abrec_{'0' * 16}_{token[-64:]}"
    for candidate, expected in ((token, key), (wrong_secret, None), (unknown_id, None), ("garbage", None), ("", None)):
        calls.clear()
        assert verify_token(store, candidate) == expected
        assert len(calls) == 1 and len(calls[0][0]) == len(calls[0][1]) == 64  # always one full-length comparison
