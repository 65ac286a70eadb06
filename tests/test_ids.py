"""Time-ordered ids (UUID version 7), and the client's request ids made with them (the service's event ids:
tests/service/test_service_runtime.py)."""

from __future__ import annotations

import uuid

import pytest

from abrec import _ids
from abrec._ids import time_ordered_ids
from abrec.client import _decide_body, _with_request_ids


def _is_v7(value: str) -> bool:
    try:
        parsed = uuid.UUID(hex=value)
    except ValueError:
        return False
    return len(value) == 32 and parsed.hex == value and parsed.version == 7 and parsed.variant == uuid.RFC_4122


def test_ids_are_uuid7_hex_with_the_time_in_front(monkeypatch: pytest.MonkeyPatch) -> None:
    ms = 1_765_000_000_123
    monkeypatch.setattr(_ids.time, "time_ns", lambda: ms * 1_000_000 + 999_999)
    ids = time_ordered_ids(1000)
    assert all(_is_v7(i) for i in ids)
    assert {int(i[:12], 16) for i in ids} == {ms}  # the first 48 bits: Unix milliseconds
    assert len(set(ids)) == 1000  # 74 random bits each
    monkeypatch.setattr(_ids.time, "time_ns", lambda: (ms + 1) * 1_000_000)
    later = time_ordered_ids(1000)
    assert min(later) > max(ids)  # a later millisecond sorts after every id of an earlier one
    assert time_ordered_ids(0) == []


def test_the_random_bits_are_random() -> None:
    # rand_a (12 bits) and rand_b (62 bits): every bit position takes both values over a few hundred ids.
    ids = [uuid.UUID(hex=i).int for i in time_ordered_ids(400)]
    for bit in [*range(0, 62), *range(64, 76)]:
        ones = sum(value >> bit & 1 for value in ids)
        assert 120 < ones < 280, bit


def test_the_clients_request_ids_are_time_ordered() -> None:
    body = _decide_body("e", "u1", ["a", "b"], 1, None, None, None, "", 0)
    assert _is_v7(body["request_id"])
    given = _decide_body("e", "u1", ["a", "b"], 1, None, None, "mine", "", 0)
    assert given["request_id"] == "mine"
    many = _with_request_ids([{"unit": "a"}, {"unit": "b", "request_id": "kept"}, {"unit": "c"}])
    assert [_is_v7(r["request_id"]) for r in many] == [True, False, True]
    assert many[1]["request_id"] == "kept" and many[0]["request_id"] != many[2]["request_id"]
