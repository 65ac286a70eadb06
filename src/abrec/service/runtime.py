"""One served experiment in memory: its variants' policies, its allocation, sticky assignment, and decide.

:class:`ExperimentRuntime` turns validated requests into :class:`~abrec.store.records.DecisionRow` records
without any I/O, so the HTTP layer only parses, calls it and submits the rows to the store's group
committer. Policies are built as ``abrec simulate`` builds them (:func:`~abrec.policies.make_policy`, seed =
the config's seed + the variant's index) and replaced by newer snapshots while serving; units are assigned by
salted hashing (:class:`~abrec.abtest.assignment.Experiment`, the allocation in force) with sticky storage: an
in-process cache in front of the ``assignments`` table.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
import numpy.typing as npt

from .._ids import time_ordered_ids
from ..abtest.assignment import Experiment
from ..errors import AbrecError, InputError
from ..policies.base import Policy
from ..policies.records import Feedback
from ..policies.registry import make_policy
from ..store.records import AllocationRow, DecisionRow, trusted_builder
from ._assign import Ranges
from .config import ServiceExperiment
from .features import ItemSpace
from .sessions import SessionStates, session_states

__all__ = ["DecideInput", "Decided", "ExperimentRuntime", "ServingPolicy", "initial_experiment"]

FloatArray = npt.NDArray[np.float64]
_STICKY_CACHE = 1_000_000


@dataclass(frozen=True, slots=True)
class DecideInput:
    """One decide request, validated by the API model (ids are strings; ``texts``: new candidates' texts)."""

    experiment: str
    unit: str
    candidates: tuple[str, ...]
    k: int = 1
    texts: Mapping[str, str] = field(default_factory=dict)
    context: tuple[float, ...] | None = None
    history: tuple[str, ...] | None = None
    request_id: str | None = None
    session_id: str = ""
    step: int = 0


@dataclass(frozen=True, slots=True)
class Decided:
    """What a batch of decide requests produced: the decisions, and the sticky assignments and items to store."""

    decisions: list[DecisionRow]
    assignments: list[tuple[str, str, str, int]]
    items: list[tuple[str, str]]


@dataclass(frozen=True, slots=True)
class ServingPolicy:
    """A variant's policy in service: the snapshot ``version`` it was loaded from (0: fresh) and when built."""

    policy: Policy
    version: int = 0
    built_at: datetime | None = None


def initial_experiment(spec: ServiceExperiment) -> Experiment:
    """The assignment experiment of period 0: fixed weights, or the allocator's first (even) weights."""
    return Experiment.create(spec.name, spec.config.initial_weights(spec.config.allocator()))


class ExperimentRuntime:
    """An experiment's policies, allocation and features in one process (see the module docstring).

    Parameters
    ----------
    spec : ServiceExperiment
    features : ItemSpace or None
        The item features (needed when a variant reads item features, or for user histories).
    allocation : AllocationRow
        The allocation in force.
    """

    def __init__(self, spec: ServiceExperiment, features: ItemSpace | None, allocation: AllocationRow) -> None:
        self.spec = spec
        self.features = features
        self.serving: dict[str, ServingPolicy] = {
            name: ServingPolicy(policy) for name, policy in fresh_policies(spec).items()
        }
        self._sticky: dict[str, str] = {}
        self._lock = threading.Lock()
        #: The weights of every allocation period seen (a sticky unit of a variant reweighted to 0 keeps the
        #: weight of the period it was assigned in) and the assignment periods of such units.
        self.period_weights: dict[int, dict[str, float]] = {}
        self.unit_periods: dict[str, int] = {}
        #: Set by the admin API (admin.sync_admin): 'running', 'paused' or 'stopped', and the variant whose
        #: policy serves every unit while paused or stopped (each unit is still logged under its own variant).
        self.status: str = "running"
        self.serve_with: str | None = None
        #: The agent variants' session states (sessions.py; None without agents; the service sets its store).
        self.sessions: SessionStates | None = session_states(spec, features)
        self.set_allocation(allocation)

    # ------------------------------------------------------------ state swapped in by the poller
    def set_allocation(self, row: AllocationRow) -> None:
        """Use the allocation ``row`` (a newer period) from now on; assigned units keep their variant."""
        experiment = row.to_experiment()
        self.allocation = row
        self.experiment = experiment
        self._ranges = Ranges(experiment)
        self.period = row.period
        self.weights = dict(experiment.weights)
        self.period_weights[row.period] = dict(self.weights)

    def add_allocations(self, rows: Sequence[AllocationRow]) -> None:
        """Remember the weights of earlier allocation periods (see :meth:`assignment_p`)."""
        for row in rows:
            self.period_weights.setdefault(row.period, {k: float(v) for k, v in row.weights.items()})

    def zero_weight_units(self, units: Sequence[str]) -> list[str]:
        """The sticky units whose variant has weight 0 now and whose assignment period is not known yet."""
        zero = {v for v, w in self.weights.items() if w <= 0.0}
        if not zero:
            return []
        sticky, periods = self._sticky, self.unit_periods
        return [u for u in dict.fromkeys(units) if sticky.get(u) in zero and u not in periods]

    def assignment_p(self, unit: str, variant: str) -> float:
        """The probability with which ``unit`` was assigned to ``variant``: the variant's weight now, or, when
        the weights have since dropped it to 0 (a ramp-down), its weight in the period the unit was assigned in
        (the latest period that gave it traffic when that period is unknown)."""
        p = self.weights.get(variant, 0.0)
        if p > 0.0:
            return p
        period = self.unit_periods.get(unit)
        if period is not None and self.period_weights.get(period, {}).get(variant, 0.0) > 0.0:
            return self.period_weights[period][variant]
        for _, weights in sorted(self.period_weights.items(), reverse=True):
            if weights.get(variant, 0.0) > 0.0:
                return weights[variant]
        return p

    def set_policy(self, variant: str, policy: Policy, version: int, built_at: datetime | None) -> None:
        """Serve ``policy`` (snapshot ``version``) for ``variant`` from the next request on.

        The new policy keeps drawing from the random generator of the one it replaces: what it learned comes
        from the snapshot, its draws go on where the served policy's left off (as one policy that decides and
        learns in turn, like the simulation's), instead of restarting from the learner's generator state.
        """
        old = self.serving.get(variant)
        if old is not None and type(old.policy) is type(policy):
            policy._rng = old.policy._rng
        self.serving[variant] = ServingPolicy(policy, version, built_at)

    def warm_up(self) -> None:
        """Decide once with a copy of every policy (one request and a batch), so that compiled kernels are
        built before the first request; the policies in service are not touched."""
        ids = np.array([f"__warm_up_{i}__" for i in range(3)])
        x = np.zeros((2, self.spec.context_dim))
        for variant, serving in self.serving.items():
            if self.sessions is not None and variant in self.sessions.variants:  # agents: on session states
                self.sessions.warm_up(serving.policy, variant)
                continue
            policy = serving.policy.clone(keep_state=True, seed=0)
            feats = None
            if policy.uses_item_features:
                feats = np.zeros((2, 3, self.features.dim if self.features is not None else 1))
            for k in (1, 2):
                policy.decide(ids, x[:1], k=k, item_features=None if feats is None else feats[0])
                policy.decide(np.stack([ids, ids]), x, k=k, item_features=feats)
            if policy.learns:  # the learner's update kernels too (compiled on first use)
                for n in (1, 2):
                    try:
                        policy.update(
                            Feedback(
                                ids[:n],
                                np.zeros(n),
                                x[:n],
                                np.zeros(n, dtype=np.int64),
                                np.ones(n),
                                None if feats is None else feats[0, :n],
                            )
                        )
                    except AbrecError:  # a policy refusing this made-up feedback: nothing to warm up
                        pass

    # ------------------------------------------------------------ assignment
    def cached_units(self, units: Sequence[str]) -> list[str]:
        """The units whose variant must be read from the database first: not cached, once weights have changed.

        Before the first reweighting (period 0) the hash alone gives every unit's first variant.
        """
        if self.period == 0:
            return []
        sticky = self._sticky
        return [u for u in units if u not in sticky]

    def remember(self, assigned: Mapping[str, str], periods: Mapping[str, int] | None = None) -> None:
        """Add committed (or read) assignments, unit -> variant, to the sticky cache (and, where known, the
        periods they were made in)."""
        with self._lock:
            if len(self._sticky) > _STICKY_CACHE:
                self._sticky.clear()
                self.unit_periods.clear()
            self._sticky.update(assigned)
            if periods:
                self.unit_periods.update(periods)

    def assign(self, units: Sequence[str]) -> tuple[list[str], list[tuple[str, str, str, int]]]:
        """The variant of every unit, and the sticky assignments to store for units not cached yet.

        The cache is not changed: :meth:`remember` the assignments once they are committed, so a rejected
        request leaves nothing behind.
        """
        sticky = self._sticky
        names = self.serving
        missing = sorted({u for u in units if sticky.get(u) not in names})
        if len(missing) > 16:  # numpy's vectorised hash pays off
            hashed = dict(zip(missing, self.experiment.assign(missing).tolist(), strict=True))
        else:
            ranges = self._ranges
            hashed = {u: ranges.variant(u) for u in missing}
        out: list[str] = []
        new: list[tuple[str, str, str, int]] = []
        recorded: set[str] = set()
        for unit in units:
            variant = sticky.get(unit)
            if variant is None or variant not in names:
                variant = hashed[unit]
                if not variant:
                    raise InputError(f"Unit {unit!r} is outside experiment {self.spec.name!r} (its coverage).")
                if unit not in recorded:
                    recorded.add(unit)
                    new.append((self.spec.name, unit, variant, self.period))
            out.append(variant)
        return out, new

    # ------------------------------------------------------------ contexts and features
    def context_of(self, request: DecideInput) -> FloatArray:
        """The request's context vector: as given, from its history (a user vector), or zeros (nothing known)."""
        d = self.spec.context_dim
        if request.context is not None:
            if len(request.context) != d:
                raise InputError(
                    f"context has {len(request.context)} values; experiment {self.spec.name!r} takes context "
                    f"vectors of length {d} (context_dim)."
                )
            return np.asarray(request.context, dtype=np.float64)
        if request.history is not None:
            if self.features is None:
                raise InputError(
                    f"Experiment {self.spec.name!r} has no item features (no catalog, no policy reading them), "
                    "so it cannot turn a history into a user vector; send 'context' instead."
                )
            if self.features.feature_dim != d:
                raise InputError(
                    f"A history gives a user vector of length feature_dim ({self.features.feature_dim}); experiment "
                    f"{self.spec.name!r} takes contexts of length {d} (context_dim). Send 'context' instead."
                )
            vector: FloatArray = self.features.user_vectors([request.history])[0]
            return vector
        return np.zeros(d)

    def contexts(self, requests: Sequence[DecideInput]) -> FloatArray:
        """The requests' context vectors as rows of one array (see :meth:`context_of`; its errors, in order)."""
        d = self.spec.context_dim
        given = [r.context for r in requests]
        if all(c is not None and len(c) == d for c in given):  # the usual case: one conversion for all
            return np.array(given, dtype=np.float64).reshape(len(requests), d)
        return np.array([self.context_of(r) for r in requests], dtype=np.float64).reshape(len(requests), d)

    def learn_new_items(self, requests: Sequence[DecideInput]) -> list[tuple[str, str]]:
        """Encode the texts of candidates seen for the first time; the ``(id, text)`` pairs to store."""
        texts: dict[str, str] = {}
        for request in requests:
            texts.update(request.texts)
        if not texts:
            return []
        if self.features is not None:
            fresh = {item: text for item, text in texts.items() if item not in self.features}
            self.features.add(fresh)
        return sorted(texts.items())

    # ------------------------------------------------------------ decide
    def check(self, request: DecideInput) -> None:
        """Raise InputError for what would make ``request`` fail on its own (before it joins a batch)."""
        if request.k > len(request.candidates):
            raise InputError(f"k={request.k} is more than the {len(request.candidates)} candidates of the request.")
        if request.context is not None and len(request.context) != self.spec.context_dim:
            self.context_of(request)  # raises the context's error

    def decide(self, requests: Sequence[DecideInput], now: datetime) -> Decided:
        """Decide every request (all of this experiment): slates, propensities and the records to store.

        Requests routed to one variant with the same number of candidates and the same ``k`` are decided by
        one vectorised ``Policy.decide`` call. A paused or stopped experiment decides every request with the
        ``serve_with`` variant's policy, logged under the unit's own variant.
        """
        items = self.learn_new_items(requests)
        variants, assignments = self.assign([r.unit for r in requests])
        contexts = self.contexts(requests)
        groups: dict[tuple[str, int, int], list[int]] = {}
        for i, (request, variant) in enumerate(zip(requests, variants, strict=True)):
            if request.k > len(request.candidates):
                raise InputError(f"k={request.k} is more than the {len(request.candidates)} candidates of the request.")
            groups.setdefault((variant, len(request.candidates), request.k), []).append(i)
        rows: list[DecisionRow | None] = [None] * len(requests)
        closes = now + timedelta(seconds=self.spec.reward.window)
        name = self.spec.name
        serve_with = self.serve_with
        period = self.period
        times_aware = now.utcoffset() is not None and closes.utcoffset() is not None
        for (variant, _m, k), members in groups.items():
            serving = self.serving[serve_with or variant]
            policy = serving.policy
            cand = np.asarray([requests[i].candidates for i in members], dtype=str)
            feats = None
            if policy.uses_item_features:
                assert self.features is not None  # built whenever a variant reads item features
                feats = self.features.lookup(cand)
            if self.sessions is not None and (serve_with or variant) in self.sessions.variants:
                # An agent decides from each unit's session state, stored as the decision's context (sessions.py).
                assert feats is not None
                group = [requests[i] for i in members]
                decision, x, scores = self.sessions.decide(
                    policy, serve_with or variant, group, [contexts[i].copy() for i in members], cand, feats, k
                )
            elif len(members) == 1:  # the one-request hot path: shared candidates, cached item rows
                x = contexts[members]
                decision = policy.decide(cand[0], x, k=k, item_features=None if feats is None else feats[0])
                scores = decision.scores[:1, decision.slots[0]]
            else:
                x = contexts[members]
                decision = policy.decide(cand, x, k=k, item_features=feats)
                full = np.broadcast_to(decision.scores, (len(members), cand.shape[1]))
                scores = np.take_along_axis(full, decision.slots, 1)
            props = decision.propensities
            # The policy's output, checked as a whole: rows from it skip DecisionRow's per-value checks.
            checked = bool(
                np.isfinite(props).all()
                and (props > 0.0).all()
                and (props <= 1.0).all()
                and np.isfinite(x).all()
                and times_aware
            )
            finite: list[bool] = np.asarray(np.isfinite(scores).all(axis=1)).tolist()
            slates = decision.items.tolist()
            slate_props = props.tolist()
            slate_scores = scores.tolist()
            xs = np.asarray(x, dtype=np.float64).tolist()
            draws = int(decision.propensity_draws)
            policy_name, policy_version = decision.policy, decision.version
            version = int(serving.version)
            event_ids = time_ordered_ids(len(members))  # the store's unique indexes on them grow at one end
            weight = self.weights.get(variant, 0.0)  # the assignment probability of every unit, when > 0
            for j, i in enumerate(members):
                request = requests[i]
                p = weight if weight > 0.0 else self.assignment_p(request.unit, variant)
                values = (
                    event_ids[j],
                    name,
                    request.unit,
                    variant,
                    period,
                    p,
                    policy_name,
                    policy_version,
                    k,
                    tuple(slates[j]),
                    tuple(slate_props[j]),
                    now,
                    closes,
                    tuple(slate_scores[j]) if finite[j] else (),
                    draws,
                    request.candidates,
                    tuple(xs[j]),
                    request.session_id,
                    request.step,
                    version,
                    request.request_id,
                    None,
                )
                if checked and 0.0 < p <= 1.0 and _clean(request):
                    rows[i] = _trusted_decision(values)
                else:  # something to refuse: DecisionRow's checks say what
                    rows[i] = DecisionRow(**dict(zip(_DECISION_FIELDS, values, strict=True)))  # type: ignore[arg-type]
        return Decided([r for r in rows if r is not None], assignments, items)


#: DecisionRow's fields in the order ExperimentRuntime.decide gives their values.
_DECISION_FIELDS = (
    "event_id",
    "experiment",
    "unit",
    "variant",
    "period",
    "assignment_p",
    "policy",
    "policy_version",
    "k",
    "items",
    "propensities",
    "created_at",
    "window_closes_at",
    "scores",
    "propensity_draws",
    "candidates",
    "context",
    "session_id",
    "step",
    "snapshot_version",
    "client_request_id",
    "seq",
)
_trusted_decision = trusted_builder(DecisionRow, _DECISION_FIELDS)


def _clean(request: DecideInput) -> bool:
    """Whether the request's values pass DecisionRow's checks (distinct non-empty ids without NUL, ints)."""
    candidates = request.candidates
    if type(candidates) is not tuple or len(set(candidates)) != len(candidates):
        return False
    for c in candidates:
        if type(c) is not str or not c or "\x00" in c:
            return False
    unit, session, rid, step = request.unit, request.session_id, request.request_id, request.step
    return (
        type(unit) is str
        and bool(unit)
        and "\x00" not in unit
        and type(session) is str
        and "\x00" not in session
        and (rid is None or (type(rid) is str and bool(rid) and "\x00" not in rid))
        and type(step) is int
        and 0 <= step < 2**63
        and type(request.k) is int
        and request.k >= 1
    )


def fresh_policies(spec: ServiceExperiment) -> dict[str, Policy]:
    """Each variant's policy as ``abrec simulate`` builds it: seed = the config's seed + the variant's index."""
    c = spec.config
    return {v.name: make_policy(v.policy, seed=c.seed + i, **dict(v.params)) for i, v in enumerate(c.variants)}
