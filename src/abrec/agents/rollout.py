"""The session rollout: agents and bandits side by side on a session-view environment, every decision logged.

:func:`run_sessions` runs ``episodes`` episodes of a :class:`~abrec.envs.RecSessionEnv` (or anything with its
observation and ``info`` keys, such as :class:`~abrec.envs.InterestEvolutionEnv`, whose items are its
``corpus``). Each session is a unit (``f"{unit_prefix}e{episode}-u{row}"``), routed once per episode to a
variant (``assign``: everyone to the one policy, or a variant by salted hashing in an experiment).
At every step each active session's variant decides its slate: an agent (anything with ``learn``, ``gamma``
and ``n_step``: :class:`~abrec.agents.Agent`) from the session state that the :class:`StateEncoder` makes of
the session so far, a bandit from the user's context, both with the candidates' text features when they read
them; an agent whose ``uses_pair_features`` is True (every :class:`~abrec.agents.Agent`) also gets each
candidate's ``pair_features`` (:meth:`StateEncoder.pair_features`: the fatigue the env observes, similarity to
the session's clicked and shown items), which bandits never see. The environment steps all sessions at once;
bandits learn from their sessions' clicks (``update``), agents from the n-step transitions those clicks
complete (``learn``, rewards weighed by the agent's ``reward_weights``). Every decision becomes event records
(:meth:`abrec.policies.Decision.to_log`, with ``session_id`` and ``step``, request ids ``f"{unit}/s{step}"``,
the observation's raw context for every row; ``reward`` = click, extra rewards ``purchase`` and ``revenue``,
and ``watch_time`` where the env reports it; an env without prices buys nothing), so a session's return is its
unit's total reward and the existing readout (:func:`abrec.abtest.readout.analyze_log`) reads the A/B test of
agents against bandits from the log unchanged.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..data.interactions import InteractionLog
from ..embeddings.features import ItemFeatures
from ..errors import InputError
from ..policies.base import Policy
from .encoder import StateEncoder
from .transitions import NStepCollector, Transitions

__all__ = ["Learner", "SessionStep", "run_sessions"]

Assignment = Callable[[npt.NDArray[np.str_]], tuple[npt.NDArray[Any], Mapping[str, float]]]

START = pd.Timestamp("2026-01-05T00:00:00Z")
STEP_SECONDS = 60


@runtime_checkable
class Learner(Protocol):
    """What the rollout asks of an agent: how it discounts, how many steps it sums, how it learns."""

    gamma: float
    n_step: int

    def learn(self, transitions: Transitions) -> None: ...

    def reward_of(self, outcomes: Mapping[str, npt.ArrayLike]) -> npt.NDArray[np.float64]: ...


@dataclass(frozen=True, eq=False)
class SessionStep:
    """One step of one episode: its event records (active sessions only, in row order) and the env's ``info``."""

    episode: int
    step: int
    log: InteractionLog
    variants: npt.NDArray[Any]
    info: dict[str, Any]


@functools.cache
def _empty_log() -> InteractionLog:
    """The log of a step that logs nothing (built once: building a log costs milliseconds)."""
    return InteractionLog.from_arrays(
        unit=np.zeros(0, dtype=str),
        item=np.zeros(0, dtype=np.int64),
        timestamp=np.zeros(0, dtype="datetime64[ns]"),
        reward=np.zeros(0),
    )


def _everything(array: Any) -> Any:
    return array


def _rows_of(array: Any, rows: npt.NDArray[np.intp]) -> Any:
    return array[rows]


def _everyone_to(name: str) -> Assignment:
    def assign(units: npt.NDArray[np.str_]) -> tuple[npt.NDArray[Any], Mapping[str, float]]:
        return np.full(units.shape, name, dtype=object), {name: 1.0}

    return assign


def run_sessions(
    env: Any,
    policies: Mapping[str, Policy],
    *,
    features: ItemFeatures,
    encoder: StateEncoder | None = None,
    assign: Assignment | None = None,
    episodes: int = 1,
    seed: int = 0,
    learn: bool = True,
    log: bool = True,
    experiment: str = "",
    unit_prefix: str = "",
    pair_features: bool = True,
    period: Callable[[int], int] | None = None,
) -> Iterator[SessionStep]:
    """Run ``policies`` on the session-view ``env`` for ``episodes`` episodes; yield every step.

    Parameters
    ----------
    env : RecSessionEnv (or a wrapper of one)
    policies : mapping of str to Policy
        By variant name: agents and bandits alike.
    features : ItemFeatures
        Text features of the world's items by public id (what the encoder and item-reading policies read).
    encoder : StateEncoder, optional
        Builds the agents' session states (default: ``StateEncoder(features, horizon=env.max_steps)``).
    assign : callable, optional
        Routes the sessions (units) of each episode to variants; default: all to the only policy.
    episodes : int
        Episodes to run; episode ``e`` resets the env with ``seed + e``.
    learn : bool
        False: the policies only decide (evaluation of frozen policies).
    log : bool
        False: the steps carry empty logs (training runs that only need ``info``; building event records
        costs more than a step of the environment).
    experiment, unit_prefix : str
        Written to the log; units are ``f"{unit_prefix}e{episode}-u{row}"``.
    pair_features : bool, default True
        False: no policy gets ``pair_features`` (agents then read the item features alone).
    period : callable, optional
        Allocation period logged for each episode (``period(episode)``; default 0).
    """
    view = getattr(env, "unwrapped", env)
    for attribute in ("slate_size", "max_steps", "n_users"):
        if not hasattr(view, attribute):
            raise InputError(
                f"run_sessions runs on a session view (…-Session-v0); {type(view).__name__} has no {attribute}."
            )
    catalog = getattr(view, "world", None) or getattr(view, "corpus", None)
    if catalog is None:
        raise InputError(
            f"run_sessions needs an env with a world or a corpus of items; {type(view).__name__} has none."
        )
    if assign is None:
        if len(policies) != 1:
            raise InputError(f"Several policies ({list(policies)}) need an assign function to route sessions.")
        assign = _everyone_to(next(iter(policies)))
    encoder = encoder or StateEncoder(features, horizon=int(view.max_steps))
    public = np.asarray(catalog.item_ids if hasattr(catalog, "item_ids") else catalog.ids)
    price = np.asarray(getattr(catalog, "price", np.zeros(public.shape[0])), dtype=np.float64)
    k, n = int(view.slate_size), int(view.n_users)
    # Features by catalog row, looked up once (the env's candidates are catalog rows).
    known = features.rows(public)
    table = features.vectors[np.maximum(known, 0)].astype(np.float64)

    every_item_known = bool((known >= 0).all())

    def candidate_features(
        catalog_rows: npt.NDArray[np.int64], live: npt.NDArray[np.intp] | None = None
    ) -> npt.NDArray[np.float64]:
        """Text features of the candidates (n, m, p); with ``live``, of those rows only (the others 0)."""
        if live is not None and live.size < catalog_rows.shape[0]:
            out = np.zeros((*catalog_rows.shape, table.shape[1]))
            out[live] = candidate_features(catalog_rows[live])
            return out
        missing = None if every_item_known else known[catalog_rows] < 0
        if missing is not None and missing.any():
            ids = public[catalog_rows][missing][:5].tolist()
            raise InputError(f"item ids {ids} are not in the item features; encode them first.")
        found: npt.NDArray[np.float64] = table[catalog_rows]
        return found

    def pair_features_of(
        state: Any, candidates: npt.NDArray[Any], fatigue: Any, feats: npt.NDArray[np.float64], live: Any
    ) -> npt.NDArray[np.float64]:
        """The encoder's pair features (n, m, q) of the ``live`` sessions (the others 0)."""
        if live.size == candidates.shape[0]:
            return encoder.pair_features(state, candidates, fatigue, feats)
        phi = None if fatigue is None else np.asarray(fatigue)[live]
        some = encoder.pair_features(state.take(live), candidates[live], phi, feats[live])
        out = np.zeros((*candidates.shape, some.shape[2]))
        out[live] = some
        return out

    empty = _empty_log()
    # Which variants are agents, asked once (a runtime Protocol check costs as much as a small numpy call).
    learners = {name: policy for name, policy in policies.items() if isinstance(policy, Learner)}
    for episode in range(episodes):
        obs, _ = view.reset(seed=seed + episode)
        units = np.array([f"{unit_prefix}e{episode}-u{i}" for i in range(n)])
        variants, weights = assign(units)
        unknown = set(np.unique(variants)) - set(policies)
        if unknown:
            raise InputError(f"Sessions were routed to {sorted(unknown)}, which are not among {list(policies)}.")
        total = float(sum(weights.values()))
        groups = {name: np.flatnonzero(variants == name) for name in policies}
        collectors = {
            name: NStepCollector(groups[name].size, n_step=agent.n_step, gamma=agent.gamma)
            for name, agent in learners.items()
            if learn and groups[name].size
        }
        pairs = {
            name
            for name, policy in policies.items()
            if pair_features and name in learners and getattr(policy, "uses_pair_features", False)
        }
        state = encoder.start(obs["context"])
        cands = public[obs["candidates"]]
        cand_feats = candidate_features(obs["candidates"])
        step = 0
        # The next step's state, its encoding and its pair features, when the learners' transitions needed
        # them already (the same arrays: computed once per step).
        carried: tuple[Any, Any, Any] | None = None
        while True:
            active = np.asarray(obs["active"], dtype=bool)
            if carried is None:
                state = encoder.with_context(state, obs["context"])
                encoded = encoder.encode(state)
                now = np.flatnonzero(active)
                pf = pair_features_of(state, cands, obs.get("fatigue"), cand_feats, now) if pairs else None
            else:
                state, encoded, pf = carried
            context = np.asarray(obs["context"], dtype=np.float64)
            action = np.zeros((n, k), dtype=np.int64)
            decided: dict[str, tuple[npt.NDArray[np.int64], Any, Any, Any]] = {}
            for name, policy in policies.items():
                rows = groups[name][active[groups[name]]]
                if rows.size == 0:
                    continue
                x = encoded[rows] if name in learners else context[rows]
                feats = cand_feats[rows] if policy.uses_item_features else None
                if name in pairs:
                    assert pf is not None
                    agent: Any = policy
                    decision = agent.decide(cands[rows], x, k=k, item_features=feats, pair_features=pf[rows])
                else:
                    decision = policy.decide(cands[rows], x, k=k, item_features=feats)
                action[rows] = decision.slots
                decided[name] = (rows, decision, x, feats)
            obs, _, terminated, truncated, info = view.step(action)
            clicks = np.asarray(info["clicks"], dtype=np.float64)
            purchases = np.asarray(info.get("purchases", np.zeros(clicks.shape)), dtype=np.float64)
            shown_ids = np.take_along_axis(cands, action, axis=1)
            shown_rows = np.asarray(info["shown"])
            revenue = purchases * np.where(shown_rows >= 0, price[np.maximum(shown_rows, 0)], 0.0)
            outcomes = {"click": clicks, "purchase": purchases, "revenue": revenue}
            if "watch_time" in info:
                watch = np.asarray(info["watch_time"], dtype=np.float64)
                # Per session (one click per slate at most, as in RecSim): credit it to the clicked position.
                outcomes["watch_time"] = watch if watch.shape == clicks.shape else clicks * watch.reshape(-1, 1)
            stamp = START + pd.Timedelta(seconds=(episode * (int(view.max_steps) + 1) + step) * STEP_SECONDS)
            logs, order = [], []
            for name, (rows, decision, x, feats) in decided.items():
                policy = policies[name]
                if learn and name not in learners:
                    policy.update(decision.feedback(clicks[rows], x, item_features=feats))
                if not log:
                    continue
                logs.append(
                    decision.to_log(
                        clicks[rows],
                        units=units[rows],
                        request_ids=np.char.add(units[rows].astype(str), f"/s{step}"),
                        timestamp=stamp,
                        contexts=context[rows],
                        extra_rewards={key: value[rows] for key, value in outcomes.items() if key != "click"},
                        experiment=experiment,
                        variant=name,
                        assignment_p=weights[name] / total,
                        session_ids=units[rows],
                        steps=step,
                        period=0 if period is None else period(episode),
                    )
                )
                order.append(rows)
            done = bool(terminated or truncated)
            state = encoder.advance(state, shown_ids, clicks, active)
            next_cands = public[obs["candidates"]]
            # What follows is read only where a session was active at this step: the sessions still active
            # decide on it, and the transitions that end here (those sessions' only) bootstrap from it.
            live = np.flatnonzero(active)
            next_feats = candidate_features(obs["candidates"], live)
            if collectors:
                next_state = encoder.with_context(state, obs["context"])
                next_encoded = encoder.encode(next_state)
                chosen_all = np.take_along_axis(cand_feats, action[:, :, None], axis=1)
                next_all = next_feats
                next_pf = None
                if pairs:
                    assert pf is not None
                    chosen_pairs = np.concatenate([chosen_all, np.take_along_axis(pf, action[:, :, None], axis=1)], 2)
                    next_pf = pair_features_of(next_state, next_cands, obs.get("fatigue"), next_feats, live)
                    next_pairs = np.concatenate([next_feats, next_pf], 2)
                carried = (next_state, next_encoded, next_pf)
                left = np.asarray(info["left"], dtype=bool)
                valid_next = np.ones(next_cands.shape, dtype=bool)
                for name, collector in collectors.items():
                    learner = learners[name]
                    rows = groups[name]
                    # Everyone in one group (the common case): the arrays as they are, not copies.
                    pick = _everything if rows.size == n else functools.partial(_rows_of, rows=rows)
                    chosen, following = (chosen_pairs, next_pairs) if name in pairs else (chosen_all, next_all)
                    reward = learner.reward_of({key: pick(value) for key, value in outcomes.items()})
                    collector.push(pick(encoded), pick(chosen), reward, pick(active), pick(shown_ids))
                    ready = collector.emit(
                        pick(next_encoded),
                        pick(following),
                        pick(valid_next),
                        pick(left),
                        truncated=done and not bool(terminated),
                        next_items=pick(next_cands),
                    )
                    if ready is not None:
                        learner.learn(ready)
            cands, cand_feats = next_cands, next_feats
            if logs:
                by_row = np.argsort(np.repeat(np.concatenate(order), k), kind="stable")
                step_log = InteractionLog.concat(logs).take(by_row)
            else:
                step_log = empty
            yield SessionStep(episode, step, step_log, variants, info)
            step += 1
            if done:
                break
