"""The live readout of an experiment: ``abrec analyze``'s numbers from stored sufficient statistics, and the
learner's status.

The readout is :meth:`abrec.store.stats.ExperimentStats.readout`: the numbers of
:func:`abrec.abtest.scorecard.analyze_metrics` on :meth:`EventStore.export_log` (the call ``abrec analyze``
makes on an exported file: period-weighted lifts with Holm, always-valid intervals, Bayesian chance to win,
SRM against the weights in force), computed by the same :mod:`abrec.abtest` functions from the per-period,
per-variant sums the store keeps up to date (:mod:`abrec.store.stats`), so a results call reads a few rows
however long the log is. Each variant's counts come from the same statistics, and :func:`learner_sentence`
says in plain words where its learning stands, answering "why isn't it learning?".
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from ..errors import AbrecError
from ..policies.registry import policy_class
from .models import ResultsResponse, VariantStatus
from .runtime import ExperimentRuntime

__all__ = ["experiment_results", "learner_sentence"]


def _plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def learner_sentence(
    *,
    learns: bool,
    policy: str,
    counts: Mapping[str, int],
    reward_sum: float,
    reward_kind: str,
    window: float,
    default: float,
    version: int,
    built_at: datetime | None,
) -> str:
    """Where a variant's learning stands, in one or two sentences (see the module docstring)."""
    decisions = int(counts.get("decisions", 0))
    rewards = int(counts.get("rewards", 0))
    late = int(counts.get("late", 0))
    joined = int(counts.get("journaled", 0))
    waiting = int(counts.get("waiting", 0))
    defaulted = int(counts.get("defaulted", 0))
    if not learns:
        return f"{policy} does not learn: its decisions do not depend on feedback ({_plural(decisions, 'decision')})."
    if decisions == 0:
        return "Not learning yet: no decisions so far."
    learned_rewards = joined - defaulted
    parts = []
    if joined == 0:
        if rewards == 0:
            parts.append(
                f"Not learning yet: no {reward_kind!r} rewards so far; {_plural(waiting, 'shown item')} wait for one "
                f"or for their {window:g} s window to close (then the default {default:g} is learned)."
            )
        elif rewards == late:
            parts.append(f"Not learning yet: all {_plural(rewards, 'reward')} so far came after the window (late).")
        else:
            parts.append(
                f"Not learning yet: {_plural(rewards, 'reward')} received but none learned yet "
                f"(is the learner running? only {reward_kind!r} rewards are learned)."
            )
        return " ".join(parts)
    if reward_sum == 0:
        parts.append(
            f"Learned from {_plural(joined, 'shown item')} ({learned_rewards:,} {reward_kind} rewards, "
            f"{defaulted:,} defaulted), all 0: nothing tells the items apart yet."
        )
    else:
        mean = reward_sum / joined
        parts.append(
            f"Learning: {_plural(joined, 'shown item')} joined ({learned_rewards:,} {reward_kind} rewards, "
            f"{defaulted:,} defaulted), mean value {mean:.4g}; {waiting:,} waiting."
        )
    if version == 0:
        parts.append("No policy snapshot built yet.")
    elif built_at is not None:
        parts.append(f"Policy version {version} in service, built {built_at.isoformat(timespec='seconds')}.")
    return " ".join(parts)


def experiment_results(store: Any, runtime: ExperimentRuntime) -> ResultsResponse:
    """The results of one experiment (blocking: folds what is new into the statistics, then reads them)."""
    spec = runtime.spec
    kind = spec.reward.kind
    stats = store.stats(spec.name)
    counts = stats.counts
    sums = {variant: stats.reward_sum(variant) for variant in spec.variant_names}
    readout: dict[str, Any] | None = None
    note = ""
    if stats.variants:
        try:
            readout = stats.readout(control=spec.config.control, alpha=spec.config.alpha).to_dict()
        except AbrecError as exc:
            note = f"No readout yet: {exc}"
    else:
        note = "No readout yet: no decisions so far."
    variants = []
    for v in spec.config.variants:
        c = counts.get(v.name, {})
        serving = runtime.serving[v.name]
        learns = bool(policy_class(v.policy).learns)
        variants.append(
            VariantStatus(
                variant=v.name,
                policy=v.policy,
                learns=learns,
                decisions=int(c.get("decisions", 0)),
                rewards=int(c.get("rewards", 0)),
                late=int(c.get("late", 0)),
                defaulted=int(c.get("defaulted", 0)),
                joined=int(c.get("journaled", 0)),
                waiting=int(c.get("waiting", 0)),
                reward_sum=sums.get(v.name, 0.0),
                snapshot_version=serving.version,
                built_at=serving.built_at,
                status=learner_sentence(
                    learns=learns,
                    policy=v.policy,
                    counts=c,
                    reward_sum=sums.get(v.name, 0.0),
                    reward_kind=kind,
                    window=spec.reward.window,
                    default=spec.reward.default,
                    version=serving.version,
                    built_at=serving.built_at,
                ),
            )
        )
    return ResultsResponse(
        experiment=spec.name,
        control=spec.config.control,
        reward_kind=kind,
        period=runtime.period,
        weights=runtime.weights,
        variants=variants,
        readout=readout,
        readout_note=note,
    )
