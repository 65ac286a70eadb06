"""Agents in the decision service: each unit's session state, built from the stored log, and every transition learned.

An agent variant (``dqn``, ``tabular_q``, ``slateq``: any registered :class:`~abrec.agents.Agent`) decides from
a **session state** instead of the request's context. A session is ``(unit, session_id)`` of the request (a
request without ``session_id`` belongs to the unit's one session ``""``); its steps are its decisions in the order
of their ``step`` (then the order they were stored).

**Deciding** (:class:`SessionStates`). The state of a request is what :class:`~abrec.agents.StateEncoder` makes
of the session so far, exactly as :func:`abrec.agents.run_sessions` builds it: the user's context (the request's
``context``, or the user vector of its ``history``), advanced by every earlier step of the session (decisions with
a smaller ``step``) with the items shown there and the on-time rewards of the experiment's kind received for
them so far (0 for an item without one). The agent also reads pair features, ``[0, cos(f, clicked),
cos(f, shown)]`` (a service observes no fatigue), unless its ``state.pair_features`` is false. The decisions and
rewards in the database are the source of truth, so the state is the same in every worker and after a restart.
The state vector the agent decided on is stored as the decision's ``context``: the event record is the one
every policy writes, and the variant's export (``EventStore.export_log(experiment, variant=...)``, one context
length) is the session log that :mod:`abrec.ope`'s sequential estimators read, with the states the agent was
given (:func:`session_requests`).

**Learning** (:class:`SessionLearning`). The learner journals each shown item once, with its reward or the
default when the window closes (as for every policy); for an agent variant it then turns a session's steps,
in order, into n-step :class:`~abrec.agents.Transitions` (the agent's ``gamma`` and ``n_step``, the returns
summed as :class:`~abrec.agents.NStepCollector` sums them) and calls ``agent.learn``. The transition of step
``t`` spanning ``h`` steps reads the stored state of step ``t`` and the features of what it showed, the
journaled rewards of steps ``t .. t+h-1``, and:

- the next step's stored state and candidates, discount ``gamma^h``, when step ``t+h`` exists (the session
  went on: its decision was created before the window of step ``t+h-1`` closed) and has a journaled item;
- no next step, discount 0, when the session **ended** after step ``t+h-1`` (``h <= n_step``): that step's
  window closed and no later step of the session was created before it did. The next state is then the
  state after that step, as the rollout gives it; nothing follows it (mask all False).

Which transitions are learned in a micro-batch depends only on the journal up to it (its batch numbers and
its time, ``learned_at``) and on decisions created at least ``grace`` before it, so a restarted learner
replaying the journal batch by batch learns the same transitions in the same order: the same agent.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt

from ..agents.encoder import SessionState, StateEncoder
from ..agents.transitions import Transitions
from ..errors import AbrecError
from ..ope.sequential_models import SessionRequests
from ..policies.base import Policy
from ..policies.records import Decision
from ..store.records import DecisionRow, JournalEntry
from .config import ServiceExperiment, StateSpec
from .features import ItemSpace

__all__ = ["SessionLearning", "SessionStates", "session_requests", "session_states", "state_dim"]

FloatArray = npt.NDArray[np.float64]
Session = tuple[str, str]
#: A session's earlier steps: each one's shown items and the rewards received for them.
_History = list[tuple[tuple[str, ...], tuple[float, ...]]]
#: Seconds a prefetched session (:meth:`SessionStates.prefetch`) may wait for its decide.
PREFETCH_TTL = 1.0


def state_dim(context_dim: int, feature_dim: int) -> int:
    """Length of a session state for contexts of ``context_dim`` and item features of ``feature_dim`` columns."""
    return context_dim + 2 * feature_dim + 3


class _Space:
    """What a :class:`~abrec.agents.StateEncoder` reads of the item features: their width and ``lookup``."""

    def __init__(self, space: ItemSpace) -> None:
        self._space = space
        self.vectors = np.zeros((0, space.dim))

    def lookup(self, ids: npt.ArrayLike) -> FloatArray:
        return self._space.lookup(ids)


def _encoder(spec: StateSpec, space: ItemSpace) -> StateEncoder:
    return StateEncoder(_Space(space), decay=spec.decay, horizon=spec.horizon)  # type: ignore[arg-type]


def _decode(encoder: StateEncoder, vectors: FloatArray, context_dim: int) -> SessionState:
    """The sessions whose encoded states are ``vectors`` (n, dim): the inverse of ``encoder.encode``."""
    p = encoder.feature_dim
    v = np.atleast_2d(np.asarray(vectors, dtype=np.float64))
    steps = np.rint(v[:, context_dim + 2 * p] * encoder.horizon).astype(np.int64)
    misses = np.rint(v[:, context_dim + 2 * p + 1] * encoder.horizon).astype(np.int64)
    c, p2 = context_dim, context_dim + p
    return SessionState(v[:, :c].copy(), v[:, c:p2].copy(), v[:, p2 : p2 + p].copy(), steps, misses)


def _pairs(encoder: StateEncoder, state: SessionState, ids: npt.NDArray[Any], feats: FloatArray) -> FloatArray:
    """Item features with the pair features appended: ``(n, m, p + 3)``."""
    pf = encoder.pair_features(state, ids, None, feats)
    return np.concatenate([feats, pf], axis=2)


def session_requests(
    spec: ServiceExperiment, variant: str, features: ItemSpace, decisions: Sequence[DecisionRow]
) -> SessionRequests:
    """The :class:`~abrec.ope.SessionRequests` of an agent variant's stored decisions (one row each, in order):
    their candidates, the session states the agent decided on (their ``context``), the candidates' item
    features and, when the agent reads them, the pair features of those states: what
    :func:`~abrec.ope.session_target` asks a target policy at each row of the variant's exported log
    (``EventStore.export_log(experiment, variant=...)``)."""
    encoder = _encoder(spec.states[variant], features)
    candidates = np.array([d.candidates for d in decisions], dtype=object)
    contexts = np.array([d.context for d in decisions], dtype=np.float64)
    feats = features.lookup(candidates)
    pairs = None
    if spec.states[variant].pair_features:
        pairs = encoder.pair_features(_decode(encoder, contexts, spec.context_dim), candidates, None, feats)
    return SessionRequests(candidates.astype(str), contexts, feats, pairs)


def session_states(spec: ServiceExperiment, features: ItemSpace | None) -> SessionStates | None:
    """The session states of ``spec``'s agent variants, or None when it has none."""
    if not spec.states:
        return None
    if features is None:
        raise AbrecError(f"Experiment {spec.name!r} has agent variants but no item features.")
    return SessionStates(spec, features)


class SessionStates:
    """Builds the session states (and pair features) of one experiment's agent variants at decide time.

    Parameters
    ----------
    spec : ServiceExperiment
    features : ItemSpace
    store : EventStore, optional
        Where the sessions' earlier steps and rewards are read (set by the service once its store is open;
        None: every session starts now).
    """

    def __init__(self, spec: ServiceExperiment, features: ItemSpace, store: Any = None) -> None:
        self.spec = spec
        self.features = features
        self.store = store
        self.encoders = {name: _encoder(state, features) for name, state in spec.states.items()}
        self._prefetched: dict[tuple[str, str, int], tuple[float, _History]] = {}

    @property
    def variants(self) -> frozenset[str]:
        return frozenset(self.encoders)

    def history(self, requests: Sequence[Any]) -> dict[tuple[str, str, int], _History]:
        """Each request's earlier steps (by ``(unit, session_id, step)``): shown items and on-time rewards."""
        keys = sorted({(r.unit, r.session_id, r.step) for r in requests})
        if self.store is None:
            return {key: [] for key in keys}
        name, kind = self.spec.name, self.spec.reward.kind
        return {key: self.store.session_history(name, key[0], key[1], key[2], kind) for key in keys}

    def prefetch(self, requests: Sequence[Any]) -> None:
        """Read the sessions of ``requests`` now (e.g. in a worker thread, off the event loop) for the decide
        that follows at once: a session read here is used by one decide within ``PREFETCH_TTL`` seconds."""
        now = time.monotonic()
        found = self.history(requests)
        stale = [key for key, (at, _) in list(self._prefetched.items()) if now - at > PREFETCH_TTL]
        for key in stale:
            self._prefetched.pop(key, None)
        self._prefetched.update({key: (now, value) for key, value in found.items()})

    def states(self, variant: str, requests: Sequence[Any], contexts: Sequence[FloatArray]) -> SessionState:
        """The sessions of ``requests`` (one row each) before their step, as ``variant``'s encoder builds them."""
        encoder = self.encoders[variant]
        now = time.monotonic()
        taken: dict[tuple[str, str, int], _History] = {}
        for key in {(r.unit, r.session_id, r.step) for r in requests}:
            at, value = self._prefetched.pop(key, (-math.inf, []))
            if now - at <= PREFETCH_TTL:
                taken[key] = value
        sessions = {**self.history([r for r in requests if (r.unit, r.session_id, r.step) not in taken]), **taken}
        rows = []
        for request, context in zip(requests, contexts, strict=True):
            state = encoder.start(np.asarray(context, dtype=np.float64)[None, :])
            for items, values in sessions[(request.unit, request.session_id, request.step)]:
                state = encoder.advance(state, np.array([items], dtype=object), np.array([values]))
            rows.append(state)
        return SessionState(
            np.vstack([s.context for s in rows]),
            np.vstack([s.clicked for s in rows]),
            np.vstack([s.shown for s in rows]),
            np.concatenate([s.steps for s in rows]),
            np.concatenate([s.misses for s in rows]),
        )

    def decide(
        self,
        policy: Policy,
        variant: str,
        requests: Sequence[Any],
        contexts: Sequence[FloatArray],
        candidates: npt.NDArray[Any],
        feats: FloatArray,
        k: int,
    ) -> tuple[Decision, FloatArray, FloatArray]:
        """``policy`` (``variant``'s agent) decides the requests from their session states.

        Returns the decision, the state vectors it decided on (n, dim: what the decisions store as context)
        and the scores of the slates' items (n, k).
        """
        encoder = self.encoders[variant]
        state = self.states(variant, requests, contexts)
        x = encoder.encode(state)
        agent: Any = policy
        if self.spec.states[variant].pair_features:
            pf = encoder.pair_features(state, candidates, None, feats)
            decision = agent.decide(candidates, x, k=k, item_features=feats, pair_features=pf)
        else:
            decision = policy.decide(candidates, x, k=k, item_features=feats)
        full = np.broadcast_to(decision.scores, (len(requests), candidates.shape[1]))
        return decision, x, np.take_along_axis(full, decision.slots, 1)

    def warm_up(self, policy: Policy, variant: str) -> None:
        """Decide once with a copy of ``variant``'s agent on made-up states (the served agent is not touched)."""
        copy = policy.clone(keep_state=True, seed=0)
        ids = np.array([[f"__warm_up_{i}__" for i in range(3)]] * 2)
        feats = np.zeros((2, 3, self.features.dim))
        encoder = self.encoders[variant]
        state = encoder.start(np.zeros((2, self.spec.context_dim)))
        x = encoder.encode(state)
        agent: Any = copy
        pf = encoder.pair_features(state, ids, None, feats) if self.spec.states[variant].pair_features else None
        try:
            for k in (1, 2):
                agent.decide(
                    ids[:1], x[:1], k=k, item_features=feats[:1], **({} if pf is None else {"pair_features": pf[:1]})
                )
                agent.decide(ids, x, k=k, item_features=feats, **({} if pf is None else {"pair_features": pf}))
        except AbrecError:  # a snapshot of other dimensions: the first request says what is wrong
            pass


@dataclass
class _Step:
    decision: DecisionRow
    created: float
    closes: float
    entries: dict[int, tuple[int, float]]  # position -> (batch, value)
    #: Decided by the agent (its session state stored); False for a step another variant's policy decided while
    #: the experiment was paused: no transition starts at it, reaches it or crosses it.
    usable: bool = True


class SessionLearning:
    """Learns one agent variant's n-step transitions from the journal, micro-batch by micro-batch (module docstring).

    Parameters
    ----------
    spec : ServiceExperiment
    variant : str
    features : ItemSpace
    grace : timedelta
        The learner's grace period: decisions are taken as stored once this old, and a session as ended once
        this long after its last window closed.
    """

    def __init__(self, spec: ServiceExperiment, variant: str, features: ItemSpace, grace: timedelta) -> None:
        self.spec = spec
        self.variant = variant
        self.features = features
        self.grace = grace.total_seconds()
        self.encoder = _encoder(spec.states[variant], features)
        self.pair_features = spec.states[variant].pair_features
        self.dim = state_dim(spec.context_dim, features.dim)

    # ------------------------------------------------------------------ which steps are complete
    def _complete(self, steps: list[_Step], t: int, batch: int, now: float, n_step: int) -> tuple[int, bool] | None:
        """``(h, ended)`` when step ``t``'s transition is complete as of ``batch`` (time ``now``), else None."""
        g = self.grace

        def visible(i: int) -> bool:
            return steps[i].created <= now - g

        def resolved(i: int) -> bool:
            entries = steps[i].entries
            shown = len(steps[i].decision.items)
            return all(p in entries and entries[p][0] <= batch for p in range(shown))

        def successor(i: int) -> int | None:
            j = i + 1
            if j < len(steps) and visible(j) and steps[j].created < steps[i].closes:
                return j
            return None

        if not visible(t):
            return None
        for h in range(n_step):
            i = t + h
            if not steps[i].usable or not resolved(i):
                return None
            nxt = successor(i)
            if nxt is None:
                if steps[i].closes + g <= now:
                    return h + 1, True
                return None
            if not steps[nxt].usable:
                return None
            if h + 1 == n_step:
                started = any(b <= batch for b, _ in steps[nxt].entries.values())
                return (n_step, False) if started else None
        return None

    def due(
        self, steps: list[_Step], batch: int, now: float, previous: tuple[int, float] | None, n_step: int
    ) -> list[tuple[int, int, bool]]:
        """The steps whose transitions complete in ``batch``: ``(t, h, ended)``, in session order."""
        out = []
        for t in range(len(steps)):
            done = self._complete(steps, t, batch, now, n_step)
            if done is None:
                continue
            if previous is not None and self._complete(steps, t, previous[0], previous[1], n_step) is not None:
                continue
            out.append((t, *done))
        return out

    # ------------------------------------------------------------------ one micro-batch
    def sessions(
        self, store: Any, entries: Sequence[JournalEntry], previous: tuple[int, float] | None
    ) -> list[Session]:
        """The sessions whose transitions may complete in the batch of ``entries``: those it journals an item
        of, and those with a decision created or a window closed (plus the grace) since the variant's
        ``previous`` batch (what else a transition's completeness depends on)."""
        now = entries[0].learned_at
        g = timedelta(seconds=self.grace)
        decisions = store.decisions(sorted({e.event_id for e in entries}))
        keys = {(d.unit, d.session_id) for d in decisions.values()}
        after = None if previous is None else _time(previous[1]) - g
        keys.update(store.sessions_changed(self.spec.name, self.variant, after, now - g))
        return sorted(keys)

    def transitions(
        self,
        agent: Any,
        store: Any,
        entries: Sequence[JournalEntry],
        previous: tuple[int, float] | None,
        ensure: Callable[[Sequence[str]], None] | None = None,
    ) -> list[Transitions]:
        """The transitions that the batch of ``entries`` (one micro-batch of this variant) completes, grouped
        by slate size and candidate count, in session order of their first step."""
        if not entries:
            return []
        batch, now = int(entries[0].batch), entries[0].learned_at.timestamp()
        keys = self.sessions(store, entries, previous)
        if not keys:
            return []
        found = store.session_decisions(self.spec.name, keys, variant=self.variant)
        journal: dict[str, dict[int, tuple[int, float]]] = {}
        for e in store.journal_of([d.event_id for key in keys for d in found[key]]):
            journal.setdefault(e.event_id, {})[int(e.position)] = (int(e.batch), float(e.value))
        n_step, gamma = int(agent.n_step), float(agent.gamma)
        built: list[tuple[int, dict[str, Any]]] = []
        for key in keys:
            steps = [
                _Step(
                    d,
                    d.created_at.timestamp(),
                    d.window_closes_at.timestamp(),
                    journal.get(d.event_id, {}),
                    d.context is not None and len(d.context) == self.dim,
                )
                for d in found[key]
            ]
            for t, h, ended in self.due(steps, batch, now, previous, n_step):
                if ensure is not None:
                    ensure(
                        sorted({i for s in steps[t : t + h + 1] for i in (*s.decision.items, *s.decision.candidates)})
                    )
                built.append((int(steps[t].decision.seq or 0), self._one(steps, t, h, ended, gamma)))
        built.sort(key=lambda pair: pair[0])
        groups: dict[tuple[int, int], list[dict[str, Any]]] = {}
        for _, one in built:
            groups.setdefault((one["items"].shape[0], one["next_items"].shape[0]), []).append(one)
        return [
            Transitions(
                np.stack([o["state"] for o in group]),
                np.stack([o["features"] for o in group]),
                np.stack([o["rewards"] for o in group]),
                np.array([o["discount"] for o in group]),
                np.stack([o["next_state"] for o in group]),
                np.stack([o["next_features"] for o in group]),
                np.stack([o["next_mask"] for o in group]),
                np.stack([o["items"] for o in group]),
                np.stack([o["next_items"] for o in group]),
            )
            for group in groups.values()
        ]

    def _features(self, vector: FloatArray, ids: Sequence[str]) -> FloatArray:
        """The features an agent reads of ``ids`` in the state ``vector``: text features (+ pair features)."""
        names = np.array([list(ids)], dtype=object)
        feats = self.features.lookup(names)
        if not self.pair_features:
            out: FloatArray = feats[0]
            return out
        state = _decode(self.encoder, vector, self.spec.context_dim)
        paired: FloatArray = _pairs(self.encoder, state, names, feats)[0]
        return paired

    def _one(self, steps: list[_Step], t: int, h: int, ended: bool, gamma: float) -> dict[str, Any]:
        first = steps[t].decision
        assert first.context is not None
        state = np.asarray(first.context, dtype=np.float64)

        def values(step: _Step) -> FloatArray:
            return np.array([step.entries[p][1] for p in range(len(step.decision.items))])

        rewards = values(steps[t])
        for lag in range(1, h):
            rewards = rewards + gamma**lag * values(steps[t + lag]).sum()
        if ended:
            last = steps[t + h - 1]
            assert last.decision.context is not None
            after = self.encoder.advance(
                _decode(self.encoder, np.asarray(last.decision.context), self.spec.context_dim),
                np.array([last.decision.items], dtype=object),
                values(last)[None, :],
            )
            next_state = self.encoder.encode(after)[0]
            next_ids = last.decision.items
            next_features = self._features(next_state, next_ids)
            mask = np.zeros(len(next_ids), dtype=bool)
        else:
            nxt = steps[t + h].decision
            assert nxt.context is not None
            next_state = np.asarray(nxt.context, dtype=np.float64)
            next_ids = nxt.candidates
            next_features = self._features(next_state, next_ids)
            mask = np.ones(len(next_ids), dtype=bool)
        return {
            "state": state,
            "features": self._features(state, first.items),
            "rewards": rewards,
            "discount": 0.0 if ended else gamma**h,
            "next_state": next_state,
            "next_features": next_features,
            "next_mask": mask,
            "items": np.array(first.items, dtype=object),
            "next_items": np.array(next_ids, dtype=object),
        }

    def fold(
        self,
        agent: Any,
        store: Any,
        entries: Sequence[JournalEntry],
        previous: tuple[int, float] | None,
        ensure: Callable[[Sequence[str]], None] | None = None,
    ) -> str:
        """Learn the transitions that the batch of ``entries`` completes; "" or why the agent refused them
        (a refused batch leaves the agent as it was, and a replay refuses it the same way)."""
        try:
            for t in self.transitions(agent, store, entries, previous, ensure):
                agent.learn(t)
        except AbrecError as exc:
            return str(exc)
        return ""


def _time(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def batch_mark(entries: Sequence[JournalEntry]) -> tuple[int, float]:
    """A micro-batch's number and time (what :meth:`SessionLearning.fold` takes as ``previous`` next time)."""
    return int(entries[-1].batch), entries[-1].learned_at.timestamp()


def lookup_mark(store: Any, experiment: str, variant: str, journal_seq: int) -> tuple[int, float] | None:
    """The batch and time of ``variant``'s journal entry ``journal_seq`` (a snapshot's), or None (none yet)."""
    if journal_seq <= 0:
        return None
    found = store.journal(experiment, variant, journal_seq - 1, 1)
    if not found:
        return None
    return batch_mark(found)
