"""GroupCommitter on SQLite and PostgreSQL: merged transactions, each future resolved after COMMIT, errors."""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError, OperationalError
from store_records import decision, reward

from abrec.store import EventStore, GroupCommitter, StoreError, WriteBatch, WriteResult


def _visible(url: str, event_id: str) -> bool:
    """Whether ``event_id`` is committed: read through a connection of another engine."""
    engine = sa.create_engine(url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as connection:
            query = sa.text("SELECT count(*) FROM decisions WHERE event_id = :e")
            return connection.execute(query, {"e": event_id}).scalar_one() == 1
    finally:
        engine.dispose()


def test_concurrent_submissions_share_transactions_and_all_land(store: EventStore) -> None:
    committer = GroupCommitter(store)
    n_threads, per_thread = 8, 25

    def client(t: int) -> list[WriteResult]:
        out = []
        for i in range(per_thread):
            d = decision(f"t{t}-{i}", client_request_id=f"r{t}-{i}")
            out.append(committer.submit(WriteBatch(decisions=[d], rewards=[reward(f"t{t}-{i - 1}", "a")])).result())
        return out

    with ThreadPoolExecutor(n_threads) as pool:
        results = [r for part in pool.map(client, range(n_threads)) for r in part]
    committer.close()
    assert committer.submissions == n_threads * per_thread
    assert committer.commits < committer.submissions  # groups formed
    assert all(r.decisions[0].status == "stored" for r in results)
    statuses = sorted({r.rewards[0].status for r in results})
    assert statuses == ["stored", "unknown_event"]  # i = 0 rewards "t-1"
    assert sum(r.rewards[0].status == "stored" for r in results) == n_threads * (per_thread - 1)
    assert len(store.decisions([f"t{t}-{i}" for t in range(n_threads) for i in range(per_thread)])) == 200


def test_each_future_resolves_after_the_commit(store: EventStore) -> None:
    seen: list[bool] = []
    committer = GroupCommitter(store, max_wait_s=0.05)
    futures = [committer.submit(WriteBatch(decisions=[decision(f"e{i}")])) for i in range(5)]
    for i, future in enumerate(futures):
        future.add_done_callback(lambda _f, i=i: seen.append(_visible(store.url, f"e{i}")))
    for future in futures:
        future.result()
    committer.close()
    assert seen == [True] * 5
    assert committer.commits == 1  # all five waited for one another (max_wait_s) and shared a commit


def test_results_are_split_back_to_their_submitters(store: EventStore) -> None:
    store.write(WriteBatch(decisions=[decision("e0", client_request_id="dup")]))
    committer = GroupCommitter(store, max_wait_s=0.05)
    a = committer.submit(WriteBatch(decisions=[decision("e1", client_request_id="dup")]))
    b = committer.submit(WriteBatch(rewards=[reward("e0", "a"), reward("e0", "q")]))
    c = committer.submit(WriteBatch(decisions=[decision("e2", client_request_id="x"), decision("e3")]))
    d = committer.submit(WriteBatch(decisions=[decision("e4", client_request_id="x")]))
    committer.close()
    assert [o.status for o in a.result().decisions] == ["replayed"] and a.result().decisions[
        0
    ].decision.event_id == "e0"
    assert [o.status for o in b.result().rewards] == ["stored", "wrong_item"] and b.result().decisions == ()
    assert [o.decision.event_id for o in c.result().decisions] == ["e2", "e3"]
    assert d.result().decisions[0].status == "replayed" and d.result().decisions[0].decision.event_id == "e2"
    assert committer.commits == 1


def test_a_constraint_error_fails_only_its_own_submission(store: EventStore) -> None:
    store.write(WriteBatch(decisions=[decision("taken")]))
    committer = GroupCommitter(store, max_wait_s=0.05)
    good1 = committer.submit(WriteBatch(decisions=[decision("g1")]))
    bad = committer.submit(WriteBatch(decisions=[decision("taken")]))  # passes the checks, violates uniqueness
    good2 = committer.submit(WriteBatch(decisions=[decision("g2")], rewards=[reward("taken", "a")]))
    committer.close()
    assert good1.result().decisions[0].status == "stored"
    assert good2.result().rewards[0].status == "stored"
    with pytest.raises(IntegrityError):
        bad.result()
    assert set(store.decisions(["g1", "g2", "taken"])) == {"g1", "g2", "taken"}


def test_a_database_failure_reaches_every_future_and_nothing_is_claimed(
    store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(batch: WriteBatch) -> WriteResult:
        raise OperationalError("COMMIT", {}, Exception("disk I/O error"))

    committer = GroupCommitter(store, max_wait_s=0.05)
    monkeypatch.setattr(store, "write", broken)
    futures = [committer.submit(WriteBatch(decisions=[decision(f"e{i}")])) for i in range(4)]
    committer.close()
    for future in futures:
        with pytest.raises(OperationalError, match="disk I/O error"):
            future.result()
    monkeypatch.undo()
    assert store.decisions([f"e{i}" for i in range(4)]) == {}


def test_asubmit_and_close(store: EventStore) -> None:
    committer = GroupCommitter(store)

    async def main() -> list[WriteResult]:
        return list(
            await asyncio.gather(*(committer.asubmit(WriteBatch(decisions=[decision(f"a{i}")])) for i in range(10)))
        )

    results = asyncio.run(main())
    assert [r.decisions[0].decision.event_id for r in results] == [f"a{i}" for i in range(10)]
    committer.close()
    committer.close()
    with pytest.raises(StoreError, match="closed"):
        committer.submit(WriteBatch())
    other = GroupCommitter(store)
    with pytest.raises(TypeError):
        other.submit([decision()])  # type: ignore[arg-type]
    other.close()


def test_close_drains_what_was_submitted(store: EventStore, monkeypatch: pytest.MonkeyPatch) -> None:
    gate = threading.Event()
    real = store.write

    def slow(batch: WriteBatch) -> WriteResult:
        gate.wait(5)
        return real(batch)

    monkeypatch.setattr(store, "write", slow)
    committer = GroupCommitter(store, max_batch=3)
    futures: list[Future[Any]] = [committer.submit(WriteBatch(decisions=[decision(f"e{i}")])) for i in range(10)]
    closer = threading.Thread(target=committer.close)
    closer.start()
    gate.set()
    closer.join(10)
    assert all(f.done() and f.exception() is None for f in futures)
    assert committer.commits >= 4  # max_batch=3: at least ceil(10 / 3) transactions
    assert len(store.decisions([f"e{i}" for i in range(10)])) == 10


def test_parameters_are_checked(store: EventStore) -> None:
    with pytest.raises(StoreError, match="max_batch must be an int >= 1"):
        GroupCommitter(store, max_batch=0)
    with pytest.raises(StoreError, match="max_wait_s must be a float >= 0"):
        GroupCommitter(store, max_wait_s=-1)
