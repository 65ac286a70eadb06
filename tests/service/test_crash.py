"""The crash test: ``kill -9`` a real ``abrec serve`` under decide + reward traffic, on SQLite and PostgreSQL.

Traffic comes from another process (``_traffic.py crash``) that retries every call with the same ids until it
is answered. After the kills, every acknowledged decision and reward must be in the database exactly once,
retried decides answered with the same event, every reward learned exactly once, and each variant's newest
policy snapshot (built by learners that were killed and restarted) equal array for array to a learner that
replays the whole journal without interruption. Here 3 kills per database keep ``make test`` fast;
``make bench BENCH=serve`` runs the same code with 20 kills per database and prints the counts.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from _traffic import CrashReport, check_crash, crash_config, crash_run, replayed_policies, same_state

KILLS = 3


def _write_config(tmp_path: Path) -> Path:
    path = tmp_path / "crash.yaml"
    path.write_text(yaml.safe_dump(crash_config()), encoding="utf-8")
    return path


def test_kill_9_loses_nothing_and_duplicates_nothing(database_url: str, tmp_path: Path) -> None:
    report = crash_run(_write_config(tmp_path), database_url, tmp_path, kills=KILLS, seed=11)
    assert report.problems == [], "\n".join(report.problems)
    counts = report.counts
    assert counts["lost"] == 0 and counts["duplicated"] == 0
    assert counts["acknowledged_decisions"] == counts["stored_decisions"] > KILLS
    assert counts["acknowledged_rewards"] == counts["stored_rewards"] == counts["journal_entries"]
    assert counts["failed_attempts"] > 0, "no call ever hit a dead server: the kills tested nothing"
    assert report.states_equal and all(report.states_equal.values()), report.states_equal
    assert counts["journal_batches"] > 1


def _tamper(url: str, sql: str) -> None:
    from sqlalchemy import text

    from abrec.store.engine import create_store_engine

    engine = create_store_engine(url)
    with engine.begin() as connection:
        connection.execute(text(sql))
    engine.dispose()


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)
def test_the_check_sees_lost_doubled_and_diverged_state(database_url: str, tmp_path: Path) -> None:
    """The checks fail when the database differs from the ledger (planted: a lost reward, a lost decision,
    a policy snapshot that skipped a journal batch)."""
    report = crash_run(_write_config(tmp_path), database_url, tmp_path, kills=1, seed=5)
    assert report.problems == []
    ledger = [json.loads(line) for line in (tmp_path / "ledger-5.jsonl").read_text().splitlines()]

    # A learner that replayed a batch twice (or skipped one) holds other arrays.
    replay = replayed_policies(database_url, "crash")["lin"]
    twice = replayed_policies(database_url, "crash")["lin"]
    from abrec.service.learner import fold
    from abrec.store import EventStore

    with EventStore(database_url) as store:
        entries = [e for e in store.journal("crash", "lin") if e.batch == store.journal("crash", "lin")[0].batch]
        fold(twice[0], entries, store.decisions([e.event_id for e in entries]), features=None, context_dim=4)
    assert same_state(replay, replay)[0]
    assert not same_state(replay, twice)[0]

    # An older snapshot in service than the journal's end: the state check fails.
    _tamper(
        database_url,
        "DELETE FROM snapshots WHERE variant = 'lin' AND version = (SELECT MAX(version) FROM snapshots "
        "WHERE variant = 'lin')",
    )
    stale: CrashReport = check_crash(database_url, ledger)
    assert stale.states_equal["lin"] is False
    assert any(p.startswith("lin: the newest snapshot differs") for p in stale.problems), stale.problems
    # A lost reward, and a lost decision (with its rewards and journal entries): each is seen.
    reward = next(r for r in ledger if r["op"] == "reward")
    _tamper(database_url, f"DELETE FROM rewards WHERE event_id = '{reward['event']}' AND item = '{reward['item']}'")
    decision = next(r for r in ledger if r["op"] == "decide" and r["event"] != reward["event"])
    for table in ("journal", "rewards", "decisions"):
        _tamper(database_url, f"DELETE FROM {table} WHERE event_id = '{decision['event']}'")
    tampered: CrashReport = check_crash(database_url, ledger)
    text = "\n".join(tampered.problems)
    assert "1 acknowledged decisions are not in the database" in text
    assert f"acknowledged reward ('{reward['event']}', '{reward['item']}') is not in the database" in text
    assert tampered.counts["lost"] == 1 + 1 + 2  # the decision, the reward, the lost decision's two rewards
