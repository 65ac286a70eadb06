"""The one rollout loop: any abrec policies on a bandit-view environment, every decision logged as event records.

Each step of a :class:`~abrec.envs.RecBanditEnv` brings a batch of users with their contexts and
candidates. :func:`rollout` names the candidates by their public item ids, routes each user to one of the
policies (``assign``: all to one policy, or a variant by salted hashing in an experiment), lets each
policy decide its users' slates (with their item features when it reads them), steps the environment
with all slates at once, lets each policy learn from its own users' clicks, and yields a :class:`Step`
whose ``log`` holds the step's event records (:meth:`abrec.policies.Decision.to_log`) in the order the
users arrived. The caller reads what it needs from the steps (the experiment runner collects the logs and
reweights traffic between periods; a benchmark counts clicks on new items) and never writes a loop of
its own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from ..data.interactions import InteractionLog
from ..embeddings.features import ItemFeatures
from ..errors import InputError
from ..policies.base import Policy

__all__ = ["Assignment", "Step", "rollout"]

#: ``assign(units) -> (variant of each unit, assignment probability of each variant)``.
Assignment = Callable[[npt.NDArray[np.str_]], tuple[npt.NDArray[Any], Mapping[str, float]]]

START = pd.Timestamp("2026-01-05T00:00:00Z")
STEP_SECONDS = 3600


@dataclass(frozen=True, eq=False)
class Step:
    """What one environment step produced.

    Attributes
    ----------
    step : int
    log : InteractionLog
        The step's event records, users in arrival order, ``k`` rows each.
    candidates : (n, m) array
        The public ids of each user's candidates.
    variants : (n,) array of str
        The policy (variant) each user was routed to.
    info : dict
        The environment's ``info`` (clicks, expected and oracle clicks, new items, ...), users in arrival order.
    """

    step: int
    log: InteractionLog
    candidates: npt.NDArray[Any]
    variants: npt.NDArray[Any]
    info: dict[str, Any]


def everyone_to(name: str) -> Assignment:
    """An assignment that routes every unit to ``name`` (a rollout of one policy)."""

    def assign(units: npt.NDArray[np.str_]) -> tuple[npt.NDArray[Any], Mapping[str, float]]:
        return np.full(units.shape, name, dtype=object), {name: 1.0}

    return assign


def rollout(
    env: Any,
    policies: Mapping[str, Policy],
    *,
    features: ItemFeatures | None = None,
    assign: Assignment | None = None,
    seed: int | None = 0,
    experiment: str = "",
    unit_prefix: str = "",
    period: Callable[[int], int] = lambda step: 0,
) -> Iterator[Step]:
    """Run ``policies`` on the bandit-view ``env`` (its ``unwrapped`` view) for its horizon; yield every step.

    Parameters
    ----------
    env : RecBanditEnv (or a wrapper of one)
    policies : mapping of str to Policy
        The policies by variant name; each learns online from its own users.
    features : ItemFeatures, optional
        Item features by public id, given to the policies that read them.
    assign : callable, optional
        Routes units to variants (called every step, so it may change between steps); default: every unit
        to the only policy.
    seed : int or None
        Seeds ``env.reset``.
    experiment, unit_prefix : str
        The experiment name written to the log; units are named ``f"{unit_prefix}s{step}-u{i}"``.
    period : callable(step) -> int
        The allocation period of a step (written to the log).

    Yields
    ------
    Step
    """
    from ..envs.bandit import RecBanditEnv

    view = getattr(env, "unwrapped", env)
    if not isinstance(view, RecBanditEnv):
        raise InputError(f"A rollout runs on a bandit view (…-Bandit-v0); got {type(view).__name__}.")
    if assign is None:
        if len(policies) != 1:
            raise InputError(f"Several policies ({list(policies)}) need an assign function to route users.")
        assign = everyone_to(next(iter(policies)))
    public = np.asarray(view.world.item_ids)
    k = view.slate_size
    obs, _ = view.reset(seed=seed)
    for step in range(view.horizon):
        cands = public[obs["candidates"]]
        ctx = obs["context"].astype(np.float64)
        n = cands.shape[0]
        units = np.array([f"{unit_prefix}s{step}-u{i}" for i in range(n)])
        variants, weights = assign(units)
        unknown = set(np.unique(variants)) - set(policies)
        if unknown:
            raise InputError(f"Users were routed to {sorted(unknown)}, which are not among {list(policies)}.")
        action = np.zeros((n, k), dtype=np.int64)
        decisions = {}
        for name, policy in policies.items():
            rows = np.flatnonzero(variants == name)
            if rows.size == 0:
                continue
            feats = features.lookup(cands[rows]) if features is not None and policy.uses_item_features else None
            decision = policy.decide(cands[rows], ctx[rows], k=k, item_features=feats)
            action[rows] = decision.slots
            decisions[name] = (rows, decision, feats)
        obs, _, _, _, info = view.step(action)
        clicks = info["clicks"].astype(np.float64)
        extra = {
            "purchase": info["purchases"].astype(np.float64),
            "revenue": np.asarray(info["revenue"], dtype=np.float64),  # purchase x the item's price
        }
        offsets = step * STEP_SECONDS + np.arange(n) * (STEP_SECONDS / n)
        stamp = np.asarray(START + pd.to_timedelta(offsets, unit="s"))
        total = float(sum(weights.values()))
        logs, order = [], []
        for name, (rows, decision, feats) in decisions.items():
            policies[name].update(decision.feedback(clicks[rows], ctx[rows], item_features=feats))
            logs.append(
                decision.to_log(
                    clicks[rows],
                    units=units[rows],
                    timestamp=stamp[rows],
                    contexts=ctx[rows],
                    extra_rewards={key: value[rows] for key, value in extra.items()},
                    experiment=experiment,
                    variant=name,
                    assignment_p=weights[name] / total,
                    period=period(step),
                    steps=step,
                )
            )
            order.append(np.repeat(rows, k) * k + np.tile(np.arange(k), rows.size))
        merged = InteractionLog.concat(logs)
        yield Step(step, merged.take(np.argsort(np.concatenate(order), kind="stable")), cands, variants, info)
