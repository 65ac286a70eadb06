"""The runtime of one experiment, without I/O: policies as ``abrec simulate`` builds them, assignment, features."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import numpy as np
import pytest
from _service_config import ITEMS, config_mapping, experiment

from abrec.abtest.assignment import Experiment
from abrec.embeddings import History, PCAReducer, item_features, make_encoder, user_contexts
from abrec.errors import InputError
from abrec.policies import make_policy
from abrec.service import ServiceConfig
from abrec.service.config import Catalog
from abrec.service.features import ItemSpace, UnknownItems
from abrec.service.runtime import DecideInput, ExperimentRuntime, initial_experiment
from abrec.store.records import AllocationRow

NOW = datetime(2026, 1, 5, tzinfo=UTC)


def runtime(**overrides: object) -> ExperimentRuntime:
    config = ServiceConfig.from_mapping(config_mapping(experiment(**overrides)))
    (spec,) = config.experiments
    space = ItemSpace(spec.config.encoder, spec.config.feature_dim, config.catalog)
    row = AllocationRow.from_experiment(initial_experiment(spec), period=0, started_at=NOW)
    return ExperimentRuntime(spec, space, row)


def request(unit: str, **kw: object) -> DecideInput:
    return DecideInput(experiment="home", unit=unit, candidates=kw.pop("candidates", ("a", "b", "c", "d")), **kw)  # type: ignore[arg-type]


def test_decisions_are_those_of_the_policies_abrec_simulate_would_build() -> None:
    rt = runtime()
    units = [f"user-{i}" for i in range(60)]
    decided = rt.decide([request(u, k=2) for u in units], NOW)
    # The same policies, seeded as run_simulation seeds them, deciding each variant's requests in one call.
    specs = rt.spec.config.variants
    for i, spec in enumerate(specs):
        policy = make_policy(spec.policy, seed=rt.spec.config.seed + i, **dict(spec.params))
        rows = [d for d in decided.decisions if d.variant == spec.name]
        assert rows, spec.name
        cand = np.array([["a", "b", "c", "d"]] * len(rows))
        feats = rt.features.lookup(cand) if policy.uses_item_features else None  # type: ignore[union-attr]
        expected = policy.decide(cand, np.zeros((len(rows), 3)), k=2, item_features=feats)
        assert [list(d.items) for d in rows] == expected.items.tolist()
        np.testing.assert_allclose([d.propensities for d in rows], expected.propensities)
        assert {d.policy for d in rows} == {policy.name} and {d.snapshot_version for d in rows} == {0}
    assert all(d.context == (0.0, 0.0, 0.0) for d in decided.decisions)  # nothing known: the zero vector


def test_event_ids_are_time_ordered_uuid7() -> None:
    decided = runtime().decide([request(f"user-{i}", k=2) for i in range(30)], NOW)
    ids = [uuid.UUID(hex=d.event_id) for d in decided.decisions]
    assert len(set(ids)) == 30 and {i.version for i in ids} == {7}
    assert all(d.event_id == i.hex for d, i in zip(decided.decisions, ids, strict=True))  # 32 hex digits


def test_units_are_assigned_by_salted_hashing_and_stay_sticky_after_a_reweighting() -> None:
    rt = runtime()
    units = [f"user-{i}" for i in range(500)]
    variants, new = rt.assign(units)
    assert variants == Experiment.create("home", ["random", "ts", "lin"]).assign(units).tolist()
    assert [rt.assign([u])[0][0] for u in units[:100]] == variants[:100]  # one request at a time: the same
    assert [(u, v) for _, u, v, _ in new] == list(zip(units, variants, strict=True))
    assert rt.assign(units)[1] == new  # nothing remembered until the caller says it is committed
    rt.remember({u: v for _, u, v, _ in new})
    assert rt.assign(units) == (variants, [])
    moved = rt.experiment.reweight({"random": 0.1, "ts": 0.1, "lin": 0.8})
    rt.set_allocation(AllocationRow.from_experiment(moved, period=1, started_at=NOW))
    assert rt.assign(units)[0] == variants  # sticky: the cache keeps every known unit's variant
    fresh = [f"other-{i}" for i in range(2000)]
    assert rt.cached_units(fresh) == fresh  # after a reweighting, an unknown unit is looked up first
    shares = np.unique(rt.assign(fresh)[0], return_counts=True)[1] / len(fresh)
    assert shares.max() > 0.7  # new units follow the new weights


def test_a_rejected_batch_leaves_no_trace_in_the_sticky_cache() -> None:
    rt = runtime()
    good, bad = request("u1"), request("u2", context=(1.0, 2.0))  # context_dim is 3
    with pytest.raises(InputError, match="context_dim"):
        rt.decide([good, bad], NOW)
    assert rt.assign(["u1"])[1] == [("home", "u1", rt.assign(["u1"])[0][0], 0)]


def test_item_features_come_from_abrecs_pipeline_with_a_bias_column() -> None:
    ids = [i for i, _ in ITEMS]
    space = ItemSpace("hashing", 3, Catalog(tuple(ids), tuple(t for _, t in ITEMS)))
    encoder = make_encoder("hashing")
    reducer = PCAReducer(3)

    class Shelf:
        ids = np.array([i for i, _ in ITEMS])

        def texts(self) -> list[str]:
            return [t for _, t in ITEMS]

    expected = item_features(Shelf(), encoder, reducer=reducer).vectors
    got = space.lookup(ids)
    np.testing.assert_allclose(got[:, :3], expected, rtol=1e-6)
    np.testing.assert_array_equal(got[:, 3], 1.0)
    with pytest.raises(UnknownItems, match="'zz'"):
        space.lookup(["a", "zz"])
    space.add({"zz": "purple silk scarf"})  # a new item: encoded once, reduced by the PCA fitted on the catalog
    np.testing.assert_allclose(
        space.lookup(["zz"])[0, :3], reducer.transform(encoder.encode(["purple silk scarf"]))[0], rtol=1e-6
    )


def test_a_history_becomes_the_user_vector_of_user_contexts() -> None:
    rt = runtime()
    assert rt.features is not None
    vector = rt.context_of(request("u", history=("a", "c", "unknown-item")))
    ids = np.array(["a", "c"])
    expected = user_contexts([History(["a", "c"])], (ids, rt.features.lookup(ids)[:, :3]))[0]
    np.testing.assert_allclose(vector, expected, rtol=1e-6)
    with pytest.raises(InputError, match="context_dim"):
        runtime(context_dim=5).context_of(request("u", history=("a",)))


def test_a_new_candidate_with_its_text_is_decided_and_stored_once() -> None:
    rt = runtime(variants=[{"name": "a", "policy": "uniform"}, {"name": "b", "policy": "linucb"}], control="a")
    decided = rt.decide([request("u", candidates=("a", "new"), texts={"new": "pink wool hat"})], NOW)
    assert decided.items == [("new", "pink wool hat")]
    assert "new" in rt.features  # type: ignore[operator]


def test_the_one_unit_hash_assigns_as_the_experiment_does() -> None:
    from abrec.service._assign import Ranges

    rng = np.random.default_rng(3)
    units = [f"user-{i}" for i in range(3000)] + ["é", "ユーザー", "x" * 100, "12345678", "1234567", "a b"]
    units += ["".join(chr(c) for c in rng.integers(33, 0x2FFF, size=rng.integers(1, 30))) for _ in range(2000)]
    experiment = Experiment.create("home", {"a": 0.2, "b": 0.5, "c": 0.3}, coverage=0.9, salt="salty")
    ranges = Ranges(experiment)
    assert [ranges.variant(u) for u in units] == experiment.assign(units).tolist()


def test_a_batch_of_given_histories_and_missing_contexts_stores_each_requests_own_vector() -> None:
    rt = runtime()
    requests = [
        request("u1", context=(0.5, -1.0, 2.0), k=2),
        request("u2", history=("a", "c"), k=2),
        request("u3", k=2),
        request("u4", context=(1, 2, 3), k=2),  # ints are numbers too
        request("u5", context=(3.0, 2.0, 1.0), request_id="r5", session_id="s", step=4, k=2),
    ]
    decided = rt.decide(requests, NOW)
    want = [rt.context_of(r) for r in requests]
    assert [d.unit for d in decided.decisions] == [r.unit for r in requests]
    for row, vector, req in zip(decided.decisions, want, requests, strict=True):
        assert row.context == tuple(vector.tolist())
        assert (row.client_request_id, row.session_id, row.step, row.k) == (req.request_id, req.session_id, req.step, 2)
        assert row.candidates == req.candidates and set(row.items) <= set(req.candidates) and len(row.items) == 2
        assert row.assignment_p == rt.assignment_p(req.unit, row.variant)
        assert row.created_at == NOW and row.window_closes_at > NOW
    assert len({d.event_id for d in decided.decisions}) == len(requests)


def test_the_first_bad_context_of_a_batch_is_the_error_and_nothing_is_decided() -> None:
    rt = runtime()
    good = request("u1", context=(0.0, 0.0, 0.0))
    with pytest.raises(InputError, match="context has 2 values"):
        rt.decide([good, request("u2", context=(1.0, 2.0)), request("u3", context=(1.0,) * 4)], NOW)
    with pytest.raises(InputError, match="context has 4 values"):
        rt.decide([good, request("u3", context=(1.0,) * 4), request("u2", context=(1.0, 2.0))], NOW)
    assert rt.assign(["u1"])[1]  # nothing remembered: u1 still has an assignment to store
