"""The incrementally kept sufficient statistics give exactly the full-scan readout, on SQLite and PostgreSQL.

Random traffic (several allocation periods, a unit whose first period moves earlier, click values that are not
0/1, purchases and revenue, late rewards, default rewards, a reward arriving after its item was defaulted),
folded at random moments and across restarts of the store, then compared with ``analyze_metrics`` on the
exported log, the counts of a scan of the tables, and the export's reward sums and top items.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa
from alembic import command
from store_records import T0, allocation, decision, reward

from abrec.abtest.readout import log_periods
from abrec.abtest.scorecard import analyze_metrics
from abrec.errors import AbrecError
from abrec.store import EventStore, JournalEntry, WriteBatch, schema, upgrade
from abrec.store.migrate import _config

WEIGHTS = ({"control": 0.5, "treatment": 0.5}, {"control": 0.3, "treatment": 0.7}, {"control": 0.6, "treatment": 0.4})
ITEMS = tuple("abcdefgh")


def _close(a: Any, b: Any, path: str = "") -> None:
    """Equal JSON-like values, floats to 1e-9 relative (NaN equals NaN)."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and set(a) == set(b), path
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list | tuple):
        assert isinstance(b, list | tuple) and len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        x, y = float(a), float(b)
        assert (math.isnan(x) and math.isnan(y)) or math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-12), (path, a, b)
    else:
        assert a == b, (path, a, b)


class Traffic:
    """Random decisions, rewards and journal entries for experiment ``exp`` (a learner's writes included)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.decisions: list[Any] = []
        self.journaled: set[tuple[str, str]] = set()
        self.rewarded: set[tuple[str, str, str]] = set()
        self.batch = 0
        self.clock = 0

    def variant(self, unit: str) -> str:
        return "control" if int(unit[1:]) % 2 else "treatment"

    def round(self, store: EventStore, period: int) -> None:
        rng = self.rng
        fresh = []
        for _ in range(rng.randint(15, 40)):
            unit = f"u{rng.randrange(30 * (period + 1))}"  # new units arrive every period
            variant = self.variant(unit)
            at = period if rng.random() > 0.1 else max(period - 1, 0)  # a lagging worker: an earlier period
            self.clock += 1
            created = T0 + timedelta(seconds=self.clock)
            k = rng.randint(1, 3)
            fresh.append(
                decision(
                    unit=unit,
                    variant=variant,
                    period=at,
                    assignment_p=WEIGHTS[at][variant],
                    items=tuple(rng.sample(ITEMS, k)),
                    created_at=created,
                    window=timedelta(seconds=rng.choice((5, 10_000))),
                )
            )
        store.write(WriteBatch(decisions=fresh))
        self.decisions.extend(fresh)
        rewards = []
        for d in rng.sample(self.decisions, min(len(self.decisions), 30)):
            item = rng.choice(d.items)
            kind = rng.choices(("click", "purchase", "revenue"), (6, 2, 1))[0]
            if (d.event_id, item, kind) in self.rewarded:
                continue
            self.rewarded.add((d.event_id, item, kind))
            value = {"click": rng.choice((0.0, 1.0, 1.0, 2.5)), "purchase": 1.0, "revenue": rng.uniform(-5, 40)}[kind]
            at = d.created_at + timedelta(seconds=rng.choice((1, 1, 1, 60)))  # 60 s: late for 5 s windows
            rewards.append(reward(d.event_id, item, value, kind=kind, at=at))
        store.write(WriteBatch(rewards=rewards))
        journal = []
        self.batch += 1
        for d in rng.sample(self.decisions, min(len(self.decisions), 20)):
            item = rng.choice(d.items)
            if (d.event_id, item) in self.journaled:
                continue
            self.journaled.add((d.event_id, item))
            learned = (d.event_id, item, "click") in self.rewarded and rng.random() < 0.7
            value = rng.choice((0.0, 1.0, 2.5)) if learned else 0.25  # 0.25: the default reward
            journal.append(
                JournalEntry(
                    experiment="exp",
                    variant=d.variant,
                    event_id=d.event_id,
                    item=item,
                    position=d.items.index(item),
                    value=value,
                    source="reward" if learned else "default",
                    batch=self.batch,
                    learned_at=T0,
                )
            )
        store.write(WriteBatch(journal=journal))


def _scan_counts(store: EventStore) -> dict[str, dict[str, int]]:
    d, r, j = schema.decisions, schema.rewards, schema.journal
    out: dict[str, dict[str, int]] = {}
    with store.engine.connect() as c:
        for v, n, shown in c.execute(
            sa.select(d.c.variant, sa.func.count(), sa.func.sum(d.c.n_shown)).group_by(d.c.variant)
        ):
            out[v] = {"decisions": n, "shown": int(shown)}
        late = sa.func.sum(sa.case((r.c.late, 1), else_=0))
        query = (
            sa.select(d.c.variant, sa.func.count(), late).join(d, d.c.event_id == r.c.event_id).group_by(d.c.variant)
        )
        for v, n, n_late in c.execute(query):
            out[v].update(rewards=n, late=int(n_late))
        defaulted = sa.func.sum(sa.case((j.c.source == "default", 1), else_=0))
        for v, n, n_default in c.execute(sa.select(j.c.variant, sa.func.count(), defaulted).group_by(j.c.variant)):
            out[v].update(journaled=n, defaulted=int(n_default))
    for row in out.values():
        row["waiting"] = row["shown"] - row["journaled"]
    return out


def _outcome(read: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    try:
        return {"readout": read()}
    except AbrecError as exc:
        return {"error": str(exc)}


def _check_equal(store: EventStore) -> None:
    stats = store.stats("exp")
    log = store.export_log("exp", reward_kind="click")
    incremental = _outcome(lambda: stats.readout(control="control").to_dict())
    _close(incremental, _outcome(lambda: analyze_metrics(log, control="control").to_dict()))
    assert "readout" in incremental  # a readout, not the same error twice
    periods, _ = log_periods(log, variants=["treatment", "control", "unused"])  # what the adaptive allocator reads
    mine = stats.period_stats(["treatment", "control", "unused"])
    for name in ("n", "sum", "sum_sq"):
        assert np.allclose(getattr(mine, name), getattr(periods, name), rtol=1e-12, atol=1e-9), name
    assert {v: dict(c) for v, c in stats.counts.items()} == _scan_counts(store)
    frame = log.frame
    for variant in stats.variants:
        assert math.isclose(stats.reward_sum(variant), frame.loc[frame["variant"] == variant, "reward"].sum())
    shown = frame.assign(item=frame["item"].astype(str)).groupby(["variant", "item"])["reward"].agg(["count", "sum"])
    for variant, top in store.top_items("exp", n=len(ITEMS)).items():
        for item, count, total in top:
            assert count == shown.loc[(variant, item), "count"]
            assert math.isclose(total, shown.loc[(variant, item), "sum"], abs_tol=1e-9)


@pytest.mark.parametrize("seed", [0, 1])
def test_incremental_statistics_give_the_full_scan_readout_after_random_traffic_and_restarts(
    database_url: str, seed: int
) -> None:
    traffic = Traffic(seed)
    store = EventStore(database_url)
    store.put_experiment("exp", {"v": 1}, allocation("exp", WEIGHTS[0]), reward_kind="click")
    try:
        for period in range(3):
            for _ in range(3):
                traffic.round(store, period)
                if traffic.rng.random() < 0.5:
                    store.fold_stats()
                if traffic.rng.random() < 0.3:  # a restart: a new process opens the store
                    store.close()
                    store = EventStore(database_url)
        store.fold_stats()
        _check_equal(store)
        assert store.fold_stats() == 0  # up to date: nothing to fold, nothing written
        assert sum(1 for d in traffic.decisions if d.period == 0) > 0
        assert len(store.stats("exp").variants) == 2
    finally:
        store.close()


def test_a_stale_cursor_is_caught_up_by_the_next_read(database_url: str) -> None:
    """Results fold what was committed since the last fold: a reward just stored counts at once."""
    with EventStore(database_url) as store:
        store.put_experiment("exp", {"v": 1}, allocation("exp"), reward_kind="click")
        d = decision(unit="u1")
        store.write(WriteBatch(decisions=[d, decision(unit="u2", variant="treatment")]))
        assert store.stats("exp").reward_sum("control") == 0.0
        store.write(WriteBatch(rewards=[reward(d.event_id, "b", 3.0)]))
        assert store.stats("exp", refresh=False).reward_sum("control") == 0.0
        assert store.stats("exp").reward_sum("control") == 3.0


def test_a_fold_planned_before_another_fold_is_not_applied_twice(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """fold_stats plans outside the write lock; a plan overtaken by another fold (the learner's and a results call's
    at once) must be dropped and the fold redone under the lock, else its rows would count twice."""
    from abrec.store import stats

    traffic = Traffic(3)
    with EventStore(database_url) as store:
        store.put_experiment("exp", {"v": 1}, allocation("exp", WEIGHTS[0]), reward_kind="click")
        traffic.round(store, 0)
        with store.engine.connect() as connection:
            stale = stats.plan_fold(connection)
        assert stale is not None and stale.rows > 0
        assert store.fold_stats() == stale.rows  # the other fold, which moves the cursor
        traffic.round(store, 0)
        with store.engine.begin() as connection:
            assert not stats.cursor_at(connection, stale.start)  # what fold_stats checks under the lock
        # fold_stats gets the overtaken plan: it must fold again under the lock instead of applying it.
        real_plan = stats.plan_fold
        stale_then_real = iter([stale])
        monkeypatch.setattr(stats, "plan_fold", lambda connection: next(stale_then_real, None) or real_plan(connection))
        assert store.fold_stats() > 0
        monkeypatch.setattr(stats, "plan_fold", real_plan)
        _check_equal(store)


def test_the_migration_backfills_the_statistics_from_the_rows_stored_before_it(empty_database_url: str) -> None:
    upgrade(empty_database_url)
    traffic = Traffic(7)
    with EventStore(empty_database_url) as store:
        store.put_experiment("exp", {"v": 1}, allocation("exp", WEIGHTS[0]), reward_kind="click")
        for period in range(2):
            traffic.round(store, period)
            traffic.round(store, period)
        store.fold_stats()
        before = store.stats("exp").readout(control="control").to_dict()
        engine = store.engine
        with engine.begin() as connection:  # back to revision 0002: the statistics tables are dropped
            config = _config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0002")
            assert "stat_cells" not in sa.inspect(connection).get_table_names()
    upgrade(empty_database_url)  # 0003 again: created and backfilled in one fold
    with EventStore(empty_database_url) as store:
        with store.engine.connect() as connection:
            assert connection.execute(sa.select(sa.func.count()).select_from(schema.stat_units)).scalar() > 0
        assert store.fold_stats() == 0
        _close(store.stats("exp", refresh=False).readout(control="control").to_dict(), before)
        _check_equal(store)


def test_stats_of_an_unknown_experiment_say_which_exist(store: EventStore) -> None:
    from abrec.errors import UnknownNameError

    store.put_experiment("exp", {"v": 1}, allocation("exp"), reward_kind="click")
    with pytest.raises(UnknownNameError, match="exp"):
        store.stats("nope")


def test_the_metric_history_gets_a_point_per_second_at_most_and_thins_with_age(database_url: str) -> None:
    from abrec.store import stats

    with EventStore(database_url) as store:
        store.put_experiment("exp", {"v": 1}, allocation("exp"), reward_kind="click")
        folds = [0.0, 0.5, 1.0, 2.0, 400.0, 401.0, 404.0, 1000.0]  # seconds
        for i, at in enumerate(folds):
            store.write(WriteBatch(decisions=[decision(unit=f"u{i}", variant=("control", "treatment")[i % 2])]))
            with store.engine.begin() as connection:
                stats.fold(connection, now=at)
        points = sorted({at for _, at, *_ in store.metric_history("exp")})
    # 0.5: within a second; 401: within 400/200 = 2 s of 400; 404 is 4 s after 400 (>= 404/200)
    assert points == [0.0, 1.0, 2.0, 400.0, 404.0, 1000.0]
