"""The partial session index (migration 0005): decisions of experiments without agents stay out of it; the session
reads still find every decision of an experiment with agents, rows stored before 0005 included."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command
from store_records import T0, allocation, decision

from abrec.store import EventStore, WriteBatch, schema, upgrade
from abrec.store.migrate import _config

_D = schema.decisions


def _stateful(store: EventStore) -> dict[str, bool]:
    with store.engine.connect() as connection:
        return {e: bool(s) for e, s in connection.execute(sa.select(_D.c.event_id, _D.c.stateful))}


def _two_experiments(store: EventStore) -> None:
    for name in ("agents", "plain", "untold"):
        store.put_experiment(name, {"v": 1}, allocation(name), reward_kind="click")
    store.index_sessions("agents", True)
    store.index_sessions("plain", False)


def test_only_experiments_without_agents_skip_the_session_index(store: EventStore) -> None:
    _two_experiments(store)
    rows = [
        decision(f"{name}-{step}", experiment=name, step=step)
        for name in ("agents", "plain", "untold")
        for step in (1, 2)
    ]
    store.write(WriteBatch(decisions=rows))
    marked = _stateful(store)
    assert marked == {r.event_id: r.experiment != "plain" for r in rows}
    # The session reads find the indexed sessions, at every step before the one asked for.
    for name in ("agents", "untold"):
        got = store.session_decisions(name, [("u1", "s1")])
        assert [d.event_id for d in got[("u1", "s1")]] == [f"{name}-1", f"{name}-2"]
        assert store.session_history(name, "u1", "s1", 3, "click") == [(("a", "b", "c"), (0.0, 0.0, 0.0))] * 2
    # Told again (an experiment that gained agents): its next decisions are indexed.
    store.index_sessions("plain", True)
    store.write(WriteBatch(decisions=[decision("plain-3", experiment="plain", step=3)]))
    assert _stateful(store)["plain-3"] is True
    assert [d.event_id for d in store.session_decisions("plain", [("u1", "s1")])[("u1", "s1")]] == ["plain-3"]


def test_the_session_reads_use_the_partial_index(store: EventStore) -> None:
    _two_experiments(store)
    from abrec.store.event_store import _SESSION_HISTORY

    query = _SESSION_HISTORY.params(experiment="agents", unit="u1", session_id="s1", step=3, kind="click")
    compiled = query.compile(store.engine, compile_kwargs={"literal_binds": True})
    explain = "EXPLAIN QUERY PLAN " if store.dialect == "sqlite" else "EXPLAIN "
    with store.engine.connect() as connection:
        if store.dialect != "sqlite":  # an empty table: make the planner show the index it can use
            connection.exec_driver_sql("SET enable_seqscan = off")
        plan = " ".join(str(row) for row in connection.exec_driver_sql(explain + str(compiled)))
    assert "ix_decisions_session" in plan


def test_rows_stored_before_0005_stay_in_the_session_index(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    with EventStore(empty_database_url) as store:
        store.put_experiment("exp", {"v": 1}, allocation("exp"), reward_kind="click")
        store.write(WriteBatch(decisions=[decision("e1", step=1), decision("e2", step=2, created_at=T0)]))
        with store.engine.begin() as connection:  # back to 0004: no stateful column, a full index
            config = _config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0004")
            assert "stateful" not in {c["name"] for c in sa.inspect(connection).get_columns("decisions")}
            connection.execute(sa.text("UPDATE decisions SET step = 5 WHERE event_id = 'e2'"))  # a write at 0004
    assert upgrade(empty_database_url) == "0005"
    with EventStore(empty_database_url) as store:
        assert _stateful(store) == {"e1": True, "e2": True}
        got = store.session_decisions("exp", [("u1", "s1")])[("u1", "s1")]
        assert [(d.event_id, d.step) for d in got] == [("e1", 1), ("e2", 5)]
